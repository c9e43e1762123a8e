/**
 * The new-experiment form's model: the draft as typed (text for every
 * input), the request body built from it, the checks the browser can make
 * alone (JSON that does not parse, numbers that are not numbers), and the
 * server's diagnostics mapped onto the form's fields.  Pure.
 */
import { IExperimentDiagnostic, IExperimentSpec, ITunerInfo } from './client';

export type TrialSource = 'template' | 'file';

export interface IDraft {
  name: string;
  project: string;
  description: string;
  spaceText: string;
  tuner: string;
  tunerArgsText: string;
  assessor: string;
  assessorArgsText: string;
  metric: string;
  direction: 'maximize' | 'minimize';
  goal: string;
  source: TrialSource;
  template: string;
  templateVersion: string;
  args: Record<string, unknown>;
  /** a .py script or an .ipynb notebook of the workspace */
  file: string;
  metrics: 'nni' | 'stdout';
  cpu: string;
  memory: string;
  gpu: string;
  volumeMount: string;
  nodeSelector: string;
  retries: string;
  timeout: string;
  concurrency: string;
  maxTrials: string;
  maxDuration: string;
  maxFailed: string;
  seed: string;
}

export const EXAMPLE_SPACE = `{
  "lr": {"_type": "loguniform", "_value": [0.0001, 0.1]},
  "batch_size": {"_type": "choice", "_value": [16, 32, 64]}
}`;

export function newDraft(project: string): IDraft {
  return {
    name: '',
    project,
    description: '',
    spaceText: EXAMPLE_SPACE,
    tuner: 'TPE',
    tunerArgsText: '{}',
    assessor: '',
    assessorArgsText: '{}',
    metric: 'default',
    direction: 'maximize',
    goal: '',
    source: 'file',
    template: 'python',
    templateVersion: '',
    args: {},
    file: '',
    metrics: 'nni',
    cpu: '1',
    memory: '1G',
    gpu: '0',
    volumeMount: '',
    nodeSelector: '',
    retries: '0',
    timeout: '0',
    concurrency: '1',
    maxTrials: '10',
    maxDuration: '0',
    maxFailed: '',
    seed: ''
  };
}

/** The form's field keys (where diagnostics are shown); `trial.args.<flag>` keys are added per template. */
export const FORM_FIELDS = [
  'name',
  'project',
  'description',
  'search_space',
  'tuner',
  'tuner_args',
  'assessor',
  'assessor_args',
  'objective.metric',
  'objective.direction',
  'objective.goal',
  'trial.template',
  'trial.file',
  'trial.metrics',
  'trial.cpu',
  'trial.memory',
  'trial.gpu',
  'trial.volume_mount',
  'trial.node_selector',
  'trial.retries',
  'trial.timeout',
  'trial_concurrency',
  'max_trials',
  'max_duration',
  'max_failed_trials',
  'seed'
] as const;

/** The template and argument a workspace file runs with. */
export function fileTrial(path: string): { template: string; args: Record<string, unknown> } {
  const p = path.trim();
  return p.toLowerCase().endsWith('.ipynb')
    ? { template: 'notebook', args: { '--notebook': p } }
    : { template: 'python', args: { '--script': p } };
}

function jsonField(text: string, field: string, accepted: string, local: IExperimentDiagnostic[]): unknown {
  const t = text.trim();
  if (!t) {
    return undefined;
  }
  try {
    return JSON.parse(t);
  } catch (err) {
    local.push({ field, message: `not valid JSON: ${(err as Error).message}`, accepted, severity: 'error' });
    return undefined;
  }
}

function objectField(text: string, field: string, local: IExperimentDiagnostic[]): Record<string, unknown> | undefined {
  const accepted = 'a JSON object, e.g. {"name": value}';
  const v = jsonField(text, field, accepted, local);
  if (v === undefined) {
    return {};
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    local.push({ field, message: 'is not a JSON object', accepted, severity: 'error' });
    return undefined;
  }
  return v as Record<string, unknown>;
}

