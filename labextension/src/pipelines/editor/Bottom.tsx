import * as React from 'react';

import { focusTarget, sortDiagnostics } from '../diagnostics';
import { LoadMore } from '../../components';
import { usePagedList } from '../../usePagedList';
import { IRun, RUN_FINAL, TASK_FINAL } from '../types';
import { RunStatusFilter } from '../RunStatusFilter';
import { STATUS_ICONS } from './Canvas';
import { EditorModel } from './model';
import { duration, formatTime } from '../format';

export type LogStreamer = (path: string, onText: (chunk: string) => void, signal: AbortSignal) => Promise<void>;

function StatusText(props: { status: string }): JSX.Element {
  return (
    <span className={`cl-StatusText cl-status-${props.status}`} data-status={props.status}>
      <span className="cl-StatusIcon" aria-hidden="true">
        {STATUS_ICONS[props.status] ?? '•'}
      </span>{' '}
      {props.status}
    </span>
  );
}

/** The server's diagnostics; clicking one focuses its task or edge. */
export function Problems(props: { model: EditorModel; onFocusTask: (task: string) => void }): JSX.Element {
  const { model } = props;
  const diags = sortDiagnostics(model.diagnostics);
  if (!diags.length) {
    return (
      <p className="cl-Empty" data-testid="cubelab-problems">
        No problems.
      </p>
    );
  }
  return (
    <ul className="cl-Problems" data-testid="cubelab-problems" aria-label="Problems">
      {diags.map((d, i) => {
        const target = focusTarget(d);
        return (
          <li key={i}>
            <button
              type="button"
              className={`cl-Problem cl-sev-${d.severity}`}
              data-testid="cubelab-problem"
              data-task={d.task ?? ''}
              data-field={d.field ?? ''}
              onClick={() => {
                if (target.kind === 'task') {
                  props.onFocusTask(target.task);
                } else if (target.kind === 'edge') {
                  model.select([], [target.edge]);
                } else {
                  model.select([], []);
                }
              }}
            >
              <span className="cl-Problem-sev" aria-label={d.severity}>
                {d.severity === 'error' ? '!' : '?'}
              </span>
              <span className="cl-Problem-where">
                {d.task ? d.task : d.edge ? `${d.edge[0]} → ${d.edge[1]}` : 'pipeline'}
              </span>
              <span className="cl-Problem-msg">{d.message}</span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}

function LogView(props: { model: EditorModel; run: IRun; task: string; stream: LogStreamer }): JSX.Element {
  const { run, task } = props;
  const t = run.tasks?.find(x => x.name === task);
  const phase = !t ? 'none' : TASK_FINAL.includes(t.status) ? 'final' : t.status === 'running' ? 'running' : 'pending';
  const [text, setText] = React.useState('');
  const [error, setError] = React.useState<string | null>(null);
  const pre = React.useRef<HTMLPreElement>(null);
  const stick = React.useRef(true);
  React.useEffect(() => {
    if (phase === 'none' || phase === 'pending') {
      setText('');
      return;
    }
    const ctrl = new AbortController();
    let streamed = '';
    let polled = '';
    let streamLive = false;
    const show = () => setText(streamed.length >= polled.length ? streamed : polled);
    setText('');
    setError(null);
    props
      .stream(
        props.model.client.logPath(run.id, task, phase === 'running'),
        chunk => {
          streamed += chunk;
          streamLive = true;
          show();
        },
        ctrl.signal
      )
      .catch(err => {
        if (!ctrl.signal.aborted) {
          setError((err as Error).message);
        }
      });
    // if something on the way buffers the followed response, read the log
    // so far every 1.5 s until the stream shows it is live
    let timer: ReturnType<typeof setInterval> | null = null;
    if (phase === 'running') {
      timer = setInterval(() => {
        if (streamLive) {
          return;
        }
        let text = '';
        props
          .stream(props.model.client.logPath(run.id, task, false), chunk => (text += chunk), ctrl.signal)
          .then(() => {
            if (text.length > polled.length) {
              polled = text;
              show();
            }
          })
          .catch(() => undefined);
      }, 1500);
    }
    return () => {
      ctrl.abort();
      if (timer) {
        clearInterval(timer);
      }
    };
  }, [run.id, task, phase]);
  React.useEffect(() => {
    if (pre.current && stick.current) {
      pre.current.scrollTop = pre.current.scrollHeight;
    }
  }, [text]);
  return (
    <div className="cl-LogView" data-testid="cubelab-log" data-task={task}>
      <div className="cl-LogView-head">
        <strong>{task}</strong>
        {t ? <StatusText status={t.status} /> : null}
        {t ? <span>attempts {t.attempts}</span> : null}
        {t && t.exit_code !== null ? <span data-testid="cubelab-exit-code">exit code {t.exit_code}</span> : null}
        {t?.started_at ? <span>{duration(t.started_at, t.finished_at)}</span> : null}
        {phase === 'running' ? <span className="cl-Following">following…</span> : null}
      </div>
      {t?.message ? <div className="cl-Field-help">{t.message}</div> : null}
      {t && Object.keys(t.outputs ?? {}).length ? (
        <details className="cl-Outputs">
          <summary>Outputs</summary>
          <pre>{JSON.stringify(t.outputs, null, 2)}</pre>
        </details>
      ) : null}
      {error ? (
        <div className="cl-FieldError" role="alert">
          {error}
        </div>
      ) : null}
      <pre
        ref={pre}
        className="cl-LogText"
        data-testid="cubelab-log-text"
        tabIndex={0}
        aria-label={`Log of ${task}`}
        onScroll={e => {
          const el = e.currentTarget;
          stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
        }}
      >
        {phase === 'pending' ? 'Waiting for the task to start…' : text}
      </pre>
    </div>
  );
}

/** The run on the canvas: status, actions, per-task log. */
export function RunPanel(props: { model: EditorModel; stream: LogStreamer }): JSX.Element {
  const { model } = props;
  const run = model.run;
  if (!run) {
    return <p className="cl-Empty">No run shown. Press Run, or open one from History.</p>;
  }
  const active = !RUN_FINAL.includes(run.status);
  const task = model.logTask;
  return (
    <div className="cl-RunPanel" data-testid="cubelab-run" data-run={run.id} data-status={run.status}>
      <div className="cl-RunPanel-head">
        <StatusText status={run.status} />
        <span>
          run <code>{run.id}</code> · {run.trigger} · {formatTime(run.started_at ?? run.created_at)}
          {run.started_at ? ` · ${duration(run.started_at, run.finished_at)}` : ''}
        </span>
        {model.viewingRun ? <span className="cl-RoleBadge">read-only</span> : null}
        <span className="cl-Spacer" />
        {model.canRun && active ? (
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-warn cl-Button"
            data-testid="cubelab-run-cancel"
            onClick={() => void model.cancelRun()}
          >
            Cancel
          </button>
        ) : null}
        {model.canRun && !active ? (
          <>
            <button
              type="button"
              className="jp-Button jp-mod-styled cl-Button"
              data-testid="cubelab-run-rerun"
              onClick={() => void model.rerun('all')}
            >
              Re-run
            </button>
            {run.status !== 'succeeded' ? (
              <button
                type="button"
                className="jp-Button jp-mod-styled cl-Button"
                data-testid="cubelab-run-rerun-failed"
                onClick={() => void model.rerun('failed')}
              >
                Re-run from failed
              </button>
            ) : null}
          </>
        ) : null}
        <button
          type="button"
          className="jp-Button jp-mod-styled cl-Button"
          data-testid="cubelab-run-close"
          onClick={() => model.closeRun()}
        >
          Back to editing
        </button>
      </div>
      {run.message ? <div className="cl-Field-help">{run.message}</div> : null}
      <div className="cl-RunPanel-body">
        <ul className="cl-RunTasks" aria-label="Tasks of the run">
          {(run.tasks ?? []).map(t => (
            <li key={t.name}>
              <button
                type="button"
                className={`cl-RunTask${task === t.name ? ' cl-mod-selected' : ''}`}
                data-task={t.name}
                data-status={t.status}
                aria-pressed={task === t.name}
                onClick={() => model.select([t.name], [])}
              >
                <StatusText status={t.status} /> <span className="cl-RunTask-name">{t.name}</span>
              </button>
            </li>
          ))}
        </ul>
        {task ? (
          <LogView model={model} run={run} task={task} stream={props.stream} />
        ) : (
          <p className="cl-Empty">Select a task to see its log.</p>
        )}
      </div>
    </div>
  );
}

/** Past runs of the pipeline and its schedule records. */
export function History(props: { model: EditorModel; refresh: number }): JSX.Element {
  const { model } = props;
  const [status, setStatus] = React.useState('');
  const paged = usePagedList(cursor => model.client.runsPage(model.id, { status }, cursor), [model, status], {
    refresh: `${props.refresh}:${model.run?.id}:${model.run?.status}`
  });
  const recordPages = usePagedList(cursor => model.client.scheduleRecordsPage(model.id, cursor), [model], {
    refresh: props.refresh
  });
  const runs = paged.loaded ? paged.items : null;
  const records = recordPages.items;
  const error = paged.error;
  return (
    <div className="cl-History" data-testid="cubelab-history">
      <RunStatusFilter
        label="Filter the run history by status"
        testId="cubelab-history-status"
        value={status}
        onChange={setStatus}
      />
      {error ? (
        <div className="cl-FieldError" role="alert">
          {error}
        </div>
      ) : null}
      {runs && !runs.length ? <p className="cl-Empty">{status ? `No ${status} runs.` : 'No runs yet.'}</p> : null}
      {runs && runs.length ? (
        <table className="cl-Table" aria-label="Runs">
          <thead>
            <tr>
              <th>Status</th>
              <th>Trigger</th>
              <th>Started</th>
              <th>Duration</th>
              <th>By</th>
            </tr>
          </thead>
          <tbody>
            {runs.map(r => (
              <tr key={r.id} data-run={r.id} className={model.run?.id === r.id ? 'cl-mod-selected' : ''}>
                <td>
                  <button
                    type="button"
                    className="cl-LinkButton"
                    data-testid="cubelab-history-open"
                    aria-label={`Show run ${r.id} on the canvas`}
                    onClick={() => void model.showRun(r.id, RUN_FINAL.includes(r.status))}
                  >
                    <StatusText status={r.status} />
                  </button>
                </td>
                <td>{r.trigger}</td>
                <td>{formatTime(r.started_at ?? r.created_at)}</td>
                <td>{duration(r.started_at, r.finished_at)}</td>
                <td>{r.runner}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <LoadMore
        hasMore={paged.hasMore}
        loading={paged.loading}
        onClick={() => void paged.loadMore()}
        testid="cubelab-history-more"
      />
      {records.length ? (
        <>
          <h4 className="cl-Subsection-title">Schedule records</h4>
          <table className="cl-Table" aria-label="Schedule records" data-testid="cubelab-schedule-records">
            <thead>
              <tr>
                <th>Tick</th>
                <th>Status</th>
                <th>Reason</th>
              </tr>
            </thead>
            <tbody>
              {records.map(r => (
                <tr key={r.tick}>
                  <td>{formatTime(r.tick)}</td>
                  <td>{r.status}</td>
                  <td>{r.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <LoadMore
            hasMore={recordPages.hasMore}
            loading={recordPages.loading}
            onClick={() => void recordPages.loadMore()}
            testid="cubelab-schedule-records-more"
          />
        </>
      ) : null}
    </div>
  );
}
