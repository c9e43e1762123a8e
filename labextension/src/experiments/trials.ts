/**
 * The trial table's pure logic: columns, sorting, the best row, and the best
 * parameters as a pipeline task's arguments.
 */
import { Direction, ITrial } from './client';

/** A sortable column: a fixed one or a parameter (`param:<name>`). */
export type SortKey = 'seq' | 'status' | 'final_value' | 'duration_seconds' | `param:${string}`;

export interface ISort {
  key: SortKey;
  descending: boolean;
}

/** The parameter names of the trials, in first-seen order (the table's columns). */
export function parameterNames(trials: ITrial[]): string[] {
  const seen = new Set<string>();
  for (const t of trials) {
    for (const k of Object.keys(t.parameters ?? {})) {
      seen.add(k);
    }
  }
  return [...seen];
}

/** A parameter value as shown in a cell (nested choices are objects). */
export function formatValue(value: unknown): string {
  if (value === undefined || value === null) {
    return '';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
  }
  if (typeof value === 'object') {
    return JSON.stringify(value);
  }
  return String(value);
}

function sortValue(t: ITrial, key: SortKey): number | string | null {
  if (key.startsWith('param:')) {
    const v = t.parameters?.[key.slice('param:'.length)];
    if (v === undefined || v === null) {
      return null;
    }
    return typeof v === 'number' ? v : formatValue(v);
  }
  const v = t[key as keyof ITrial];
  return typeof v === 'number' || typeof v === 'string' ? v : null;
}

/**
 * Trials sorted by one column; rows without a value go last whichever the
 * direction, and ties keep the trials' order (seq).
 */
export function sortTrials(trials: ITrial[], sort: ISort): ITrial[] {
  const sign = sort.descending ? -1 : 1;
  return trials
    .map(t => ({ t, v: sortValue(t, sort.key) }))
    .sort((a, b) => {
      if (a.v === null || b.v === null) {
        return a.v === b.v ? a.t.seq - b.t.seq : a.v === null ? 1 : -1;
      }
      let c: number;
      if (typeof a.v === 'number' && typeof b.v === 'number') {
        c = a.v - b.v;
      } else {
        c = String(a.v).localeCompare(String(b.v), undefined, { numeric: true });
      }
      return c * sign || a.t.seq - b.t.seq;
    })
    .map(x => x.t);
}

/** Clicking a header: a new column sorts the natural way, the same column flips. */
export function nextSort(current: ISort, key: SortKey, direction: Direction): ISort {
  if (current.key === key) {
    return { key, descending: !current.descending };
  }
  // the metric column starts with the best first
  return { key, descending: key === 'final_value' ? direction === 'maximize' : false };
}

/**
 * The best finished trial for the objective's direction: the one with the
 * best final value, the earliest on ties (as the control plane records it).
 */
export function bestTrial(trials: ITrial[], direction: Direction): ITrial | null {
  let best: ITrial | null = null;
  for (const t of trials) {
    if (t.status !== 'succeeded' || typeof t.final_value !== 'number' || !Number.isFinite(t.final_value)) {
      continue;
    }
    if (
      !best ||
      (direction === 'maximize' ? t.final_value > best.final_value! : t.final_value < best.final_value!) ||
      (t.final_value === best.final_value && t.seq < best.seq)
    ) {
      best = t;
    }
  }
  return best;
}

/**
 * Parameters as the arguments of a pipeline task (`{"--lr": 0.01}`), the
 * same `--name=value` a trial received; nested choices stay objects.
 */
export function asTaskArgs(parameters: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parameters)) {
    out[k.startsWith('-') ? k : `--${k}`] = v;
  }
  return out;
}

/** `n/max` for lists and headers. */
export function progressText(progress: { trials: number; max_trials: number } | null | undefined): string {
  if (!progress) {
    return '';
  }
  return `${progress.trials}/${progress.max_trials}`;
}

/** A duration in seconds as the tables show it. */
export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '';
  }
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) {
    return `${s}s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m}m ${s % 60}s`;
  }
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}
