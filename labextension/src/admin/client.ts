/** Calls of the admin API (admins only; everyone else is answered 403). */
import { IImportEntry } from '../pipelines/cubeStudioImport';
import { IPage, PAGE_SIZE, QueryValue, withQuery } from '../paging';
import { CubeLabClient } from '../request';
import {
  IAdminProject,
  IAdminSettings,
  IAdminTemplate,
  IAdminUser,
  IAuditEvent,
  ICluster,
  IDemoPipeline,
  IRunningPage,
  ITemplateCategory,
  IUsage,
  Machines,
  NodeLabels,
  WorkKind
} from './types';

const enc = encodeURIComponent;

/** The next page's cursor of an answer: the contract's `next`, or the lists' `next_cursor`. */
export function nextOf(body: Record<string, unknown> | undefined): string | null {
  const next = body?.next ?? body?.next_cursor;
  return typeof next === 'string' && next ? next : null;
}

export class AdminClient {
  constructor(readonly api: CubeLabClient) {}

  /**
   * One page of an admin list. The cursor goes as `after` (the admin contract)
   * and as `cursor` (the other lists), so either server reading works.
   */
  async page<T>(
    path: string,
    key: string,
    filters: Record<string, QueryValue>,
    cursor: string | null,
    limit = PAGE_SIZE
  ): Promise<IPage<T> & { body: Record<string, unknown> }> {
    const body = await this.api.call<Record<string, unknown>>(
      'GET',
      withQuery(path, { ...filters, limit, after: cursor, cursor })
    );
    const items = body?.[key];
    return { items: Array.isArray(items) ? (items as T[]) : [], next: nextOf(body), body };
  }

  users(q: string, cursor: string | null): Promise<IPage<IAdminUser>> {
    return this.page('admin/users', 'users', { q }, cursor);
  }

  projects(q: string, cursor: string | null): Promise<IPage<IAdminProject>> {
    return this.page('admin/projects', 'projects', { q }, cursor);
  }

  async running(
    filters: { kind?: WorkKind | ''; project?: string; user?: string },
    cursor: string | null
  ): Promise<IRunningPage> {
    const page = await this.page<IRunningPage['items'][number]>('admin/running', 'items', filters, cursor, 200);
    const totals = page.body.totals as IRunningPage['totals'] | undefined;
    return { items: page.items, next: page.next, totals: totals ?? null };
  }

  stop(kind: WorkKind, id: string): Promise<{ kind: WorkKind; id: string; status: string }> {
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

  updateSettings(patch: Partial<IAdminSettings>): Promise<IAdminSettings> {
    return this.api.call('PATCH', 'admin/settings', patch);
  }

  usage(by: 'project' | 'user', days = 30): Promise<IUsage> {
    return this.api.call('GET', withQuery('admin/usage', { days, by }));
  }

  async clusters(): Promise<ICluster[]> {
    return (await this.api.call<{ clusters: ICluster[] }>('GET', 'admin/clusters')).clusters;
  }

  machines(cluster: string, cursor: string | null = null): Promise<Machines> {
    return this.api.call('GET', withQuery('admin/machines', { cluster, after: cursor, cursor }));
  }

  setNodeLabels(cluster: string, node: string, labels: Record<string, string | null>): Promise<NodeLabels> {
    return this.api.call('PATCH', `admin/clusters/${enc(cluster)}/nodes/${enc(node)}/labels`, { labels });
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
