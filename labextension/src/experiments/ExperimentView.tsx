/**
 * The experiment view (a main-area tab): header with status, progress and
 * actions; the trial table; live curves and parallel coordinates; the best
 * trial's parameters; a trial's log.  Everything follows the model, which
 * follows the experiment's event stream.
 */
import { Clipboard } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import * as React from 'react';

import { Button } from '../components';
import { EXPERIMENT_FINAL, ITrial, TRIAL_FINAL } from './client';
import { curvesSpec, parallelSpec } from './charts';
import { trialList } from './live';
import { ExperimentModel } from './model';
import {
  asTaskArgs,
  bestTrial,
  formatSeconds,
  formatValue,
  ISort,
  nextSort,
  parameterNames,
  progressText,
  SortKey,
  sortTrials
} from './trials';
import { VegaChart } from './VegaChart';

/** Re-render on every change of the model. */
function useModel(model: ExperimentModel): void {
  const [, setTick] = React.useState(0);
  React.useEffect(() => {
    const slot = () => setTick(t => t + 1);
    model.changed.connect(slot);
    return () => {
      model.changed.disconnect(slot);
    };
  }, [model]);
}

const END_REASONS: Record<string, string> = {
  max_trials: 'reached the maximum number of trials',
  max_duration: 'reached the maximum duration',
  goal: 'reached the goal',
  max_failed_trials: 'too many trials failed',
  search_space_exhausted: 'the tuner has no more parameters to try',
  stopped: 'stopped'
};

