/** This Jupyter server's expiry, renewal and reset (control plane `servers` API). */
import { CubeLabClient } from '../api';

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

/** "in 2 days 3 h", "in 45 min", "expired"; '' without an expiry. */
export function expiresText(iso: string | null, now: Date = new Date()): string {
  if (!iso) {
    return '';
  }
  const t = Date.parse(iso);
  if (Number.isNaN(t)) {
    return '';
  }
  const mins = Math.floor((t - now.getTime()) / 60000);
  if (mins <= 0) {
    return 'expired';
  }
  if (mins < 60) {
    return `in ${mins} min`;
  }
  const hours = Math.floor(mins / 60);
  if (hours < 24) {
    return `in ${hours} h ${mins % 60} min`;
  }
  const days = Math.floor(hours / 24);
  return `in ${days} day${days === 1 ? '' : 's'} ${hours % 24} h`;
}

/** Is the expiry close enough to warn (under `hours`, default 12)? */
export function expiresSoon(iso: string | null, now: Date = new Date(), hours = 12): boolean {
  if (!iso) {
    return false;
  }
  const t = Date.parse(iso);
  return !Number.isNaN(t) && t - now.getTime() < hours * 3600 * 1000;
}
