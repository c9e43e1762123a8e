/**
 * The create/edit form's draft of a service: text fields as people type them,
 * the REST body built from them (only the fields of the service's kind), a
 * draft from a stored service (edit) or from a model file (deploy from the
 * file browser), and the server's diagnostics placed at their fields.  Pure.
 */
import { IService, IServiceBody, IServiceDiagnostic } from './client';

export type ServiceKind = 'internal' | 'inference';

export const SERVING_TYPES = ['sklearn', 'xgboost', 'lightgbm', 'onnx', 'custom'];
export const ENVIRONMENTS = ['prod', 'test', 'debug'];

/** Model files the built-in model server loads, by suffix. */
export const MODEL_SUFFIXES: Record<string, string> = {
  '.joblib': 'sklearn',
  '.pkl': 'sklearn',
  '.json': 'xgboost',
  '.ubj': 'xgboost',
  '.onnx': 'onnx'
};

export interface IServiceDraft {
  kind: ServiceKind;
  project: string;
  name: string;
  image: string;
  /** a command line (run with `sh -c`) or a JSON list of strings (run as given) */
  command: string;
  args: string;
  workdir: string;
  env: string;
  ports: string;
  cpu: string;
  memory: string;
  gpu: string;
  health: string;
  min_replicas: string;
  max_replicas: string;
  hpa: string;
  host: string;
  canary: string;
  mirror: string;
  expose: 'project' | 'public';
  volume_mount: string;
  node_selector: string;
  serving_type: string;
  model_name: string;
  model_version: string;
  model_path: string;
  environment: string;
}

const COMMON: (keyof IServiceDraft)[] = [
  'project',
  'name',
  'image',
  'command',
  'args',
  'workdir',
  'env',
  'ports',
  'cpu',
  'memory',
  'gpu',
  'health',
  'min_replicas',
  'max_replicas',
  'hpa',
  'host',
  'canary',
  'mirror',
  'expose',
  'volume_mount',
  'node_selector'
];
const INFERENCE: (keyof IServiceDraft)[] = ['serving_type', 'model_name', 'model_version', 'model_path', 'environment'];

export function newDraft(project: string): IServiceDraft {
  return {
    kind: 'internal',
    project,
    name: '',
    image: '',
    command: '',
    args: '',
    workdir: '',
    env: '',
    ports: '8080',
    cpu: '1',
    memory: '1G',
    gpu: '0',
    health: '',
    min_replicas: '1',
    max_replicas: '1',
    hpa: '',
    host: '',
    canary: '',
    mirror: '',
    expose: 'project',
    volume_mount: '',
    node_selector: '',
    serving_type: 'sklearn',
    model_name: '',
    model_version: 'v1',
    model_path: '',
    environment: 'prod'
  };
}

/** The serving type a model file's suffix asks for, or null when none fits. */
export function servingTypeFor(path: string): string | null {
  const lower = path.toLowerCase();
  const suffix = Object.keys(MODEL_SUFFIXES).find(s => lower.endsWith(s));
  return suffix ? MODEL_SUFFIXES[suffix] : null;
}

/** Whether the file browser offers "Deploy as inference service" for `path`. */
export function isModelFile(path: string): boolean {
  return servingTypeFor(path) !== null;
}

/** A model name from a file name: `Iris_Model.v2.joblib` -> `iris-model-v2`. */
export function modelNameFrom(path: string): string {
  const file = path.split('/').pop() ?? '';
  const stem = file.replace(/\.[^.]+$/, '');
  return (
    stem
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'model'
  );
}

/** The form prefilled for a model file of the workspace. */
export function draftFromModelFile(path: string, project: string): IServiceDraft {
  return {
    ...newDraft(project),
    kind: 'inference',
    serving_type: servingTypeFor(path) ?? 'custom',
    model_name: modelNameFrom(path),
    model_path: path,
    ports: '8080'
  };
}

function commandText(command: IService['command'] | undefined): string {
  if (!command || (Array.isArray(command) && !command.length)) {
    return '';
  }
  if (typeof command === 'string') {
    return command;
  }
  // a command line is stored as `sh -c LINE`: show the line
  if (command.length === 3 && command[0] === 'sh' && command[1] === '-c') {
    return command[2];
  }
  return JSON.stringify(command);
}