function intField(
  text: string,
  field: string,
  local: IExperimentDiagnostic[],
  opts: { min?: number; optional?: boolean } = {}
): number | null | undefined {
  const t = text.trim();
  if (!t) {
    if (opts.optional) {
      return null;
    }
    local.push({ field, message: 'is required', accepted: 'a whole number', severity: 'error' });
    return undefined;
  }
  const n = Number(t);
  if (!Number.isInteger(n) || (opts.min !== undefined && n < opts.min)) {
    local.push({
      field,
      message: `'${t}' is not a whole number${opts.min !== undefined ? ` ≥ ${opts.min}` : ''}`,
      accepted: `a whole number${opts.min !== undefined ? ` ≥ ${opts.min}` : ''}`,
      severity: 'error'
    });
    return undefined;
  }
  return n;
}

/**
 * The body of `POST /experiments` for a draft, and the problems the browser
 * finds on its own (the server checks everything again).  Values that do not
 * parse are left out of the body, so the server's diagnostics still cover
 * the rest of the form.
 */
export function draftToSpec(d: IDraft): { spec: IExperimentSpec; local: IExperimentDiagnostic[] } {
  const local: IExperimentDiagnostic[] = [];
  const space = jsonField(
    d.spaceText,
    'search_space',
    'an NNI search space: {"name": {"_type": "choice", "_value": [...]}, ...}',
    local
  );
  if (!d.spaceText.trim()) {
    local.push({
      field: 'search_space',
      message: 'is required',
      accepted: 'an NNI search space: {"name": {"_type": "choice", "_value": [...]}, ...}',
      severity: 'error'
    });
  }
  const tunerArgs = objectField(d.tunerArgsText, 'tuner_args', local);
  const assessorArgs = d.assessor ? objectField(d.assessorArgsText, 'assessor_args', local) : {};
  let goal: number | null = null;
  if (d.goal.trim()) {
    const g = Number(d.goal.trim());
    if (Number.isFinite(g)) {
      goal = g;
    } else {
      local.push({
        field: 'objective.goal',
        message: `'${d.goal.trim()}' is not a number`,
        accepted: 'a number, or empty for no goal',
        severity: 'error'
      });
    }
  }
  const fromFile = d.source === 'file';
  if (fromFile && !d.file.trim()) {
    local.push({
      field: 'trial.file',
      message: 'choose a Python file or a notebook',
      accepted: 'a .py or .ipynb path in your workspace',
      severity: 'error'
    });
  }
  const trialCode = fromFile ? fileTrial(d.file) : { template: d.template, args: d.args };
  const spec: IExperimentSpec = {
    name: d.name.trim(),
    project: d.project,
    description: d.description,
    search_space: space ?? {},
    tuner: d.tuner,
    tuner_args: tunerArgs ?? {},
    assessor: d.assessor || null,
    assessor_args: assessorArgs ?? {},
    objective: { metric: d.metric.trim() || 'default', direction: d.direction, goal },
    trial: {
      template: trialCode.template,
      template_version: fromFile ? null : d.templateVersion || null,
      args: trialCode.args,
      cpu: d.cpu.trim(),
      memory: d.memory.trim(),
      gpu: d.gpu.trim(),
      volume_mount: d.volumeMount.trim(),
      node_selector: d.nodeSelector.trim(),
      retries: intField(d.retries, 'trial.retries', local, { min: 0 }) ?? 0,
      timeout: intField(d.timeout, 'trial.timeout', local, { min: 0 }) ?? 0,
      metrics: d.metrics
    },
    trial_concurrency: intField(d.concurrency, 'trial_concurrency', local, { min: 1 }) ?? 1,
    max_trials: intField(d.maxTrials, 'max_trials', local, { min: 1 }) ?? 1,
    max_duration: intField(d.maxDuration, 'max_duration', local, { min: 0 }) ?? 0,
    max_failed_trials: intField(d.maxFailed, 'max_failed_trials', local, { min: 0, optional: true }) ?? null,
    seed: intField(d.seed, 'seed', local, { optional: true }) ?? null
  };
  return { spec, local };
}

export interface IFormDiagnostics {
  /** form field key -> its diagnostics */
  fields: Record<string, IExperimentDiagnostic[]>;
  /** the ones no field of the form shows */
  general: IExperimentDiagnostic[];
  errors: number;
  warnings: number;
}

