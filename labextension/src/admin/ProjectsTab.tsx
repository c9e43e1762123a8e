/** Projects: members, quota against use by kind of work, and each project's settings page. */
import * as React from 'react';

import { Button, LoadMore } from '../components';
import { IMe, ProjectsClient } from '../projects/client';
import { ProjectDetail } from '../projects/ProjectsView';
import { useDebounced, usePagedList } from '../usePagedList';
import { AdminClient } from './client';
import { ErrorBanner } from './common';
import { formatAmount, IBar, quotaBars } from './logic';
import { IAdminProject } from './types';

export function ProjectsTab(props: { client: AdminClient; projects: ProjectsClient; me: IMe }): JSX.Element {
  const { client } = props;
  const [filter, setFilter] = React.useState('');
  const q = useDebounced(filter.trim());
  const list = usePagedList(cursor => client.projects(q, cursor), [client, q]);
  // a project's own page (settings, members: the Projects section's editor) in place of the list
  const [open, setOpen] = React.useState<string | null>(null);

  if (open) {
    return (
      <div className="cl-AdminProjectDetail" data-testid="cubelab-admin-project-detail">
        <ProjectDetail
          name={open}
          me={props.me}
          client={props.projects}
          onBack={() => setOpen(null)}
          onChanged={() => void list.reload()}
          onDeleted={() => {
            setOpen(null);
            void list.reload();
          }}
        />
      </div>
    );
  }
  return (
    <div className="cl-AdminProjects" data-testid="cubelab-admin-projects">
      <div className="cl-Filters">
        <input
          type="search"
          className="jp-mod-styled cl-Input"
          placeholder="Search by name"
          aria-label="Search projects by name"
          value={filter}
          onChange={e => setFilter(e.target.value)}
        />
      </div>
      <ErrorBanner error={list.error} />
      <table className="cl-Table cl-AdminTable" aria-label="Projects">
        <thead>
          <tr>
            <th>Project</th>
            <th>Members</th>
            <th>Quota and use</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.items.map(p => (
            <ProjectRow key={p.name} project={p} onOpen={() => setOpen(p.name)} />
          ))}
        </tbody>
      </table>
      {list.loaded && !list.items.length ? <p className="cl-Empty">No projects.</p> : null}
      <LoadMore
        hasMore={list.hasMore}
        loading={list.loading}
        onClick={() => void list.loadMore()}
        testid="cubelab-admin-projects-more"
      />
    </div>
  );
}

function ProjectRow(props: { project: IAdminProject; onOpen: () => void }): JSX.Element {
  const p = props.project;
  return (
    <tr data-project={p.name}>
      <td>{p.name}</td>
      <td>{p.members}</td>
      <td>
        {quotaBars(p).map(bar => (
          <QuotaBar key={bar.resource} bar={bar} />
        ))}
      </td>
      <td>
        <Button onClick={props.onOpen} testid="cubelab-admin-project-settings" aria-label={`Settings of ${p.name}`}>
          Settings
        </Button>
      </td>
    </tr>
  );
}

function QuotaBar(props: { bar: IBar }): JSX.Element {
  const { bar } = props;
  const label = `${bar.resource}: ${formatAmount(bar.resource, bar.used)} of ${
    bar.limit === null ? 'no quota' : formatAmount(bar.resource, bar.limit)
  }`;
  return (
    <div className={`cl-QuotaBar${bar.over ? ' cl-mod-over' : ''}`} data-resource={bar.resource} title={label}>
      <span className="cl-QuotaBar-label">{label}</span>
      <span className="cl-QuotaBar-track" role="img" aria-label={label}>
        {bar.segments.map(s => (
          <span
            key={s.kind}
            className={`cl-QuotaBar-segment cl-mod-${s.kind}`}
            style={{ width: `${Math.min(100, s.fraction * 100)}%` }}
            title={`${s.kind}: ${formatAmount(bar.resource, s.value)}`}
          />
        ))}
      </span>
    </div>
  );
}
