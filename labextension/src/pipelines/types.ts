/** Shapes of the control plane's pipelines API (hub/.../handlers/{templates,pipelines,runs,schedules}.py). */

export type ArgType =
  | 'int'
  | 'float'
  | 'bool'
  | 'str'
  | 'text'
  | 'enum'
  | 'multiple'
  | 'list'
  | 'dict'
  | 'json'
  | 'file';

export const ARG_TYPES: ArgType[] = [
  'int',
  'float',
  'bool',
  'str',
  'text',
  'enum',
  'multiple',
  'list',
  'dict',
  'json',
  'file'
];

/** One argument in Cube Studio's schema (values as stored: 0/1 flags etc.). */
export interface IArgSpecRaw {
  type?: string;
  item_type?: string;
  label?: string;
  require?: number | boolean | string;
  choice?: unknown[] | string;
  range?: string;
  default?: unknown;
  placeholder?: string;
  describe?: string;
  editable?: number | boolean | string;
  [extra: string]: unknown;
}

/** `{"group": {"--name": spec}}` */
export type ArgsSchema = Record<string, Record<string, IArgSpecRaw>>;

export interface ITemplateOutput {
  name: string;
  description?: string;
  type?: string;
  flag?: string | null;
}

export interface ITemplate {
  id?: number;
  name: string;
  version: string;
  kind: string;
  category: string;
  category_index: number;
  image?: string;
  command?: string[];
  args: ArgsSchema;
  env?: string;
  volume_mount?: string;
  help_url?: string;
  description?: string;
  outputs?: ITemplateOutput[];
  builtin?: boolean;
}

export interface IPosition {
  x: number;
  y: number;
}

export interface ITask {
  name: string;
  template: string;
  template_version?: string | null;
  label?: string;
  args: Record<string, unknown>;
  cpu: string;
  memory: string;
  gpu: string;
  volume_mount: string;
  node_selector: string;
  timeout: number;
  retries: number;
  skip: boolean;
  env: Record<string, string>;
  position?: IPosition | null;
}

export type Edge = [string, string];

export interface ISchedule {
  enabled: boolean;
  cron: string | null;
  timezone?: string | null;
  start_time?: string | null;
  backfill?: boolean;
  depends_on_past?: boolean;
  max_active_runs?: number | null;
  expired_limit?: number | null;
  [extra: string]: unknown;
}

export interface IPipeline {
  id?: number | null;
  name: string;
  project: string;
  description: string;
  creator?: string | null;
  tasks: ITask[];
  edges: Edge[];
  env: Record<string, string>;
  parallelism: number | null;
  schedule: ISchedule;
}

export interface IPipelineView extends IPipeline {
  id: number;
  created_at?: string | null;
  updated_at?: string | null;
  permissions?: { edit: boolean; run: boolean };
  diagnostics?: IDiagnostic[];
}

export interface IPipelineSummary {
  id: number;
  name: string;
  project: string;
  creator: string;
  description: string;
  tasks: number;
  schedule_enabled: boolean;
  updated_at: string | null;
  last_run: { id: string; status: string } | null;
}

export interface IDiagnostic {
  severity: 'error' | 'warning';
  message: string;
  task?: string | null;
  edge?: Edge | null;
  field?: string | null;
  extra?: Record<string, unknown>;
  cycle?: string[];
}

export type TaskStatus =
  | 'pending'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'skipped'
  | 'cancelled'
  | 'upstream-failed';

export interface ITaskRun {
  name: string;
  status: TaskStatus;
  attempts: number;
  exit_code: number | null;
  started_at: string | null;
  finished_at: string | null;
  message: string;
  outputs: Record<string, unknown>;
  peak_cpu?: number | null;
  peak_memory?: number | null;
}

export interface IRun {
  id: string;
  pipeline_id: number;
  pipeline_name: string | null;
  project: string;
  trigger: string;
  runner: string;
  engine: string;
  status: 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  message: string;
  source_run_id?: string | null;
  schedule_time?: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  only_tasks?: string[] | null;
  tasks?: ITaskRun[];
  edges?: Edge[];
}

export interface IScheduleView extends ISchedule {
  next: string[];
  last_tick: string | null;
}

export interface IScheduleRecord {
  tick: string;
  status: string;
  reason: string;
  run_id: string | null;
  [extra: string]: unknown;
}

export const RUN_FINAL = ['succeeded', 'failed', 'cancelled'];
export const TASK_FINAL = [
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
  'upstream-failed'
];

export interface IResourceProposal {
  task: string;
  current: { cpu: string; memory: string };
  proposed: { cpu: string; memory: string };
  runs: number;
  peak_cpu: number;
  peak_memory: number;
}
