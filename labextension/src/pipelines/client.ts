/** Calls of the pipelines API (templates, pipelines, runs, schedules). */
import { fetchPage, IPage } from '../paging';
import { CubeLabClient } from '../request';
import { EventStreamParser } from '../sse';
import { toBody } from './graph';
import { IImportEntry } from './cubeStudioImport';
import {
  IDiagnostic,
  IPipeline,
  IPipelineSummary,
  IPipelineView,
  IResourceProposal,
  IRun,
  ISchedule,
  IScheduleRecord,
  IScheduleView,
  ITemplate
} from './types';

const enc = encodeURIComponent;

export class PipelinesClient {
  constructor(readonly api: CubeLabClient) {}

  /** One page of the templates whose name contains `q` (server-side search). */
  templatesPage(filter: { q?: string } = {}, cursor: string | null = null, limit?: number): Promise<IPage<ITemplate>> {
    return fetchPage(this.api, 'templates', 'templates', { cursor, limit, filters: { q: filter.q } });
  }

  /** One template version (`Release` when none is named). */
  template(name: string, version?: string | null): Promise<ITemplate> {
    return this.api.call('GET', `templates/${enc(name)}/${enc(version || 'Release')}`);
  }

  /** One page of the pipelines of a project (or of all the user's projects) whose name contains `q`. */
  listPage(
    filter: { project?: string; q?: string } = {},
    cursor: string | null = null,
    limit?: number
  ): Promise<IPage<IPipelineSummary>> {
    return fetchPage(this.api, 'pipelines', 'pipelines', {
      cursor,
      limit,
      filters: { project: filter.project, q: filter.q }
    });
  }

  get(id: number): Promise<IPipelineView> {
    return this.api.call('GET', `pipelines/${id}`);
  }

  create(p: IPipeline): Promise<IPipelineView> {
    return this.api.call('POST', 'pipelines', toBody(p));
  }

  save(id: number, p: IPipeline): Promise<IPipelineView> {
    return this.api.call('PUT', `pipelines/${id}`, toBody(p));
  }

  remove(id: number): Promise<void> {
    return this.api.call('DELETE', `pipelines/${id}`);
  }

  async validateDraft(p: IPipeline): Promise<IDiagnostic[]> {
    return (await this.api.call<{ diagnostics: IDiagnostic[] }>('POST', 'pipelines/validate', toBody(p))).diagnostics;
  }

  run(id: number): Promise<IRun> {
    return this.api.call('POST', `pipelines/${id}/runs`);
  }

  debugTask(id: number, task: string): Promise<IRun> {
    return this.api.call('POST', `pipelines/${id}/tasks/${enc(task)}/debug`);
  }

  async runs(id: number, limit = 50): Promise<IRun[]> {
    return (await this.runsPage(id, {}, null, limit)).items;
  }

  /** One page of a pipeline's runs, newest first. */
  runsPage(
    id: number,
    filter: { status?: string } = {},
    cursor: string | null = null,
    limit?: number
  ): Promise<IPage<IRun>> {
    return fetchPage(this.api, `pipelines/${id}/runs`, 'runs', { cursor, limit, filters: { status: filter.status } });
  }

  /** One page of the runs of the user's projects, newest first. */
  recentRunsPage(
    filter: { project?: string; status?: string } = {},
    cursor: string | null = null,
    limit?: number
  ): Promise<IPage<IRun>> {
    return fetchPage(this.api, 'runs', 'runs', {
      cursor,
      limit,
      filters: { project: filter.project, status: filter.status }
    });
  }

  getRun(runId: string): Promise<IRun> {
    return this.api.call('GET', `runs/${enc(runId)}`);
  }

  /**
   * Follow a run's server-sent events: `onRun` gets the whole run first and
   * after every change; resolves when the run has ended and the stream closes.
   */
  runEvents(runId: string, onRun: (run: IRun) => void, signal: AbortSignal): Promise<void> {
    const parser = new EventStreamParser(event => {
      if (event.event === 'run') {
        onRun(JSON.parse(event.data) as IRun);
      }
    });
    return this.api.stream(`runs/${enc(runId)}/events`, text => parser.push(text), signal);
  }

  cancel(runId: string): Promise<IRun> {
    return this.api.call('POST', `runs/${enc(runId)}/cancel`);
  }

  rerun(runId: string, mode: 'all' | 'failed'): Promise<IRun> {
    return this.api.call('POST', `runs/${enc(runId)}/rerun`, { mode });
  }

  schedule(id: number): Promise<IScheduleView> {
    return this.api.call('GET', `pipelines/${id}/schedule`);
  }

  /** Check unsaved schedule settings and list the next tick times (server-side, croniter). */
  schedulePreview(schedule: ISchedule, count = 5): Promise<{ next: string[]; timezone: string }> {
    return this.api.call('POST', 'schedules/preview', { ...schedule, count });
  }

  /** One page of a pipeline's schedule records, newest first. */
  scheduleRecordsPage(id: number, cursor: string | null = null, limit?: number): Promise<IPage<IScheduleRecord>> {
    return fetchPage(this.api, `pipelines/${id}/schedule/records`, 'records', { cursor, limit });
  }

  async proposals(id: number): Promise<IResourceProposal[]> {
    return (await this.api.call<{ proposals: IResourceProposal[] }>('GET', `pipelines/${id}/resource-proposals`))
      .proposals;
  }

  acceptProposal(id: number, task: string): Promise<IPipelineView> {
    return this.api.call('POST', `pipelines/${id}/resource-proposals/${enc(task)}/accept`);
  }

  /** The pipeline as one JSON document (templates by name and version). */
  exportDocument(id: number): Promise<Record<string, unknown>> {
    return this.api.call('GET', `pipelines/${id}/export`);
  }

  importDocument(document: unknown, project: string, name?: string): Promise<IPipelineView> {
    return this.api.call('POST', 'pipelines/import', name ? { document, project, name } : { document, project });
  }

  /** A Cube Studio pipeline file, entry by entry: the pipelines saved and a report per entry. */
  importCubeStudio(
    document: unknown,
    project: string
  ): Promise<{ pipelines: IPipelineView[]; entries: IImportEntry[] }> {
    return this.api.call('POST', 'pipelines/import', { format: 'cube-studio', document, project });
  }

  /** A Cube Studio job template file (admins), entry by entry: the report per entry. */
  importTemplates(content: unknown): Promise<{ entries: IImportEntry[] }> {
    return this.api.call('POST', 'templates/import', { format: 'cube-studio', content });
  }

  /** A copy of a pipeline (a demo) in `project`. */
  copy(id: number, project: string, name?: string): Promise<IPipelineView> {
    return this.api.call('POST', `pipelines/${id}/copy`, name ? { project, name } : { project });
  }

  /** Path (relative to the API root) of a task's log; `follow` streams. */
  logPath(runId: string, task: string, follow: boolean): string {
    return `runs/${enc(runId)}/tasks/${enc(task)}/logs${follow ? '?follow=1' : ''}`;
  }
}