export function ExperimentView(props: { model: ExperimentModel; rendermime: IRenderMimeRegistry }): JSX.Element {
  const { model } = props;
  useModel(model);
  const [sort, setSort] = React.useState<ISort>({ key: 'seq', descending: false });
  const [logTrial, setLogTrial] = React.useState<string | null>(null);
  const [copied, setCopied] = React.useState(false);
  const e = model.experiment;
  if (!e) {
    return (
      <div className="cl-ExperimentView" data-testid="cubelab-experiment-view">
        {model.error ? (
          <div className="cl-FieldError cl-Banner" role="alert">
            {model.error}
          </div>
        ) : (
          <p className="cl-Loading">Loading…</p>
        )}
      </div>
    );
  }
  const direction = e.spec.objective?.direction ?? 'maximize';
  const metric = e.spec.objective?.metric || 'default';
  const trials = trialList(model.state);
  const best = bestTrial(trials, direction);
  const bestId = e.best?.trial_id ?? best?.id ?? null;
  const bestParams = e.best?.parameters ?? best?.parameters ?? null;
  const params = parameterNames(trials);
  const rows = sortTrials(trials, sort);
  const final = EXPERIMENT_FINAL.includes(e.status);
  const header = (key: SortKey, label: string) => (
    <th
      scope="col"
      aria-sort={sort.key === key ? (sort.descending ? 'descending' : 'ascending') : 'none'}
      data-sort-key={key}
    >
      <button type="button" className="cl-SortButton" onClick={() => setSort(nextSort(sort, key, direction))}>
        {label}
        {sort.key === key ? (sort.descending ? ' ▼' : ' ▲') : ''}
      </button>
    </th>
  );
  const copy = () => {
    if (!bestParams) {
      return;
    }
    Clipboard.copyToSystem(JSON.stringify(asTaskArgs(bestParams)));
    setCopied(true);
    setTimeout(() => setCopied(false), 2000);
  };
  const logOf = trials.find(t => t.id === logTrial) ?? null;
  return (
    <div className="cl-ExperimentView" data-testid="cubelab-experiment-view" data-status={e.status}>
      <header className="cl-ExperimentHeader">
        <h2 className="cl-ExperimentTitle">
          {e.name} <span className="cl-ProjectDesc">{e.project}</span>
        </h2>
        <span className={`cl-StatusText cl-status-${e.status}`} data-testid="cubelab-experiment-status">
          {e.status}
        </span>
        <span data-testid="cubelab-experiment-progress" title="trials created / maximum">
          {progressText(e.progress)} trials
        </span>
        <span className="cl-ProjectDesc">
          {e.progress.running} running · {e.progress.succeeded} succeeded · {e.progress.failed} failed
          {e.progress.early_stopped ? ` · ${e.progress.early_stopped} stopped early` : ''}
        </span>
        <span className="cl-ProjectDesc">
          {e.spec.tuner} · {direction} {metric}
          {e.spec.objective?.goal !== null && e.spec.objective?.goal !== undefined
            ? ` (goal ${e.spec.objective.goal})`
            : ''}
        </span>
        {e.end_reason ? (
          <span data-testid="cubelab-experiment-end-reason">ended: {END_REASONS[e.end_reason] ?? e.end_reason}</span>
        ) : null}
        <span className="cl-Spacer" />
        {model.live ? <span className="cl-Following">live</span> : null}
        {!final ? (
          <Button
            kind="warn"
            testid="cubelab-experiment-stop"
            disabled={!!model.busy || e.status === 'stopping'}
            aria-busy={model.busy === 'stop'}
            onClick={() => void model.stop()}
          >
            {model.busy === 'stop' || e.status === 'stopping' ? 'Stopping…' : 'Stop'}
          </Button>
        ) : (
          <Button
            testid="cubelab-experiment-resume"
            disabled={!!model.busy}
            aria-busy={model.busy === 'resume'}
            onClick={() => void model.resume()}
          >
            {model.busy === 'resume' ? 'Resuming…' : 'Resume'}
          </Button>
        )}
      </header>
      {e.message ? <div className="cl-Field-help">{e.message}</div> : null}
      {model.error ? (
        <div className="cl-FieldError cl-Banner" role="alert">
          {model.error}
        </div>
      ) : null}

      <section className="cl-ExperimentBlock" aria-label="Trials">
        <h3>Trials</h3>
        {!trials.length ? (
          <p className="cl-Empty">No trials yet.</p>
        ) : (
          <table className="cl-TrialTable" data-testid="cubelab-trials">
            <thead>
              <tr>
                {header('seq', '#')}
                {params.map(p => header(`param:${p}`, p))}
                {header('status', 'status')}
                {header('final_value', metric)}
                {header('duration_seconds', 'duration')}
                <th scope="col">
                  <span className="cl-VisuallyHidden">actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map(t => (
                <TrialRow
                  key={t.id}
                  trial={t}
                  params={params}
                  best={t.id === bestId}
                  selected={t.id === logTrial}
                  busy={model.busy === `rerun:${t.id}`}
                  onLog={() => setLogTrial(t.id === logTrial ? null : t.id)}
                  onRerun={() => void model.rerun(t.id)}
                  canRerun={!model.busy}
                />
              ))}
            </tbody>
          </table>
        )}
      </section>

      {logOf ? <TrialLog model={model} trial={logOf} onClose={() => setLogTrial(null)} /> : null}

      <section className="cl-ExperimentBlock" aria-label="Best trial" data-testid="cubelab-experiment-best">
        <h3>Best trial</h3>
        {bestParams ? (
          <>
            <p>
              #{e.best?.seq ?? best?.seq} · {metric} = {formatValue(e.best?.value ?? best?.final_value)}
            </p>
            <pre className="cl-Code" data-testid="cubelab-experiment-best-parameters">
              {JSON.stringify(bestParams, null, 2)}
            </pre>
            <Button
              testid="cubelab-copy-task-args"
              title='Copy as a pipeline task&apos;s arguments: {"--name": value}'
              onClick={copy}
            >
              {copied ? 'Copied' : 'Copy as task arguments'}
            </Button>
          </>
        ) : (
          <p className="cl-Empty">No trial has finished with a {metric} value yet.</p>
        )}
      </section>

      <section className="cl-ExperimentBlock" aria-label="Intermediate results">
        <h3>Intermediate results</h3>
        {Object.keys(model.state.curves).length ? (
          <VegaChart
            rendermime={props.rendermime}
            spec={curvesSpec(model.state.curves, {
              metric,
              bestTrialId: bestId,
              seqOf: id => model.state.trials[id]?.seq
            })}
            testid="cubelab-experiment-curves"
            label="intermediate results per trial"
          />
        ) : (
          <p className="cl-Empty" data-testid="cubelab-experiment-curves-empty">
            No intermediate results yet.
          </p>
        )}
      </section>

      <section className="cl-ExperimentBlock" aria-label="Parameters against the metric">
        <h3>Parameters against {metric}</h3>
        {trials.some(t => typeof t.final_value === 'number') ? (
          <VegaChart
            rendermime={props.rendermime}
            spec={parallelSpec(trials, { metric, parameters: params, bestTrialId: bestId })}
            testid="cubelab-experiment-parallel"
            label="parameters against the metric"
          />
        ) : (
          <p className="cl-Empty">No final results yet.</p>
        )}
      </section>
    </div>
  );
}

