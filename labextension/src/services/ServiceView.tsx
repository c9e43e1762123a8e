/**
 * One service in a main-area tab: status and host, the traffic of its host,
 * deploy / stop / edit / delete, its replicas with their logs, the "try it"
 * panel and the history (deploys, upgrades, scaling decisions with reasons).
 */
import * as React from 'react';

import { Button, LoadMore, Spinner } from '../components';
import { usePagedList } from '../usePagedList';
import { errorMessage, useResource } from '../useResource';
import { IService, ServicesClient } from './client';
import { ReplicaLog } from './ReplicaLog';
import { SplitBar } from './SplitBar';
import { traffic } from './split';
import { TryIt } from './TryIt';

const SCALING = ['scale', 'scale-held'];

export interface IServiceViewProps {
  client: ServicesClient;
  id: number;
  edit: (service: IService) => void;
  /** the service changed here (deployed, stopped, deleted): the list reloads */
  changed: () => void;
  closed: () => void;
  onLoaded?: (service: IService) => void;
}

export function ServiceView(props: IServiceViewProps): JSX.Element {
  const { client, id } = props;
  const [polling, setPolling] = React.useState(2000);
  const service = useResource<IService>(() => client.get(id), [client, id], { intervalMs: polling });
  const s = service.data;
  React.useEffect(() => {
    if (s) {
      setPolling(s.status === 'deploying' ? 1000 : 3000);
      props.onLoaded?.(s);
    }
  }, [s]);
  const [log, setLog] = React.useState<number | null>(null);
  const [scalingOnly, setScalingOnly] = React.useState(false);
  const events = usePagedList(cursor => client.eventsPage(id, cursor), [client, id], {
    refresh: s ? `${s.status}|${s.generation}|${s.desired_replicas}` : ''
  });
  const [busy, setBusy] = React.useState(false);
  const act = async (what: () => Promise<IService | void>) => {
    setBusy(true);
    try {
      const answer = await what();
      if (answer) {
        service.setData(answer);
      }
      props.changed();
    } catch (err) {
      service.setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  if (!s) {
    return service.error ? (
      <div className="cl-FieldError cl-Banner" role="alert">
        {service.error}
      </div>
    ) : (
      <Spinner />
    );
  }
  const t = traffic(s);
  const canEdit = !!s.permissions?.edit;
  const url = String((s as any).url || `http://${s.host}`);
  const shownEvents = scalingOnly ? events.items.filter(e => SCALING.includes(e.kind)) : events.items;
  return (
    <div className="cl-ServiceView" data-testid="cubelab-service-view" data-status={s.status} data-service={s.name}>
      <div className="cl-ExperimentHeader">
        <h2 className="cl-ExperimentTitle">{s.name}</h2>
        <span className={`cl-StatusText cl-status-${s.status}`} data-testid="cubelab-service-status">
          {s.status}
        </span>
        <span data-testid="cubelab-service-replicas">
          {s.replicas.filter(r => r.status === 'healthy').length}/{s.desired_replicas} replicas healthy
        </span>
        <span>
          {s.project} · {s.kind} · owner {s.owner} · {s.expose === 'public' ? 'public' : 'project members only'}
        </span>
        <a href={url} target="_blank" rel="noreferrer" data-testid="cubelab-service-url">
          {url}
        </a>
        {canEdit ? (
          <span className="cl-Section-actions">
            <Button
              kind="accept"
              disabled={busy}
              testid="cubelab-service-deploy"
              onClick={() => void act(() => client.deploy(id))}
            >
              {s.status === 'stopped' || s.status === 'offline' || s.status === 'failed' ? 'Deploy' : 'Roll out'}
            </Button>
            <Button
              disabled={busy || s.status === 'stopped'}
              testid="cubelab-service-stop"
              onClick={() => void act(() => client.stop(id))}
            >
              Stop
            </Button>
            <Button disabled={busy} testid="cubelab-service-edit" onClick={() => props.edit(s)}>
              Edit
            </Button>
            <Button
              kind="warn"
              disabled={busy}
              testid="cubelab-service-delete"
              onClick={() =>
                void act(async () => {
                  if (window.confirm(`Delete ${s.name} with its history? Its replicas stop.`)) {
                    await client.remove(id);
                    props.closed();
                  }
                })
              }
            >
              Delete
            </Button>
          </span>
        ) : null}
      </div>
      {s.message ? <p className="cl-Field-help">{s.message}</p> : null}
      {service.error ? (
        <div className="cl-FieldError cl-Banner" role="alert">
          {service.error}
        </div>
      ) : null}

      <section className="cl-ExperimentBlock">
        <h3>Traffic on {s.host}</h3>
        <SplitBar traffic={t} />
      </section>

      <section className="cl-ExperimentBlock">
        <h3>Replicas</h3>
        {s.replicas.length ? (
          <table className="cl-Table" data-testid="cubelab-replicas">
            <thead>
              <tr>
                <th>#</th>
                <th>status</th>
                <th>generation</th>
                <th>port</th>
                <th>restarts</th>
                <th>last exit</th>
                <th>message</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {s.replicas.map(r => (
                <tr key={r.index} data-replica={r.index} data-status={r.status}>
                  <td>{r.index}</td>
                  <td className={`cl-StatusText cl-status-${r.status}`}>{r.status}</td>
                  <td>{r.generation}</td>
                  <td>{r.port ?? ''}</td>
                  <td>{r.restarts}</td>
                  <td>{r.last_exit ?? ''}</td>
                  <td>{r.message}</td>
                  <td>
                    <Button testid="cubelab-replica-logs" onClick={() => setLog(log === r.index ? null : r.index)}>
                      {log === r.index ? 'Hide log' : 'Log'}
                    </Button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p className="cl-Empty">No replicas: the service is {s.status}.</p>
        )}
        {log !== null ? <ReplicaLog client={client} serviceId={id} index={log} /> : null}
      </section>

      <section className="cl-ExperimentBlock">
        <h3>Try it</h3>
        <TryIt service={s} replicas={s.replicas} client={client} />
      </section>

      <section className="cl-ExperimentBlock">
        <h3>History</h3>
        <label className="cl-Field-help">
          <input
            type="checkbox"
            checked={scalingOnly}
            data-testid="cubelab-service-scaling-only"
            onChange={e => setScalingOnly(e.target.checked)}
          />{' '}
          Scaling decisions only
        </label>
        {events.error ? (
          <div className="cl-FieldError" role="alert">
            {events.error}
          </div>
        ) : null}
        <table className="cl-Table" data-testid="cubelab-service-events">
          <thead>
            <tr>
              <th>when</th>
              <th>what</th>
              <th>who</th>
              <th>message</th>
            </tr>
          </thead>
          <tbody>
            {shownEvents.map(e => (
              <tr key={e.id} data-kind={e.kind}>
                <td>{new Date(e.at).toLocaleString()}</td>
                <td>{e.kind}</td>
                <td>{e.actor ?? 'platform'}</td>
                <td>{e.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <LoadMore
          hasMore={events.hasMore}
          loading={events.loading}
          onClick={() => void events.loadMore()}
          testid="cubelab-service-events-more"
        />
      </section>
    </div>
  );
}
