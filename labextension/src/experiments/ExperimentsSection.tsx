/** The Experiments section of the CubeLab panel: a project's experiments, paged and filtered by status. */
import { addIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { LoadMore } from '../components';
import { IMe } from '../projects/client';
import { useDebounced, usePagedList } from '../usePagedList';
import { EXPERIMENT_FINAL, EXPERIMENT_STATUSES, ExperimentsClient } from './client';
import { formatValue, progressText } from './trials';

export interface IExperimentOpener {
  open: (id: number) => void;
  create: (project: string) => void;
  /** subscribe to "experiments changed" (created, stopped, resumed); returns unsubscribe */
  onChange: (fn: () => void) => () => void;
}

const PAGE = 20;

export function ExperimentsSection(props: {
  me: IMe;
  client: ExperimentsClient;
  opener: IExperimentOpener;
  refresh: number;
}): JSX.Element {
  const { client, me } = props;
  const [project, setProject] = React.useState('');
  const [status, setStatus] = React.useState('');
  const [search, setSearch] = React.useState('');
  const q = useDebounced(search.trim());
  const [active, setActive] = React.useState(false);
  const [pagedOn, setPagedOn] = React.useState(false);
  // while an experiment runs the first page reloads every 5 s (progress, best),
  // unless more pages were loaded (a reload would drop them)
  const list = usePagedList(
    cursor => client.listPage({ project, status, q }, cursor, PAGE),
    [client, project, status, q],
    { subscribe: props.opener.onChange, refresh: props.refresh, intervalMs: active && !pagedOn ? 5000 : 0 }
  );
  const items = list.loaded ? list.items : null;
  React.useEffect(() => {
    setActive((items ?? []).some(e => !EXPERIMENT_FINAL.includes(e.status)));
    setPagedOn((items ?? []).length > PAGE);
  }, [items]);
  return (
    <div className="cl-Experiments" data-testid="cubelab-experiments">
      <div className="cl-Filters">
        <select
          className="jp-mod-styled cl-Select"
          aria-label="Filter experiments by project"
          data-testid="cubelab-experiments-project"
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
          aria-label="Filter experiments by status"
          data-testid="cubelab-experiments-status"
          value={status}
          onChange={e => setStatus(e.target.value)}
        >
          <option value="">Any status</option>
          {EXPERIMENT_STATUSES.map(s => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <input
          type="search"
          className="jp-mod-styled cl-Input"
          placeholder="Search by name"
          aria-label="Search experiments by name"
          data-testid="cubelab-experiments-search"
          value={search}
          onChange={e => setSearch(e.target.value)}
        />
        <button
          type="button"
          className="cl-IconButton"
          aria-label="New experiment"
          title="New experiment"
          data-testid="cubelab-new-experiment"
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
        <p className="cl-Empty">{status || q ? 'No experiment matches.' : 'No experiments.'}</p>
      ) : null}
      {items && items.length ? (
        <ul className="cl-List" aria-label="Experiments" data-testid="cubelab-experiment-list">
          {items.map(e => (
            <li
              key={e.id}
              className="cl-List-item"
              data-experiment={e.name}
              data-experiment-id={e.id}
              data-status={e.status}
            >
              <button
                type="button"
                className="cl-List-button"
                data-testid="cubelab-experiment-open"
                aria-label={`Open experiment ${e.name} of ${e.project}: ${e.status}`}
                onClick={() => props.opener.open(e.id)}
              >
                <span className="cl-List-main">
                  <span className="cl-ProjectName">{e.name}</span>
                  <span className="cl-ProjectDesc">
                    {e.project} · <span className={`cl-StatusText cl-status-${e.status}`}>{e.status}</span> ·{' '}
                    <span data-testid="cubelab-experiment-row-progress">{progressText(e.progress)}</span>
                    {e.best ? (
                      <>
                        {' '}
                        · best <span data-testid="cubelab-experiment-row-best">{formatValue(e.best.value)}</span>
                      </>
                    ) : null}
                  </span>
                </span>
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      <LoadMore
        hasMore={list.hasMore}
        loading={list.loading}
        onClick={() => void list.loadMore()}
        testid="cubelab-experiments-more"
      />
    </div>
  );
}
