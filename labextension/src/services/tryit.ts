/**
 * The "try it" panel's pure part: where a request to a service goes, the
 * request itself (a JSON body, or an Open Inference Protocol inference
 * request checked field by field before it is sent) and how the answer reads.
 */
import { IReplica, IService } from './client';

export type TryMode = 'json' | 'inference';

/** Tensor datatypes of the Open Inference Protocol. */
export const OIP_DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES'
];

export interface ITryTarget {
  /** an absolute URL or a path of this origin, without a trailing '/' */
  base: string;
  /** how the request gets there, shown beside the answer */
  via: string;
}

/** The target that sends through the control plane's API (`POST /services/{id}/try`), as the caller. */
export const PLATFORM_TARGET = 'cubelab:';

/**
 * Where requests to `service` go, best first: through the platform's API
 * (the control plane sends it to the gateway as the caller: works for
 * project-only services and needs no CORS), the member path the control
 * plane gives (`proxy_url`, same origin), the service's gateway URL (`url`),
 * then a healthy replica's loopback port (on one machine, when the browser
 * runs there too).  Empty when none answers.
 */
export function tryTargets(service: Partial<IService> & Record<string, unknown>, replicas: IReplica[]): ITryTarget[] {
  const out: ITryTarget[] = [];
  const strip = (u: string) => u.replace(/\/+$/, '');
  if (typeof service.id === 'number' && replicas.some(r => r.status === 'healthy')) {
    out.push({ base: PLATFORM_TARGET, via: 'the platform, as you, through the gateway' });
  }
  if (typeof service.proxy_url === 'string' && service.proxy_url) {
    out.push({ base: strip(service.proxy_url), via: 'the member path through the hub' });
  }
  if (typeof service.url === 'string' && service.url) {
    out.push({ base: strip(service.url), via: 'the gateway' });
  }
  for (const r of replicas) {
    if (r.status === 'healthy' && r.port) {
      out.push({ base: `http://127.0.0.1:${r.port}`, via: `replica ${r.index} on this machine` });
    }
  }
  return out;
}

/** The Open Inference Protocol path of an inference service's model. */
export function inferencePath(service: Partial<IService>): string {
  return `/v2/models/${encodeURIComponent(service.model_name || service.name || 'model')}/infer`;
}

/** A one-input request a person can edit: four FP32 numbers in one row. */
export function sampleInferenceRequest(): string {
  return JSON.stringify(
    { inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] },
    null,
    2
  );
}

export interface ITryProblem {
  field: string;
  message: string;
}

function flatLength(data: unknown): number {
  return Array.isArray(data) ? data.reduce((n: number, d) => n + flatLength(d), 0) : 1;
}

/**
 * Check an inference request's text: JSON, `inputs` a non-empty list, each
 * with a name, a shape of whole numbers, a known datatype and as many data
 * values as the shape holds.  Each problem names where it is.
 */
export function checkInferenceRequest(text: string): { body: unknown; problems: ITryProblem[] } {
  let body: any;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return { body: null, problems: [{ field: 'body', message: `is not JSON: ${(err as Error).message}` }] };
  }
  const problems: ITryProblem[] = [];
  if (!body || typeof body !== 'object' || !Array.isArray(body.inputs) || !body.inputs.length) {
    problems.push({ field: 'inputs', message: 'must be a non-empty list of {"name", "shape", "datatype", "data"}' });
    return { body, problems };
  }
  body.inputs.forEach((input: any, i: number) => {
    const at = `inputs[${i}]`;
    if (!input || typeof input !== 'object') {
      problems.push({ field: at, message: 'must be an object {"name", "shape", "datatype", "data"}' });
      return;
    }
    if (typeof input.name !== 'string' || !input.name) {
      problems.push({ field: `${at}.name`, message: 'is missing (a tensor name, e.g. "input-0")' });
    }
    const shapeOk =
      Array.isArray(input.shape) && input.shape.every((d: unknown) => Number.isInteger(d) && (d as number) >= 0);
    if (!shapeOk) {
      problems.push({ field: `${at}.shape`, message: 'must be a list of whole numbers, e.g. [1, 4]' });
    }
    if (!OIP_DATATYPES.includes(input.datatype)) {
      problems.push({
        field: `${at}.datatype`,
        message: `'${input.datatype ?? ''}' is not one of ${OIP_DATATYPES.join(', ')}`
      });
    }
    if (!Array.isArray(input.data)) {
      problems.push({ field: `${at}.data`, message: 'must be a list of values' });
    } else if (shapeOk) {
      const want = (input.shape as number[]).reduce((n, d) => n * d, 1);
      const got = flatLength(input.data);
      if (want !== got) {
        problems.push({
          field: `${at}.data`,
          message: `holds ${got} values; shape [${input.shape.join(', ')}] needs ${want}`
        });
      }
    }
  });
  return { body, problems };
}

export interface ITryRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** The request to send, or the problems that keep it from being sent. */
export function buildTryRequest(
  target: ITryTarget,
  options: { mode: TryMode; method: string; path: string; body: string }
): { request: ITryRequest | null; problems: ITryProblem[] } {
  const path = options.path.startsWith('/') ? options.path : `/${options.path}`;
  if (/^[a-z][a-z0-9+.-]*:/i.test(options.path) || path.startsWith('//')) {
    return { request: null, problems: [{ field: 'path', message: 'must be a path of the service, e.g. /predict' }] };
  }
  const method = options.mode === 'inference' ? 'POST' : options.method.toUpperCase();
  const url = target.base + path;
  if (method === 'GET' || method === 'DELETE') {
    return { request: { method, url, headers: {} }, problems: [] };
  }
  if (options.mode === 'inference') {
    const checked = checkInferenceRequest(options.body);
    if (checked.problems.length) {
      return { request: null, problems: checked.problems };
    }
  } else if (options.body.trim()) {
    try {
      JSON.parse(options.body);
    } catch (err) {
      return { request: null, problems: [{ field: 'body', message: `is not JSON: ${(err as Error).message}` }] };
    }
  }
  return {
    request: { method, url, headers: { 'Content-Type': 'application/json' }, body: options.body.trim() || undefined },
    problems: []
  };
}

/** `12 ms`, `1.35 s`. */
export function formatLatency(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** An answer's text as people read it: JSON indented, anything else as it came. */
export function answerText(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
