/**
 * The admin REST contract's shapes, written by hand from the contract the three
 * admin branches share (to be replaced by the generated OpenAPI types once they
 * are merged: `../generated/api.ts`).
 */

export interface IUse {
  cpu: number;
  /** bytes */
  memory: number;
  gpu: number;
}

export interface IAdminUser {
  name: string;
  admin: boolean;
  active: boolean;
  last_activity: string | null;
  projects: string[];
  servers: number;
  runs_active: number;
  experiments_active: number;
  services: number;
  use: IUse;
}

export type WorkKind = 'server' | 'task' | 'trial' | 'service' | 'build';
export const WORK_KINDS: WorkKind[] = ['server', 'task', 'trial', 'service', 'build'];

/** The plural keys of a project's use by kind. */
export type KindKey = 'servers' | 'tasks' | 'trials' | 'services' | 'builds';
export const KIND_KEYS: KindKey[] = ['servers', 'tasks', 'trials', 'services', 'builds'];

export interface IAdminProject {
  name: string;
  members: number;
  quota: IUse | null;
  use: IUse;
  by_kind: Record<KindKey, IUse>;
}

export interface IRunningItem {
  kind: WorkKind;
  id: string;
  name: string;
  project: string | null;
  user: string;
  status: string;
  started: string | null;
  use: IUse;
  cluster: string;
}

export interface ITotal extends IUse {
  count: number;
}

export interface IRunningTotals {
  by_project: Record<string, ITotal>;
  by_user: Record<string, ITotal>;
}

export interface IRunningPage {
  items: IRunningItem[];
  next: string | null;
  totals: IRunningTotals | null;
}

export interface IAuditEvent {
  id: number;
  at: string;
  actor: string;
  project: string | null;
  action: string;
  detail: Record<string, unknown>;
}

export interface IAdminSettings {
  registration_open: boolean;
  server_expiry: Record<string, unknown>;
  role_limits: Record<string, unknown>;
  default_project_quota: Record<string, unknown>;
}

export interface IUsage {
  days: string[];
  series: { key: string; cpu_hours: number[]; gpu_hours: number[] }[];
}

export interface ICluster {
  name: string;
  kind: 'local' | 'kubernetes';
  reachable: boolean;
  error: string | null;
}

export interface IHolder {
  kind: string;
  id: string;
  project: string | null;
  user: string;
  cpu: number;
  memory: number;
  gpu: number;
}

export interface ILocalMachine {
  kind: 'local';
  cpu: { count: number; used: number };
  memory: { total: number; used: number };
  gpus: { index: number; name: string; memory: number; holder: string | null }[];
  holders: IHolder[];
}

/** The platform's role labels of a node (the only ones the admin page shows and sets). */
export const ROLE_LABELS = ['notebook', 'train', 'service', 'cpu', 'gpu', 'org', 'gpu-type'] as const;
export type RoleLabel = (typeof ROLE_LABELS)[number];
/** Labels that are switches ("true" or absent); the others hold text. */
export const SWITCH_LABELS: RoleLabel[] = ['notebook', 'train', 'service', 'cpu', 'gpu'];
export type NodeLabels = Partial<Record<RoleLabel, string>>;

export interface INode {
  name: string;
  labels: NodeLabels;
  allocatable: IUse;
  ready: boolean;
}

export interface IKubeMachines {
  kind: 'kubernetes';
  nodes: INode[];
  next: string | null;
}

export type Machines = ILocalMachine | IKubeMachines;

export interface ITemplateCategory {
  name: string;
  index: number;
  templates: number;
}

/** What the Templates tab shows of a template version (GET /templates?retired=true). */
export interface IAdminTemplate {
  name: string;
  version: 'Release' | 'Alpha';
  category: string;
  category_index: number;
  description: string;
  builtin: boolean;
  retired: boolean;
}

export interface IDemoPipeline {
  id: number;
  name: string;
  project: string;
  demo: boolean;
}
