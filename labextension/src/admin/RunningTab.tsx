/** What is running: servers, tasks, trials, services and builds of every project, live, with Stop. */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import { BusyLabel, useBusy } from '../accounts/actions';
import { useDebounced } from '../usePagedList';
import { errorMessage, useResource } from '../useResource';
import { AdminClient } from './client';
import { ErrorBanner, UseCell, when } from './common';
import { filterRunning, IRunningFilter, NO_FILTER, runningTotals, totalRows } from './logic';
import { IRunningItem, ITotal, WORK_KINDS, WorkKind } from './types';

/** How often the list is asked again while the tab is open. */
const POLL_MS = 5000;

export function RunningTab(props: { client: AdminClient }): JSX.Element {
  const { client } = props;
  const [form, setForm] = React.useState<IRunningFilter>(NO_FILTER);
  const filter = useDebounced(form);
  const running = useResource(() => client.running(filter, null), [client, filter], { intervalMs: POLL_MS });
  const { busy, run } = useBusy();
  const [error, setError] = React.useState<string | null>(null);
  // between polls the list is filtered here too, so a changed filter shows at once
  const items = filterRunning(running.data?.items ?? [], form);
  const totals = running.data?.totals ?? runningTotals(items);

  const stop = async (item: IRunningItem) => {
    const r = await showDialog({
      title: `Stop ${item.kind} ${item.name}?`,
      body: `${item.user}'s ${item.kind} ${item.name}${item.project ? ` in ${item.project}` : ''} is stopped (a run or trial is cancelled, a service scaled to 0).`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Stop' })]
    });
    if (!r.button.accept) {
      return;
    }
    await run(`${item.kind}/${item.id}`, 'Stopping…', async () => {
      try {
        await client.stop(item.kind, item.id);
        setError(null);
      } catch (err) {
        setError(errorMessage(err));
      }
      await running.reload();
    });
  };

  return (
    <div className="cl-AdminRunning" data-testid="cubelab-admin-running">
      <div className="cl-Filters">
        <select
          className="jp-mod-styled"
          aria-label="Kind of work"
          data-testid="cubelab-admin-running-kind"
          value={form.kind}
          onChange={e => setForm({ ...form, kind: e.target.value as WorkKind | '' })}
        >
          <option value="">every kind</option>
          {WORK_KINDS.map(k => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
        <input
          className="jp-mod-styled cl-Input"
          placeholder="Project"
          aria-label="Project"
          data-testid="cubelab-admin-running-project"
          value={form.project}
          onChange={e => setForm({ ...form, project: e.target.value.trim() })}
        />
        <input
          className="jp-mod-styled cl-Input"
          placeholder="User"
          aria-label="User"
          data-testid="cubelab-admin-running-user"
          value={form.user}
          onChange={e => setForm({ ...form, user: e.target.value.trim() })}
        />
      </div>
      <ErrorBanner error={error ?? running.error} />
      <table className="cl-Table cl-AdminTable" aria-label="Running" data-testid="cubelab-admin-running-list">
        <thead>
          <tr>
            <th>Kind</th>
            <th>Name</th>
            <th>Project</th>
            <th>User</th>
            <th>Status</th>
            <th>Started</th>
            <th>Use</th>
            <th>Cluster</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {items.map(item => {
            const key = `${item.kind}/${item.id}`;
            return (
              <tr key={key} data-kind={item.kind} data-id={item.id} aria-busy={busy[key] ? true : undefined}>
                <td>{item.kind}</td>
                <td>{item.name}</td>
                <td>{item.project ?? '—'}</td>
                <td>{item.user}</td>
                <td>{item.status}</td>
                <td>{when(item.started)}</td>
                <td>
                  <UseCell use={item.use} />
                </td>
                <td>{item.cluster}</td>
                <td>
                  <button
                    type="button"
                    className="jp-Button jp-mod-styled jp-mod-warn cl-Button cl-SmallButton"
                    data-testid="cubelab-admin-stop"
                    aria-label={`Stop ${item.kind} ${item.name}`}
                    disabled={!!busy[key]}
                    onClick={() => void stop(item)}
                  >
                    {busy[key] ? <BusyLabel doing={busy[key]} testid="cubelab-admin-stop-busy" /> : 'Stop'}
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {running.data && !items.length ? (
        <p className="cl-Empty">
          Nothing is running{filter.kind || filter.project || filter.user ? ' that matches' : ''}.
        </p>
      ) : null}
      <div className="cl-AdminTotals">
        <Totals title="Per project" rows={totals.by_project} testid="cubelab-admin-totals-project" />
        <Totals title="Per user" rows={totals.by_user} testid="cubelab-admin-totals-user" />
      </div>
    </div>
  );
}

function Totals(props: { title: string; rows: Record<string, ITotal>; testid: string }): JSX.Element {
  return (
    <table className="cl-Table cl-AdminTable" aria-label={props.title} data-testid={props.testid}>
      <caption>{props.title}</caption>
      <thead>
        <tr>
          <th />
          <th>Count</th>
          <th>Use</th>
        </tr>
      </thead>
      <tbody>
        {totalRows(props.rows).map(r => (
          <tr key={r.key}>
            <td>{r.key}</td>
            <td>{r.count}</td>
            <td>
              <UseCell use={r} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
