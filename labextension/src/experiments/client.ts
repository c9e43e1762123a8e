/**
 * Calls of the experiments API (hyper-parameter search) and the shapes it
 * answers with.  The shapes are declared here from the REST contract until
 * `openapi.json` describes them; then they become aliases of the generated
 * types (`generated/api.ts`), as `pipelines/types.ts` does.
 */
import { fetchPage, IPage } from '../paging';
import { CubeLabClient } from '../request';
import { EventStreamParser } from '../sse';
import { ITemplate } from '../pipelines/types';

const enc = encodeURIComponent;

export const EXPERIMENT_STATUSES = ['running', 'stopping', 'stopped', 'succeeded', 'failed'] as const;
export type ExperimentStatus = (typeof EXPERIMENT_STATUSES)[number];
/** Statuses after which nothing changes unless the experiment is resumed. */
export const EXPERIMENT_FINAL: string[] = ['stopped', 'succeeded', 'failed'];

export const TRIAL_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'cancelled', 'early-stopped'] as const;
export type TrialStatus = (typeof TRIAL_STATUSES)[number];
export const TRIAL_FINAL: string[] = ['succeeded', 'failed', 'cancelled', 'early-stopped'];

export type Direction = 'maximize' | 'minimize';

export interface IObjective {
  metric: string;
  direction: Direction;
  goal: number | null;
}

/** The trial definition: a template's task with resources. */
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

/** What `POST /experiments` (and `/validate`) take. */
export interface IExperimentSpec {
  name: string;
  project: string;
  description?: string;
  search_space: unknown;
  tuner: string;
  tuner_args?: Record<string, unknown>;
  assessor?: string | null;
  assessor_args?: Record<string, unknown>;
  objective: IObjective;
  trial: ITrialSpec;
  trial_concurrency: number;
  max_trials: number;
  max_duration: number;
  max_failed_trials?: number | null;
  seed?: number | null;
}

export interface IProgress {
  trials: number;
  max_trials: number;
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  early_stopped: number;
  cancelled: number;
}

export interface IBest {
  trial_id: string;
  seq: number;
  value: number;
  parameters: Record<string, unknown>;
}

export interface IExperiment {
  id: number;
  name: string;
  project: string;
  creator: string | null;
  description: string;
  status: ExperimentStatus;
  end_reason: string | null;
  message: string | null;
  created_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  spec: IExperimentSpec;
  progress: IProgress;
  best: IBest | null;
}

export interface ITrial {
  id: string;
  experiment_id: number;
  seq: number;
  status: TrialStatus;
  parameters: Record<string, unknown>;
  final_value: number | null;
  intermediate_count: number;
  run_id: string | null;
  message: string | null;
  created_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  duration_seconds: number | null;
  source_trial_id: string | null;
  /** only in `GET .../trials/{id}` */
  intermediate?: { sequence: number; value: number }[];
}

/** One metric point (`GET .../metrics`, `event: metric`). */
export interface IMetricPoint {
  id: number;
  trial_id: string;
  /** the trial's seq */
  seq: number;
  kind: 'intermediate' | 'final';
  sequence: number;
  value: number;
}

export interface IExperimentDiagnostic {
  field: string | null;
  message: string;
  accepted?: string | null;
  severity: 'error' | 'warning';
}

export interface ITunerArgRule {
  [key: string]: unknown;
}

export interface ITunerInfo {
  name: string;
  kind: string;
  types: string[];
  flat_only: boolean;
  args: Record<string, ITunerArgRule>;
  description: string;
}

export interface ITunerCatalog {
  tuners: ITunerInfo[];
  assessors: ITunerInfo[];
  left_out: { name: string; reason: string }[];
}

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
        limit: 1000,
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
