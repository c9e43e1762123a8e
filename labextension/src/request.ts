/**
 * The shared request helper of every feature's client, independent of
 * JupyterLab so it can be unit-tested.
 *
 * Every call goes through a `Transport` (see `request.ts` for the one that
 * uses JupyterLab's `ServerConnection`).  Errors from the control plane are
 * JSON `{"error": code, "message": text, "field": name|null}` and, when several
 * fields are wrong at once, `"errors": [{"field", "message", "accepted"}]`;
 * `ApiError` keeps all of that so forms can show each message next to its field.
 */

export interface ITransportResponse {
  status: number;
  text(): Promise<string>;
}

/** Sends one request; `path` is relative to the API root (`projects/x`). */
export type Transport = (method: string, path: string, body?: unknown) => Promise<ITransportResponse>;

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

/**
 * Reads a streamed text resource (a followed log, server-sent events), calling
 * `onText` with each chunk; resolves when the server ends the response.
 */
export type Streamer = (path: string, onText: (chunk: string) => void, signal: AbortSignal) => Promise<void>;

/** Requests to one API root: JSON calls and streamed reads. */
export class CubeLabClient {
  constructor(
    readonly transport: Transport,
    readonly streamer: Streamer | null = null
  ) {}

  /** Stream `path` (relative to the API root); see `Streamer`. */
  stream(path: string, onText: (chunk: string) => void, signal: AbortSignal): Promise<void> {
    if (!this.streamer) {
      return Promise.reject(new ApiError(0, 'network', 'This client cannot stream responses'));
    }
    return this.streamer(path, onText, signal);
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: ITransportResponse;
    try {
      response = await this.transport(method, path, body);
    } catch (err) {
      throw new ApiError(0, 'network', `Cannot reach the server: ${(err as Error)?.message ?? err}`);
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
      throw new ApiError(response.status, 'bad_response', 'The server sent an answer that is not JSON');
    }
  }
}
