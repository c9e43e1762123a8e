/**
 * The admin API's shapes: aliases of the generated OpenAPI types
 * (`../generated/api.ts`, from the control plane's handlers), plus the
 * constants the tabs list.
 */
import { components } from '../generated/api';

type S = components['schemas'];

/** Resources held: CPU cores and GPUs (limits), memory in bytes. */
export type IUse = S['AdminUsage'];
export type IAdminUser = S['AdminUser'];
export type IAdminProject = S['AdminProject'];
export type IRunningItem = S['AdminRunningItem'];
export type ITotal = S['AdminTotal'];
export type IRunningTotals = S['AdminRunning']['totals'];
export type IStopped = S['AdminStopped'];
export type IAuditEvent = S['AuditEvent'];
export type IAdminSettings = S['AdminSettings'];
/** What PATCH /admin/settings takes: any of the settings (only the ones named change). */
export type IAdminSettingsPatch = S['AdminSettingsUpdate'];
export type IUsage = S['UsageHistory'];
export type ICluster = S['AdminClusters']['clusters'][number];
export type Machines = S['AdminMachines'];
export type ILocalMachine = Extract<Machines, { kind: 'local' }>;
export type IKubeMachines = Extract<Machines, { kind: 'kubernetes' }>;
export type INode = IKubeMachines['nodes'][number];
export type ITemplateCategory = S['TemplateCategory'];
export type IDemoPipeline = S['DemoPipeline'];

/** One page of what is running, with the totals of every item the filters match. */
export interface IRunningPage {
  items: IRunningItem[];
  next: string | null;
  totals: IRunningTotals | null;
}

export type WorkKind = IRunningItem['kind'];
export const WORK_KINDS: WorkKind[] = ['server', 'task', 'trial', 'service', 'build'];

/** The plural keys of a project's use by kind. */
export type KindKey = keyof IAdminProject['by_kind'];
export const KIND_KEYS: KindKey[] = ['servers', 'tasks', 'trials', 'services', 'builds'];

/** The platform's role labels of a node (the only ones the admin page shows and sets). */
export const ROLE_LABELS = ['notebook', 'train', 'service', 'cpu', 'gpu', 'org', 'gpu-type'] as const;
export type RoleLabel = (typeof ROLE_LABELS)[number];
/** Labels that are switches ("true" or absent); the others hold text. */
export const SWITCH_LABELS: RoleLabel[] = ['notebook', 'train', 'service', 'cpu', 'gpu'];
/** A node's role labels: only the ones set are present. */
export type NodeLabels = Partial<Record<RoleLabel, string>>;

/** What the Templates tab shows of a template version (GET /templates?retired=true). */
export type IAdminTemplate = Required<
  Pick<S['Template'], 'name' | 'version' | 'category' | 'category_index' | 'description' | 'retired'>
> & {
  /** shipped with the platform (not in the generated schema) */
  builtin?: boolean;
};