/**
 * The form field a diagnostic's field belongs to: a search-space path
 * (`search_space.lr._value`) to the search-space editor, tuner and assessor
 * arguments to their JSON inputs, the file's argument to the file picker.
 */
export function formField(field: string | null | undefined, source: TrialSource, known: Set<string>): string | null {
  if (!field) {
    return null;
  }
  for (const whole of ['search_space', 'tuner_args', 'assessor_args']) {
    if (field === whole || field.startsWith(`${whole}.`) || field.startsWith(`${whole}[`)) {
      return whole;
    }
  }
  if (source === 'file' && (field === 'trial.template' || field.startsWith('trial.args'))) {
    return 'trial.file';
  }
  if (known.has(field)) {
    return field;
  }
  // trial.args.--lr.x -> the nearest known prefix
  const parts = field.split('.');
  for (let n = parts.length - 1; n > 0; n--) {
    const prefix = parts.slice(0, n).join('.');
    if (known.has(prefix)) {
      return prefix;
    }
  }
  return null;
}

/** Diagnostics (local first, then the server's) by form field. */
export function mapFormDiagnostics(
  diags: IExperimentDiagnostic[],
  source: TrialSource,
  argFlags: string[] = []
): IFormDiagnostics {
  const known = new Set<string>([...FORM_FIELDS, ...argFlags.map(f => `trial.args.${f}`)]);
  const out: IFormDiagnostics = { fields: {}, general: [], errors: 0, warnings: 0 };
  const seen = new Set<string>();
  for (const d of diags) {
    const id = `${d.field}|${d.message}`;
    if (seen.has(id)) {
      continue;
    }
    seen.add(id);
    if (d.severity === 'warning') {
      out.warnings++;
    } else {
      out.errors++;
    }
    const key = formField(d.field, source, known);
    if (key) {
      (out.fields[key] ??= []).push(d);
    } else {
      out.general.push(d);
    }
  }
  return out;
}

/** One diagnostic as a line under its field: the exact place, the message, the accepted form. */
export function diagnosticText(d: IExperimentDiagnostic, shownAt: string): string {
  const where = d.field && d.field !== shownAt ? `${d.field}: ` : '';
  const accepted = d.accepted ? ` (accepted: ${d.accepted})` : '';
  return `${where}${d.message}${accepted}`;
}

/** Every `_type` a search space uses, nested choices included (for the tuner picker's hints). */
export function spaceTypes(space: unknown): Set<string> {
  const out = new Set<string>();
  const walk = (node: unknown) => {
    if (!node || typeof node !== 'object' || Array.isArray(node)) {
      return;
    }
    for (const spec of Object.values(node as Record<string, unknown>)) {
      if (!spec || typeof spec !== 'object' || Array.isArray(spec)) {
        continue;
      }
      const s = spec as { _type?: unknown; _value?: unknown };
      if (typeof s._type === 'string') {
        out.add(s._type);
        if (s._type === 'choice' && Array.isArray(s._value)) {
          s._value.forEach(walk);
        }
      }
    }
  };
  walk(space);
  return out;
}

/** Whether a search space has a nested choice (an option that is itself a space). */
export function isNestedSpace(space: unknown): boolean {
  if (!space || typeof space !== 'object' || Array.isArray(space)) {
    return false;
  }
  return Object.values(space as Record<string, unknown>).some(spec => {
    const s = spec as { _type?: unknown; _value?: unknown } | null;
    return (
      !!s &&
      s._type === 'choice' &&
      Array.isArray(s._value) &&
      s._value.some(v => !!v && typeof v === 'object' && !Array.isArray(v))
    );
  });
}

/** Why a tuner cannot take this search space, or null when it can. */
export function tunerMismatch(tuner: ITunerInfo, space: unknown): string | null {
  const used = spaceTypes(space);
  const missing = [...used].filter(t => !tuner.types.includes(t)).sort();
  if (missing.length) {
    return `${tuner.name} does not support ${missing.join(', ')}`;
  }
  if (tuner.flat_only && isNestedSpace(space)) {
    return `${tuner.name} does not support nested choices`;
  }
  return null;
}
