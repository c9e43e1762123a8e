/**
 * The CubeLab REST client, independent of JupyterLab so it can be unit-tested.
 *
 * Every call goes through a `Transport` (see `request.ts` for the one that
 * uses JupyterLab's `ServerConnection`).  Errors from the control plane are
 * JSON `{"error": code, "message": text, "field": name|null}` and, when several
 * fields are wrong at once, `"errors": [{"field", "message", "accepted"}]`;
 * `ApiError` keeps all of that so forms can show each message next to its field.
 */

export type Role = 'creator' | 'dev' | 'ops';
export const ROLES: Role[] = ['creator', 'dev', 'ops'];

export interface ITransportResponse {
  status: number;
  text(): Promise<string>;
}

/** Sends one request; `path` is relative to the API root (`projects/x`). */
export type Transport = (
  method: string,
  path: string,
  body?: unknown
) => Promise<ITransportResponse>;

export interface IFieldMessage {
  field: string | null;
  message: string;
  accepted?: string | null;
}

/** An error answer of the API (or of the network), with per-field messages. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string | null = null,
    readonly details: IFieldMessage[] = [],
    /** the whole error body (e.g. `diagnostics` of a refused run) */
    readonly body: Record<string, unknown> = {}
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /**
   * Messages keyed by field name; a message that names no field is under ''.
   * When the server lists several field errors, each one is kept.
   */
  get fieldMessages(): Record<string, string> {
    const out: Record<string, string> = {};
    const add = (field: string | null | undefined, message: string) => {
      const key = field ?? '';
      out[key] = out[key] ? `${out[key]}\n${message}` : message;
    };
    if (this.details.length) {
      for (const d of this.details) {
        add(d.field, d.message);
      }
    } else {
      add(this.field, this.message);
    }
    return out;
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: 'The request was refused',
  401: 'You are not logged in (your session may have expired)',
  403: 'You do not have permission to do this',
  404: 'Not found',
  409: 'Conflict',
  500: 'The server failed',
  502: 'The CubeLab control plane cannot be reached',
  503: 'The CubeLab control plane is not available',
  504: 'The CubeLab control plane did not answer in time'
};

/** Turn an error status and body text into an ApiError (never throws). */
export function parseError(status: number, bodyText: string): ApiError {
  let body: any = null;
  try {
    body = bodyText ? JSON.parse(bodyText) : null;
  } catch {
    body = null;
  }
  const fallback = STATUS_TEXT[status] ?? `Request failed (HTTP ${status})`;
  if (!body || typeof body !== 'object') {
    return new ApiError(status, 'http_' + status, fallback);
  }
  const message =
    typeof body.message === 'string' && body.message
      ? body.message
      : typeof body.reason === 'string' && body.reason
        ? body.reason
        : fallback;
  const code = typeof body.error === 'string' ? body.error : 'http_' + status;
  const field = typeof body.field === 'string' && body.field ? body.field : null;
  const details: IFieldMessage[] = Array.isArray(body.errors)
    ? body.errors
        .filter((e: any) => e && typeof e.message === 'string')
        .map((e: any) => ({
          field: typeof e.field === 'string' && e.field ? e.field : null,
          message: e.message,
          accepted: e.accepted ?? null
        }))
    : [];
  return new ApiError(status, code, message, field, details, body);
}

export interface IProjectRef {
  name: string;
  role: Role | null;
}

export interface IMe {
  name: string;
  admin: boolean;
  projects: IProjectRef[];
}

export interface IQuota {
  cpu: string | null;
  memory: string | null;
  gpu: string | null;
}

export interface ISettings {
  cluster: string | null;
  org: string | null;
  node_selector: string | null;
  volume_mount: string | null;
  service_external_ip: string | null;
  quota: IQuota | null;
  namespace: string | null;
}

export interface IProjectSummary {
  name: string;
  description: string;
  role: Role | null;
  settings: ISettings;
  member_count: number;
}

export interface IMember {
  name: string;
  role: Role;
}

export interface IPermissions {
  edit_settings: boolean;
  manage_members: boolean;
  delete: boolean;
  [key: string]: boolean;
}

export interface IProject extends IProjectSummary {
  creator?: string | null;
  members: IMember[];
  permissions: IPermissions;
}

export type SettingsPatch = Partial<{
  [K in keyof ISettings]: ISettings[K] | Partial<IQuota> | null;
}>;

const enc = encodeURIComponent;

/** Typed calls of the control plane's API, as forwarded by the server extension. */
export class CubeLabClient {
  constructor(readonly transport: Transport) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: ITransportResponse;
    try {
      response = await this.transport(method, path, body);
    } catch (err) {
      throw new ApiError(
        0,
        'network',
        `Cannot reach the server: ${(err as Error)?.message ?? err}`
      );
    }
    const text = await response.text();
    if (response.status < 200 || response.status >= 300) {
      throw parseError(response.status, text);
    }
    if (response.status === 204 || !text) {
      return undefined as T;
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(
        response.status,
        'bad_response',
        'The server sent an answer that is not JSON'
      );
    }
  }

  me(): Promise<IMe> {
    return this.call('GET', 'me');
  }

  async listProjects(): Promise<IProjectSummary[]> {
    const body = await this.call<{ projects: IProjectSummary[] }>(
      'GET',
      'projects'
    );
    return body.projects;
  }

  getProject(name: string): Promise<IProject> {
    return this.call('GET', `projects/${enc(name)}`);
  }

  createProject(data: {
    name: string;
    description?: string;
    settings?: SettingsPatch;
  }): Promise<IProject> {
    return this.call('POST', 'projects', data);
  }

  updateProject(
    name: string,
    data: { description?: string; settings?: SettingsPatch }
  ): Promise<IProject> {
    return this.call('PATCH', `projects/${enc(name)}`, data);
  }

  deleteProject(name: string): Promise<void> {
    return this.call('DELETE', `projects/${enc(name)}`);
  }

  addMember(project: string, name: string, role: Role): Promise<IMember> {
    return this.call('POST', `projects/${enc(project)}/members`, {
      name,
      role
    });
  }

  setMemberRole(project: string, name: string, role: Role): Promise<IMember> {
    return this.call(
      'PATCH',
      `projects/${enc(project)}/members/${enc(name)}`,
      { role }
    );
  }

  removeMember(project: string, name: string): Promise<void> {
    return this.call(
      'DELETE',
      `projects/${enc(project)}/members/${enc(name)}`
    );
  }
}
