/** This Jupyter server's expiry, renewal and reset (control plane `servers` API). */
import { CubeLabClient } from '../request';

export interface IServerView {
  user: string;
  name: string;
  project: string | null;
  kind: string | null;
  options?: Record<string, unknown>;
  url?: string | null;
  ready?: boolean;
  started: string | null;
  renewed_at: string | null;
  renewed_by?: string | null;
  expires_at: string | null;
}

const enc = encodeURIComponent;

export function serverPath(user: string, server: string): string {
  return server ? `users/${enc(user)}/servers/${enc(server)}` : `users/${enc(user)}/server`;
}

export class ServerClient {
  constructor(
    readonly api: CubeLabClient,
    readonly user: string,
    readonly server: string
  ) {}

  get(): Promise<IServerView> {
    return this.api.call('GET', serverPath(this.user, this.server));
  }

  renew(): Promise<IServerView> {
    return this.api.call('POST', `${serverPath(this.user, this.server)}/renew`);
  }

  reset(): Promise<unknown> {
    return this.api.call('POST', `${serverPath(this.user, this.server)}/reset`);
  }
}
