/**
 * An experiment's live state, folded from its event stream (`experiment`,
 * `trial`, `metric` events) and from the pages loaded when the view opens or
 * the stream reconnects.  Pure: each function returns a new state.
 */
import { IExperiment, IMetricPoint, ITrial } from './client';

export interface ILiveState {
  experiment: IExperiment | null;
  /** by trial id */
  trials: Record<string, ITrial>;
  /** intermediate points by trial id, ordered by sequence (one per sequence) */
  curves: Record<string, IMetricPoint[]>;
  /** the newest metric id seen: a reconnect asks for what came after it */
  lastMetricId: number;
}

export const emptyLive = (): ILiveState => ({ experiment: null, trials: {}, curves: {}, lastMetricId: 0 });

export function withExperiment(state: ILiveState, experiment: IExperiment): ILiveState {
  return { ...state, experiment };
}

/** Trials from an event or a loaded page: each replaces the copy received before it. */
export function withTrials(state: ILiveState, trials: ITrial[]): ILiveState {
  if (!trials.length) {
    return state;
  }
  const next = { ...state.trials };
  for (const t of trials) {
    next[t.id] = t;
  }
  return { ...state, trials: next };
}

/**
 * Metric points: intermediate ones join their trial's curve (a point sent
 * again after a reconnect replaces the one with the same sequence); a final
 * one sets the trial's final value if the trial event has not yet.
 */
export function withMetrics(state: ILiveState, points: IMetricPoint[]): ILiveState {
  if (!points.length) {
    return state;
  }
  const curves = { ...state.curves };
  let trials = state.trials;
  let last = state.lastMetricId;
  for (const p of points) {
    last = Math.max(last, p.id);
    if (p.kind === 'final') {
      const t = trials[p.trial_id];
      if (t && t.final_value === null) {
        trials = { ...trials, [p.trial_id]: { ...t, final_value: p.value } };
      }
      continue;
    }
    const curve = (curves[p.trial_id] ?? []).filter(q => q.sequence !== p.sequence);
    curve.push(p);
    curve.sort((a, b) => a.sequence - b.sequence);
    curves[p.trial_id] = curve;
  }
  return { ...state, curves, trials, lastMetricId: last };
}

/** The trials in seq order. */
export function trialList(state: ILiveState): ITrial[] {
  return Object.values(state.trials).sort((a, b) => a.seq - b.seq);
}
