/**
 * The Services section of the CubeLab panel: a project's services with their
 * status, healthy/desired replicas, host and the traffic split at a glance.
 */
import { addIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { LoadMore } from '../components';
import { IMe } from '../projects/client';
import { useDebounced, usePagedList } from '../usePagedList';
import { IService, SERVICE_STATUSES, ServicesClient } from './client';
import { SplitBar } from './SplitBar';
import { receivedShares, traffic } from './split';

export interface IServiceOpener {
  open: (id: number) => void;
  create: (project: string) => void;
  /** subscribe to "services changed" (created, deployed, stopped); returns unsubscribe */
  onChange: (fn: () => void) => () => void;
}

const PAGE = 20;
const SETTLING: string[] = ['deploying'];

export function replicasText(s: IService): string {
  const healthy = (s.replicas ?? []).filter(r => r.status === 'healthy').length;
  return `${healthy}/${s.desired_replicas ?? 0}`;
}

export function ServicesSection(props: {
  me: IMe;
  client: ServicesClient;
  opener: IServiceOpener;
  refresh: number;
}): JSX.Element {
  const { client, me } = props;
  const [project, setProject] = React.useState('');
  const [status, setStatus] = React.useState('');
  const [search, setSearch] = React.useState('');
  const q = useDebounced(search.trim());
  const [settling, setSettling] = React.useState(false);
  const list = usePagedList(
    cursor => client.listPage({ project, status, q }, cursor, PAGE),
    [client, project, status, q],
    { subscribe: props.opener.onChange, refresh: props.refresh, intervalMs: settling ? 2000 : 15000 }
  );
  const items = list.loaded ? list.items : null;
  const received = React.useMemo(() => receivedShares(items ?? []), [items]);
  React.useEffect(() => {
    setSettling((items ?? []).some(s => SETTLING.includes(s.status)));
  }, [items]);
  return (
    <div className="cl-Services" data-testid="cubelab-services">
      <div className="cl-Filters">
        <select
          className="jp-mod-styled cl-Select"
          aria-label="Filter services by project"
          data-testid="cubelab-services-project"
          value={project}
          onChange={e => setProject(e.target.value)}
        >
          <option value="">All projects</option>
          {me.projects.map(p => (
            <option key={p.name} value={p.name}>
              {p.name}
            </option>
          ))}
        </select>
        <select
          className="jp-mod-styled cl-Select"
          aria-label="Filter services by status"
          data-testid="cubelab-services-status"
          value={status}
          onChange={e => setStatus(e.target.value)}
        >
          <option value="">Any status</option>
          {SERVICE_STATUSES.map(s => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <input
          type="search"
          className="jp-mod-styled cl-Input"
          placeholder="Search by name"
          aria-label="Search services by name"
          data-testid="cubelab-services-search"
          value={search}
          onChange={e => setSearch(e.target.value)}
        />
        <button
          type="button"
          className="cl-IconButton"
          aria-label="New service"
          title="New service"
          data-testid="cubelab-new-service"
          onClick={() => props.opener.create(project || me.projects[0]?.name || 'public')}
        >
          <addIcon.react tag="span" elementSize="normal" />
        </button>
      </div>
      {list.error ? (
        <div className="cl-FieldError cl-Banner" role="alert">
          {list.error}
        </div>
      ) : null}
      {items && !items.length ? (
        <p className="cl-Empty">{status || q ? 'No service matches.' : 'No services.'}</p>
      ) : null}
      {items && items.length ? (
        <ul className="cl-List" aria-label="Services" data-testid="cubelab-service-list">
          {items.map(s => {
            const t = traffic(s);
            return (
              <li
                key={s.id}
                className="cl-List-item"
                data-service={s.name}
                data-service-id={s.id}
                data-status={s.status}
              >
                <button
                  type="button"
                  className="cl-List-button"
                  data-testid="cubelab-service-open"
                  aria-label={`Open service ${s.name} of ${s.project}: ${s.status}`}
                  onClick={() => props.opener.open(s.id)}
                >
                  <span className="cl-List-main">
                    <span className="cl-ProjectName">{s.name}</span>
                    <span className="cl-ProjectDesc">
                      {s.project} · <span className={`cl-StatusText cl-status-${s.status}`}>{s.status}</span> ·{' '}
                      <span data-testid="cubelab-service-row-replicas" title="healthy / desired replicas">
                        {replicasText(s)}
                      </span>{' '}
                      · <span data-testid="cubelab-service-row-host">{String((s as any).url || s.host)}</span>
                    </span>
                    {t.shares.length > 1 || t.mirror ? <SplitBar traffic={t} compact /> : null}
                    {received[s.name] ? (
                      <span className="cl-ProjectDesc" data-testid="cubelab-service-row-receives">
                        gets {received[s.name].map(r => `${r.percent}% of ${r.from}`).join(', ')}
                      </span>
                    ) : null}
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
      ) : null}
      <LoadMore
        hasMore={list.hasMore}
        loading={list.loading}
        onClick={() => void list.loadMore()}
        testid="cubelab-services-more"
      />
    </div>
  );
}