function TrialRow(props: {
  trial: ITrial;
  params: string[];
  best: boolean;
  selected: boolean;
  busy: boolean;
  canRerun: boolean;
  onLog: () => void;
  onRerun: () => void;
}): JSX.Element {
  const t = props.trial;
  return (
    <tr
      className={`cl-TrialRow${props.best ? ' cl-mod-best' : ''}${props.selected ? ' cl-mod-selected' : ''}`}
      data-trial={t.id}
      data-trial-seq={t.seq}
      data-status={t.status}
      data-best={props.best ? 'true' : undefined}
      aria-selected={props.selected}
    >
      <td>
        <button
          type="button"
          className="cl-LinkButton"
          data-testid="cubelab-trial-log-open"
          title="Show this trial's log"
          onClick={props.onLog}
        >
          #{t.seq}
        </button>
        {props.best ? (
          <span className="cl-BestBadge" title="best trial">
            {' '}
            ★
          </span>
        ) : null}
      </td>
      {props.params.map(p => (
        <td key={p} data-param={p}>
          {formatValue(t.parameters?.[p])}
        </td>
      ))}
      <td>
        <span className={`cl-StatusText cl-status-${t.status}`} title={t.message ?? undefined}>
          {t.status}
        </span>
      </td>
      <td data-testid="cubelab-trial-metric">{formatValue(t.final_value)}</td>
      <td>{formatSeconds(t.duration_seconds)}</td>
      <td>
        <Button
          testid="cubelab-trial-rerun"
          title="Run these parameters again as a new trial"
          disabled={!props.canRerun || !TRIAL_FINAL.includes(t.status)}
          aria-busy={props.busy}
          onClick={props.onRerun}
        >
          {props.busy ? 'Re-running…' : 'Re-run'}
        </Button>
      </td>
    </tr>
  );
}

/** A trial's log: followed while the trial runs, read once when it has ended. */
function TrialLog(props: { model: ExperimentModel; trial: ITrial; onClose: () => void }): JSX.Element {
  const { model, trial } = props;
  const phase = TRIAL_FINAL.includes(trial.status) ? 'final' : trial.status === 'running' ? 'running' : 'pending';
  const [text, setText] = React.useState('');
  const [error, setError] = React.useState<string | null>(null);
  const pre = React.useRef<HTMLPreElement>(null);
  const stick = React.useRef(true);
  React.useEffect(() => {
    setText('');
    setError(null);
    if (phase === 'pending') {
      return;
    }
    const ctrl = new AbortController();
    let got = '';
    model.client.api
      .stream(
        model.client.logPath(model.id, trial.id, phase === 'running'),
        chunk => {
          got += chunk;
          setText(got);
        },
        ctrl.signal
      )
      .catch(err => {
        if (!ctrl.signal.aborted) {
          setError((err as Error).message);
        }
      });
    return () => ctrl.abort();
  }, [trial.id, phase]);
  React.useEffect(() => {
    if (pre.current && stick.current) {
      pre.current.scrollTop = pre.current.scrollHeight;
    }
  }, [text]);
  return (
    <section className="cl-ExperimentBlock cl-LogView" data-testid="cubelab-trial-log" data-trial={trial.id}>
      <div className="cl-LogView-head">
        <strong>Trial #{trial.seq}</strong>
        <span className={`cl-StatusText cl-status-${trial.status}`}>{trial.status}</span>
        {phase === 'running' ? <span className="cl-Following">following…</span> : null}
        <span className="cl-Spacer" />
        <Button onClick={props.onClose}>Close log</Button>
      </div>
      {trial.message ? <div className="cl-Field-help">{trial.message}</div> : null}
      {error ? (
        <div className="cl-FieldError" role="alert">
          {error}
        </div>
      ) : null}
      <pre
        ref={pre}
        className="cl-LogText"
        data-testid="cubelab-trial-log-text"
        tabIndex={0}
        aria-label={`Log of trial ${trial.seq}`}
        onScroll={ev => {
          const el = ev.currentTarget;
          stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
        }}
      >
        {phase === 'pending' ? 'Waiting for the trial to start…' : text}
      </pre>
    </section>
  );
}
