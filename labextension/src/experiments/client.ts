/**
 * Calls of the experiments API (hyper-parameter search) and the shapes it
 * answers with.  Where the OpenAPI document describes a shape fully, the type
 * is an alias of the generated one (`generated/api.ts`, from `openapi.json` by
 * `jlpm build:types`), as `pipelines/types.ts` does; the interfaces below
 * refine what the document leaves open (the trial definition and the assessor
 * entries, typed there as bare objects, and the progress counts, which the
 * control plane always sends as numbers).
 */
import { components } from '../generated/api';
import { fetchPage, IPage, MAX_PAGE } from '../paging';
import { CubeLabClient } from '../request';
import { EventStreamParser } from '../sse';
import { ITemplate } from '../pipelines/types';

type Schemas = components['schemas'];

const enc = encodeURIComponent;

export type ExperimentStatus = Schemas['Experiment']['status'];
export const EXPERIMENT_STATUSES: readonly ExperimentStatus[] = [
  'running',
  'stopping',
  'stopped',
  'succeeded',
  'failed'
];
/** Statuses after which nothing changes unless the experiment is resumed. */
export const EXPERIMENT_FINAL: string[] = ['stopped', 'succeeded', 'failed'];

export type TrialStatus = Schemas['Trial']['status'];
export const TRIAL_STATUSES: readonly TrialStatus[] = [
  'pending',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'early-stopped'
];
export const TRIAL_FINAL: string[] = ['succeeded', 'failed', 'cancelled', 'early-stopped'];

export type IObjective = NonNullable<Schemas['ExperimentSpec']['objective']>;
export type Direction = IObjective['direction'];

/** The trial definition: a template's task with resources (the document types it as an object). */
export interface ITrialSpec {
  template: string;
  template_version?: string | null;
  args: Record<string, unknown>;
  cpu: string;
  memory: string;
  gpu: string;
  volume_mount?: string;
  node_selector?: string;
  retries?: number;
  timeout?: number;
  env?: Record<string, string>;
  /** "nni": the trial SDK; "stdout": Katib-style `name=value` lines */
  metrics?: 'nni' | 'stdout';
}

/**
 * What `POST /experiments` (and `/validate`) take.  The search space is sent
 * as the user wrote it, whatever its shape: the server names what is wrong.
 */
export type IExperimentSpec = Omit<
  Schemas['ExperimentSpec'],
  'search_space' | 'objective' | 'trial' | 'max_duration'
> & {
  search_space: unknown;
  objective: IObjective;
  trial: ITrialSpec;
  max_duration: number;
};

/** Trial counts by status; every count is a number. */
export type IProgress = { [K in keyof Schemas['Experiment']['progress']]: number };

export type IBest = NonNullable<Schemas['Experiment']['best']>;

export type IExperiment = Omit<Schemas['Experiment'], 'spec' | 'progress'> & {
  spec: IExperimentSpec;
  progress: IProgress;
};

/** A trial; `intermediate` only in `GET .../trials/{id}`. */
export type ITrial = Schemas['Trial'] & Partial<Pick<Schemas['TrialDetail'], 'intermediate'>>;

/** One metric point (`GET .../metrics`, `event: metric`); `value` is null for a non-finite report. */
export type IMetricPoint = Schemas['MetricPoint'];

/** A diagnostic; the form adds its own without a field (a failed request) or an accepted form. */
export type IExperimentDiagnostic = Omit<
  Schemas['ExperimentDiagnostics']['diagnostics'][number],
  'field' | 'accepted'
> & {
  field: string | null;
  accepted?: string | null;
};

export type ITunerInfo = Schemas['TunerCatalogue']['tuners'][number];

/** An assessor (early stopping): its name, arguments and what it does. */
export interface IAssessorInfo {
  name: string;
  builtin?: string;
  args: Record<string, unknown>;
  description: string;
}

export type ITunerCatalog = Omit<Schemas['TunerCatalogue'], 'assessors'> & { assessors: IAssessorInfo[] };

export interface IExperimentFilter {
  project?: string;
  status?: string;
  q?: string;
}

/** What the experiment's event stream delivers, one callback per event kind. */
export interface IExperimentEvents {
  experiment?: (e: IExperiment) => void;
  trial?: (t: ITrial) => void;
  metric?: (m: IMetricPoint) => void;
}

export class ExperimentsClient {
  constructor(readonly api: CubeLabClient) {}

