/**
 * Shapes of the control plane's pipelines API.  Where the OpenAPI document
 * describes a shape fully, the type is an alias of the generated one
 * (`generated/api.ts`, from `openapi.json` by `jlpm build:types`); the
 * interfaces below refine what the document leaves open (edges as pairs,
 * the editor's views and list items, which the document types as bare objects).
 */
import { components } from '../generated/api';

type Schemas = components['schemas'];
type GeneratedRun = Schemas['Run'];
type ArgSpec = NonNullable<Schemas['Template']['args']>[string][string];

export type ArgType = ArgSpec['type'];

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
  /** Cube Studio's pipeline parameter, kept as given ('demo', 'img') */
  parameter?: Record<string, unknown>;
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
  /** Cube Studio's `parameter.demo`: listed as a demo to copy from */
  demo?: boolean;
  updated_at: string | null;
  last_run: { id: string; status: string } | null;
}

/** A diagnostic; drafts checked in the browser may leave out what the server always sends. */
export interface IDiagnostic
  extends Omit<Schemas['Diagnostic'], 'task' | 'edge' | 'field' | 'extra'>,
    Partial<Pick<Schemas['Diagnostic'], 'task' | 'field' | 'extra'>> {
  edge?: Edge | null;
  cycle?: string[];
}

export type RunStatus = GeneratedRun['status'];
export type TaskStatus = ITaskRun['status'];

/** One task of a run (peaks only where metrics were collected). */
export type ITaskRun = Omit<GeneratedRun['tasks'][number], 'peak_cpu' | 'peak_memory'> &
  Partial<Pick<GeneratedRun['tasks'][number], 'peak_cpu' | 'peak_memory'>>;

/** A run; the list endpoints leave out tasks and edges. */
export interface IRun extends Omit<GeneratedRun, 'pipeline_id' | 'pipeline_name' | 'trigger' | 'tasks' | 'edges'> {
  pipeline_id: number;
  pipeline_name: string | null;
  trigger: string;
  source_run_id?: string | null;
  schedule_time?: string | null;
  only_tasks?: string[] | null;
  tasks?: ITaskRun[];
  edges?: Edge[];
}

export interface IScheduleView extends ISchedule {
  next: string[];
  last_tick: string | null;
}

export type IScheduleRecord = Schemas['ScheduleRecord'];

export const RUN_FINAL: string[] = ['succeeded', 'failed', 'cancelled'] satisfies RunStatus[];

/** Every run status, for filters. */
export const RUN_STATUSES: RunStatus[] = ['pending', 'running', 'succeeded', 'failed', 'cancelled'];
export const TASK_FINAL: string[] = [
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
  'upstream-failed'
] satisfies TaskStatus[];

export interface IResourceProposal {
  task: string;
  current: { cpu: string; memory: string };
  proposed: { cpu: string; memory: string };
  runs: number;
  peak_cpu: number;
  peak_memory: number;
}