/** The draft of an existing service (the edit form). */
export function draftFromService(s: IService): IServiceDraft {
  const text = (v: unknown) => (v === null || v === undefined ? '' : String(v));
  const args = Array.isArray(s.args) ? (s.args.length ? JSON.stringify(s.args) : '') : text(s.args);
  return {
    ...newDraft(s.project),
    kind: s.kind === 'inference' ? 'inference' : 'internal',
    name: s.name,
    image: text(s.image),
    command: commandText(s.command),
    args,
    workdir: text(s.workdir),
    env: text(s.env),
    ports: Array.isArray(s.ports) ? s.ports.join(',') : text(s.ports),
    cpu: text(s.cpu),
    memory: text(s.memory),
    gpu: text(s.gpu),
    health: text(s.health),
    min_replicas: text(s.min_replicas),
    max_replicas: text(s.max_replicas),
    hpa: text(s.hpa),
    host: text(s.custom_host ?? ''),
    canary: text(s.canary),
    mirror: text(s.mirror),
    expose: s.expose === 'public' ? 'public' : 'project',
    volume_mount: text(s.volume_mount),
    node_selector: text(s.node_selector),
    serving_type: text(s.serving_type) || 'sklearn',
    model_name: text(s.model_name),
    model_version: text(s.model_version) || 'v1',
    model_path: text(s.model_path),
    environment: text(s.environment) || 'prod'
  };
}

/** A list typed as JSON (`["python", "app.py"]`) is sent as a list; anything else as text. */
function listOrText(value: string): string | string[] {
  const t = value.trim();
  if (t.startsWith('[')) {
    try {
      const parsed = JSON.parse(t);
      if (Array.isArray(parsed) && parsed.every(x => typeof x === 'string')) {
        return parsed;
      }
    } catch {
      // not JSON after all: the server names what is wrong with the text
    }
  }
  return t;
}

/** Whole numbers go as numbers; other text as typed, for the server to name. */
function countOrText(value: string): number | string {
  const t = value.trim();
  return /^\d+$/.test(t) ? Number(t) : t;
}

/**
 * The REST body of a draft: the fields of its kind only (an internal service
 * has no model fields).  An inference service's empty name is left out: the
 * platform names it `<serving type>-<model>-<version digits>`.
 */
export function draftToBody(d: IServiceDraft): IServiceBody {
  const body: Record<string, unknown> = { kind: d.kind };
  for (const key of d.kind === 'inference' ? [...COMMON, ...INFERENCE] : COMMON) {
    const value = d[key];
    if (key === 'command' || key === 'args') {
      body[key] = listOrText(value);
    } else if (key === 'min_replicas' || key === 'max_replicas') {
      body[key] = countOrText(value);
    } else {
      body[key] = typeof value === 'string' ? value.trim() : value;
    }
  }
  if (d.kind === 'inference' && !d.name.trim()) {
    delete body.name;
  }
  return body as IServiceBody;
}

/** The name an inference service will get: `<serving type>-<model>-<version digits>`. */
export function inferenceName(d: Pick<IServiceDraft, 'serving_type' | 'model_name' | 'model_version'>): string {
  const digits = d.model_version.replace(/\D/g, '');
  return `${d.serving_type}-${d.model_name}-${digits}`;
}

/**
 * The server's diagnostics by form field.  A message names its field first
 * (`cpu: ...`); at that field the name is left out.  Fields the form does not
 * show (and messages without a field) go to `general`.
 */
export function diagnosticsByField(
  diags: IServiceDiagnostic[],
  kind: ServiceKind
): { fields: Record<string, string>; general: string[] } {
  const shown = new Set<string>([...COMMON, ...(kind === 'inference' ? INFERENCE : [])]);
  const fields: Record<string, string> = {};
  const general: string[] = [];
  for (const d of diags) {
    const field = d.field ?? '';
    const prefix = `${field}: `;
    const text = d.message.startsWith(prefix) ? d.message.slice(prefix.length) : d.message;
    if (field && shown.has(field)) {
      fields[field] = fields[field] ? `${fields[field]}\n${text}` : text;
    } else {
      general.push(d.message);
    }
  }
  return { fields, general };
}