  /** One page of the experiments of a project (or all the user's projects), newest first. */
  listPage(filter: IExperimentFilter = {}, cursor: string | null = null, limit?: number): Promise<IPage<IExperiment>> {
    return fetchPage(this.api, 'experiments', 'experiments', {
      cursor,
      limit,
      filters: { project: filter.project, status: filter.status, q: filter.q }
    });
  }

  get(id: number): Promise<IExperiment> {
    return this.api.call('GET', `experiments/${id}`);
  }

  create(spec: IExperimentSpec): Promise<IExperiment> {
    return this.api.call('POST', 'experiments', spec);
  }

  /** Field-named diagnostics of a draft (the form calls it as the user types). */
  async validate(spec: unknown): Promise<IExperimentDiagnostic[]> {
    return (await this.api.call<{ diagnostics: IExperimentDiagnostic[] }>('POST', 'experiments/validate', spec))
      .diagnostics;
  }

  tuners(): Promise<ITunerCatalog> {
    return this.api.call('GET', 'experiments/tuners');
  }

  stop(id: number): Promise<IExperiment> {
    return this.api.call('POST', `experiments/${id}/stop`);
  }

  resume(id: number): Promise<IExperiment> {
    return this.api.call('POST', `experiments/${id}/resume`);
  }

  remove(id: number): Promise<void> {
    return this.api.call('DELETE', `experiments/${id}`);
  }

  trialsPage(
    id: number,
    order: 'seq' | 'metric' = 'seq',
    cursor: string | null = null,
    limit?: number
  ): Promise<IPage<ITrial>> {
    return fetchPage(this.api, `experiments/${id}/trials`, 'trials', { cursor, limit, filters: { order } });
  }

  /** Every trial, page after page (an experiment has at most `max_trials` of them plus re-runs). */
  async allTrials(id: number): Promise<ITrial[]> {
    const out: ITrial[] = [];
    let cursor: string | null = null;
    do {
      const page: IPage<ITrial> = await this.trialsPage(id, 'seq', cursor, 200);
      out.push(...page.items);
      cursor = page.next;
    } while (cursor);
    return out;
  }

  trial(id: number, trialId: string): Promise<ITrial> {
    return this.api.call('GET', `experiments/${id}/trials/${enc(trialId)}`);
  }

  rerun(id: number, trialId: string): Promise<ITrial> {
    return this.api.call('POST', `experiments/${id}/trials/${enc(trialId)}/rerun`);
  }

  /**
   * Every metric point after `after` (a metric id), oldest first: page after
   * page, each asked for after the last id received.
   */
  async metricsAfter(id: number, after = 0): Promise<IMetricPoint[]> {
    const out: IMetricPoint[] = [];
    let last = after;
    for (;;) {
      const page: IPage<IMetricPoint> = await fetchPage(this.api, `experiments/${id}/metrics`, 'metrics', {
        limit: MAX_PAGE,
        filters: { after: last }
      });
      out.push(...page.items);
      const newest = page.items.length ? page.items[page.items.length - 1].id : last;
      if (!page.next || newest === last) {
        return out;
      }
      last = newest;
    }
  }

  /** Path (relative to the API root) of a trial's log; `follow` streams. */
  logPath(id: number, trialId: string, follow: boolean): string {
    return `experiments/${id}/trials/${enc(trialId)}/logs${follow ? '?follow=1' : ''}`;
  }

  /**
   * Follow an experiment's server-sent events; resolves when the stream ends
   * (the experiment is final) and rejects when it breaks.
   */
  events(id: number, on: IExperimentEvents, signal: AbortSignal): Promise<void> {
    const parser = new EventStreamParser(event => {
      let data: unknown;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      if (event.event === 'experiment') {
        on.experiment?.(data as IExperiment);
      } else if (event.event === 'trial') {
        on.trial?.(data as ITrial);
      } else if (event.event === 'metric') {
        on.metric?.(data as IMetricPoint);
      }
    });
    return this.api.stream(`experiments/${id}/events`, text => parser.push(text), signal);
  }

  /** One page of the job templates (the trial picker), searched by the server. */
  templatesPage(q = '', cursor: string | null = null, limit?: number): Promise<IPage<ITemplate>> {
    return fetchPage(this.api, 'templates', 'templates', { cursor, limit, filters: { q: q || undefined } });
  }

  template(name: string, version?: string | null): Promise<ITemplate> {
    return this.api.call('GET', `templates/${enc(name)}/${enc(version || 'Release')}`);
  }
}
