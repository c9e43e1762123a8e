/**
 * The Images section of the CubeLab panel: the registries builds push to and
 * pull from, the builds of a project with status, duration, digest, size
 * and what the layer cache reused, the project's images with their tags, and
 * (admins) the images imported from archives.
 */
import { addIcon, saveIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { LoadMore } from '../components';
import { IMe } from '../projects/client';
import { useDebounced, usePagedList } from '../usePagedList';
import { BUILD_STATUSES, BuildsClient, IBuild, ImagesClient, IRegistry, RegistriesClient } from './client';
import { ImageList } from './ImageList';
import { ImageImportsClient } from './imports';
import { ImportList } from './ImportList';
import { buildTitle, elapsed, formatDuration, formatSize, isFinished, shortDigest } from './model';

export interface IImagesOpener {
  openBuild: (id: number) => void;
  newBuild: (project: string) => void;
  /** "Save environment as image…": this server's package changes as a reviewed Dockerfile, then built */
  saveEnvironment: (project: string) => void;
  /** the registry form in the panel: `null` adds one */
  editRegistry: (registry: IRegistry | null) => void;
  /** the "Import an archive" form (admins) */
  importArchive: () => void;
  /** "Open a shell in this image": a tab with an interactive shell inside it */
  openShell: (project: string, image: string) => void;
  /** subscribe to "builds or registries changed"; returns unsubscribe */
  onChange: (fn: () => void) => () => void;
}

const PAGE = 20;

export function RegistryList(props: {
  client: RegistriesClient;
  opener: IImagesOpener;
  refresh: number;
  canAdd: boolean;
}): JSX.Element {
  const list = usePagedList(cursor => props.client.listPage({}, cursor, PAGE), [props.client], {
    subscribe: props.opener.onChange,
    refresh: props.refresh
  });
  return (
    <div className="cl-Registries" data-testid="cubelab-registries">
      <div className="cl-Images-heading">
        <h4>Registries</h4>
        {props.canAdd ? (
          <button
            type="button"
            className="cl-IconButton"
            aria-label="Add registry"
            title="Add registry"
            data-testid="cubelab-new-registry"
            onClick={() => props.opener.editRegistry(null)}
          >
            <addIcon.react tag="span" elementSize="normal" />
          </button>
        ) : null}
      </div>
      {list.error ? (
        <div className="cl-FieldError cl-Banner" role="alert">
          {list.error}
        </div>
      ) : null}
      {list.loaded && !list.items.length ? <p className="cl-Empty">No registries.</p> : null}
      {list.items.length ? (
        <ul className="cl-List" aria-label="Registries" data-testid="cubelab-registry-list">
          {list.items.map(r => (
            <li key={r.name} className="cl-List-item" data-registry={r.name}>
              <button
                type="button"
                className="cl-List-button"
                data-testid="cubelab-registry-open"
                disabled={!r.permissions?.edit}
                aria-label={`Registry ${r.name}: ${r.host}`}
                onClick={() => props.opener.editRegistry(r)}
              >
                <span className="cl-List-main">
                  <span className="cl-ProjectName">{r.name}</span>
                  <span className="cl-ProjectDesc">
                    {r.host} · {r.project ?? 'all projects'} · {r.username || 'no user'}
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
        testid="cubelab-registries-more"
      />
    </div>
  );
}

export function BuildRow(props: { build: IBuild; onOpen: () => void }): JSX.Element {
  const b = props.build;
  return (
    <li className="cl-List-item" data-build-id={b.id} data-image={b.image} data-status={b.status}>
      <button
        type="button"
        className="cl-List-button"
        data-testid="cubelab-build-open"
        aria-label={`Open build ${b.id} of ${buildTitle(b)}: ${b.status}`}
        onClick={props.onOpen}
      >
        <span className="cl-List-main">
          <span className="cl-ProjectName">
            #{b.id} {buildTitle(b)}
          </span>
          <span className="cl-ProjectDesc">
            <span className={`cl-StatusText cl-status-${b.status}`}>{b.status}</span> ·{' '}
            <span title="duration">{formatDuration(elapsed(b))}</span>
            {isFinished(b.status) ? (
              <>
                {' '}
                · <span title={b.digest ?? ''}>{shortDigest(b.digest)}</span> ·{' '}
                <span title="size">{formatSize(b.size)}</span>
              </>
            ) : null}
          </span>
          {b.cache ? (
            <span className="cl-ProjectDesc" data-testid="cubelab-build-row-cache" title="layer cache">
              cache: {b.cache}
            </span>
          ) : null}
        </span>
      </button>
    </li>
  );
}

export function BuildList(props: {
  me: IMe;
  client: BuildsClient;
  opener: IImagesOpener;
  refresh: number;
}): JSX.Element {
  const { client, me } = props;
  const [project, setProject] = React.useState('');
  const [status, setStatus] = React.useState('');
  const [search, setSearch] = React.useState('');
  const q = useDebounced(search.trim());
  const [active, setActive] = React.useState(false);
  const list = usePagedList(
    cursor => client.listPage({ project, status, q }, cursor, PAGE),
    [client, project, status, q],
    { subscribe: props.opener.onChange, refresh: props.refresh, intervalMs: active ? 2000 : 15000 }
  );
  React.useEffect(() => {
    setActive(list.items.some(b => !isFinished(b.status)));
  }, [list.items]);
  return (
    <div className="cl-Builds" data-testid="cubelab-builds">
      <div className="cl-Images-heading">
        <h4>Builds</h4>
        <button
          type="button"
          className="cl-IconButton"
          aria-label="New build"
          title="New build"
          data-testid="cubelab-new-build"
          onClick={() => props.opener.newBuild(project || me.projects[0]?.name || 'public')}
        >
          <addIcon.react tag="span" elementSize="normal" />
        </button>
        <button
          type="button"
          className="cl-IconButton"
          aria-label="Save environment as image…"
          title="Save environment as image…"
          data-testid="cubelab-save-environment"
          onClick={() => props.opener.saveEnvironment(project || me.projects[0]?.name || 'public')}
        >
          <saveIcon.react tag="span" elementSize="normal" />
        </button>
      </div>
      <div className="cl-Filters">
        <select
          className="jp-mod-styled cl-Select"
          aria-label="Filter builds by project"
          data-testid="cubelab-builds-project"
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
          aria-label="Filter builds by status"
          data-testid="cubelab-builds-status"
          value={status}
          onChange={e => setStatus(e.target.value)}
        >
          <option value="">Any status</option>
          {BUILD_STATUSES.map(s => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <input
          type="search"
          className="jp-mod-styled cl-Input"
          placeholder="Search by image"
          aria-label="Search builds by image"
          data-testid="cubelab-builds-search"
          value={search}
          onChange={e => setSearch(e.target.value)}
        />
      </div>
      {list.error ? (
        <div className="cl-FieldError cl-Banner" role="alert">
          {list.error}
        </div>
      ) : null}
      {list.loaded && !list.items.length ? (
        <p className="cl-Empty">{status || q ? 'No build matches.' : 'No builds.'}</p>
      ) : null}
      {list.items.length ? (
        <ul className="cl-List" aria-label="Builds" data-testid="cubelab-build-list">
          {list.items.map(b => (
            <BuildRow key={b.id} build={b} onOpen={() => props.opener.openBuild(b.id!)} />
          ))}
        </ul>
      ) : null}
      <LoadMore
        hasMore={list.hasMore}
        loading={list.loading}
        onClick={() => void list.loadMore()}
        testid="cubelab-builds-more"
      />
    </div>
  );
}

export function ImagesSection(props: {
  me: IMe;
  builds: BuildsClient;
  registries: RegistriesClient;
  images: ImagesClient;
  imports: ImageImportsClient;
  opener: IImagesOpener;
  refresh: number;
}): JSX.Element {
  const me = props.me;
  const canAdd = me.admin || me.projects.some(p => p.role === 'creator');
  return (
    <div className="cl-Images" data-testid="cubelab-images">
      <BuildList me={me} client={props.builds} opener={props.opener} refresh={props.refresh} />
      <ImageList
        me={me}
        client={props.images}
        refresh={props.refresh}
        onChange={props.opener.onChange}
        openShell={props.opener.openShell}
      />
      {me.admin ? (
        <ImportList
          client={props.imports}
          refresh={props.refresh}
          onChange={props.opener.onChange}
          openImport={props.opener.importArchive}
        />
      ) : null}
      <RegistryList client={props.registries} opener={props.opener} refresh={props.refresh} canAdd={canAdd} />
    </div>
  );
}
