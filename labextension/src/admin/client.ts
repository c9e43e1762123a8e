/** Calls of the admin API (admins only; everyone else is answered 403). */
import { IImportEntry } from '../pipelines/cubeStudioImport';
import { components } from '../generated/api';
import { fetchPage, IPage, PAGE_SIZE, QueryValue, withQuery } from '../paging';
import { CubeLabClient } from '../request';
import {
  IAdminProject,
  IAdminSettings,
  IAdminSettingsPatch,
  IAdminTemplate,
  IAdminUser,
  IAuditEvent,
  ICluster,
  IDemoPipeline,
  IRunningPage,
  IStopped,
  ITemplateCategory,
  IUsage,
  Machines,
  NodeLabels,
  WorkKind
} from './types';

type IRunning = components['schemas']['AdminRunning'];

const enc = encodeURIComponent;

export class AdminClient {
  constructor(readonly api: CubeLabClient) {}

  /** One page of an admin list whose items are under `key` (`cursor` in, `next_cursor` out). */
  page<T>(
    path: string,
    key: string,
    filters: Record<string, QueryValue>,
    cursor: string | null,
    limit = PAGE_SIZE
  ): Promise<IPage<T>> {
    return fetchPage<T>(this.api, path, key, { cursor, limit, filters });
  }

  users(q: string, cursor: string | null): Promise<IPage<IAdminUser>> {
    return this.page('admin/users', 'users', { q }, cursor);
  }

  projects(q: string, cursor: string | null): Promise<IPage<IAdminProject>> {
    return this.page('admin/projects', 'projects', { q }, cursor);
  }

  async running(
    filters: { kind?: WorkKind | ''; project?: string; user?: string },
    cursor: string | null,
    limit = 200
  ): Promise<IRunningPage> {
    const body = await this.api.call<IRunning>('GET', withQuery('admin/running', { ...filters, limit, cursor }));
    return { items: body?.items ?? [], next: body?.next_cursor || null, totals: body?.totals ?? null };
  }

  stop(kind: WorkKind, id: string): Promise<IStopped> {
    return this.api.call('POST', `admin/running/${enc(kind)}/${enc(id)}/stop`);
  }

  audit(
    filters: { actor?: string; action?: string; project?: string },
    cursor: string | null
  ): Promise<IPage<IAuditEvent>> {
    return this.page('admin/audit', 'events', filters, cursor);
  }

  settings(): Promise<IAdminSettings> {
    return this.api.call('GET', 'admin/settings');
  }

  updateSettings(patch: IAdminSettingsPatch): Promise<IAdminSettings> {
    return this.api.call('PATCH', 'admin/settings', patch);
  }

  usage(by: 'project' | 'user', days = 30): Promise<IUsage> {
    return this.api.call('GET', withQuery('admin/usage', { days, by }));
  }

  async clusters(): Promise<ICluster[]> {
    return (await this.api.call<{ clusters: ICluster[] }>('GET', 'admin/clusters')).clusters;
  }

  /** This machine, or one page of a Kubernetes cluster's nodes. */
  machines(cluster: string, cursor: string | null = null): Promise<Machines> {
    return this.api.call('GET', withQuery('admin/machines', { cluster, cursor }));
  }

  /** Set (a value) or remove (null) role labels; answers the node's role labels after. */
  async setNodeLabels(cluster: string, node: string, labels: Record<string, string | null>): Promise<NodeLabels> {
    const answer = await this.api.call<{ labels: NodeLabels }>(
      'PATCH',
      `admin/clusters/${enc(cluster)}/nodes/${enc(node)}/labels`,
      { labels }
    );
    return answer.labels;
  }

  async categories(): Promise<ITemplateCategory[]> {
    return (await this.api.call<{ categories: ITemplateCategory[] }>('GET', 'admin/template-categories')).categories;
  }

  setCategoryIndex(name: string, index: number): Promise<ITemplateCategory> {
    return this.api.call('PUT', `admin/template-categories/${enc(name)}`, { index });
  }

  /** Every template version, retired ones included, in palette order. */
  templates(q: string, cursor: string | null): Promise<IPage<IAdminTemplate>> {
    return this.page('templates', 'templates', { q, retired: true }, cursor);
  }

  release(name: string): Promise<IAdminTemplate> {
    return this.api.call('POST', `templates/${enc(name)}/Alpha/release`);
  }

  setRetired(name: string, version: string, retired: boolean): Promise<IAdminTemplate> {
    return this.api.call('PATCH', `templates/${enc(name)}/${enc(version)}`, { retired });
  }

  importTemplates(content: unknown): Promise<{ entries: IImportEntry[] }> {
    return this.api.call('POST', 'templates/import', { format: 'cube-studio', content });
  }

  /** Pipelines of every project (admins see all), to mark demos among them. */
  pipelines(q: string, cursor: string | null): Promise<IPage<IDemoPipeline>> {
    return this.page('pipelines', 'pipelines', { q }, cursor);
  }

  setDemo(pipelineId: number, demo: boolean): Promise<IDemoPipeline> {
    return this.api.call(demo ? 'PUT' : 'DELETE', `admin/demo-pipelines/${pipelineId}`);
  }
}
