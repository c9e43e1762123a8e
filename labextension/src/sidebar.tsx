import { ReactWidget } from '@jupyterlab/ui-components';
import { refreshIcon, addIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { CubeLabClient, IMe, IProjectSummary } from './api';
import { Section, Spinner } from './components';
import { cubeIcon } from './icons';
import { ProjectDetail, ProjectList } from './projects/ProjectsView';

/** A further sidebar section (pipelines, TensorBoard) given the loaded user. */
export interface ISidebarSection {
  id: string;
  title: string;
  rank: number;
  render: (ctx: ISidebarContext) => React.ReactNode;
  /** whether the section applies to this user (default: always) */
  visible?: (ctx: ISidebarContext) => boolean;
}

export interface ISidebarContext {
  me: IMe;
  projects: IProjectSummary[];
  client: CubeLabClient;
  /** increases each time the user refreshes the panel: sections reload then */
  refresh: number;
}

function Sidebar(props: {
  client: CubeLabClient;
  sections: ISidebarSection[];
  refreshSignal: { connect: (fn: () => void) => () => void };
}): JSX.Element {
  const { client } = props;
  const [me, setMe] = React.useState<IMe | null>(null);
  const [projects, setProjects] = React.useState<IProjectSummary[] | null>(
    null
  );
  const [error, setError] = React.useState<string | null>(null);
  const [selected, setSelected] = React.useState<string | null>(null);
  const [creating, setCreating] = React.useState(false);
  const [loading, setLoading] = React.useState(false);
  const [refresh, setRefresh] = React.useState(0);
  const listRef = React.useRef<HTMLDivElement>(null);

  const load = React.useCallback(async () => {
    setLoading(true);
    setRefresh(r => r + 1);
    try {
      const [m, list] = await Promise.all([client.me(), client.listProjects()]);
      setMe(m);
      setProjects(list);
      setError(null);
    } catch (err) {
      setError((err as Error).message ?? String(err));
    } finally {
      setLoading(false);
    }
  }, [client]);

  React.useEffect(() => {
    void load();
    return props.refreshSignal.connect(() => void load());
  }, [load]);

  const back = (focusName?: string | null) => {
    setSelected(null);
    // return focus to the row of the project we came from
    window.requestAnimationFrame(() => {
      const row =
        (focusName
          ? listRef.current?.querySelector<HTMLButtonElement>(
              `[data-testid="cubelab-projects"] li[data-project="${CSS.escape(focusName)}"] button`
            )
          : null) ??
        listRef.current?.querySelector<HTMLButtonElement>('[data-testid="cubelab-projects"] li button');
      row?.focus();
    });
  };

  const header = (
    <div className="cl-Header">
      <h2 className="cl-Header-title">CubeLab</h2>
      {me ? (
        <span className="cl-User" data-testid="cubelab-user" title="Logged in as">
          {me.name}
          {me.admin ? (
            <span className="cl-AdminBadge" data-testid="cubelab-admin">
              admin
            </span>
          ) : null}
        </span>
      ) : null}
      <button
        type="button"
        className="cl-IconButton"
        aria-label="Refresh"
        title="Refresh"
        data-testid="cubelab-refresh"
        disabled={loading}
        onClick={() => void load()}
      >
        <refreshIcon.react tag="span" elementSize="normal" />
      </button>
    </div>
  );

  if (error && !me) {
    return (
      <div className="cl-Sidebar">
        {header}
        <div className="cl-FieldError cl-Banner" role="alert" data-testid="cubelab-load-error">
          {error}
        </div>
        <div className="cl-Form-buttons">
          <button type="button" className="jp-Button jp-mod-styled jp-mod-accept" onClick={() => void load()}>
            Retry
          </button>
        </div>
      </div>
    );
  }
  if (!me || !projects) {
    return (
      <div className="cl-Sidebar">
        {header}
        <Spinner />
      </div>
    );
  }

  if (selected) {
    return (
      <div className="cl-Sidebar">
        {header}
        <ProjectDetail
          key={selected}
          name={selected}
          me={me}
          client={client}
          onBack={() => back(selected)}
          onChanged={() => void load()}
          onDeleted={() => {
            void load();
            back(null);
          }}
        />
      </div>
    );
  }

  const ctx: ISidebarContext = { me, projects, client, refresh };
  return (
    <div className="cl-Sidebar" ref={listRef}>
      {header}
      {error ? (
        <div className="cl-FieldError cl-Banner" role="alert">
          {error}
        </div>
      ) : null}
      <Section
        id="projects"
        title="Projects"
        actions={
          <button
            type="button"
            className="cl-IconButton"
            aria-label="New project"
            title="New project"
            data-testid="cubelab-new-project"
            aria-pressed={creating}
            onClick={() => setCreating(!creating)}
          >
            <addIcon.react tag="span" elementSize="normal" />
          </button>
        }
      >
        <ProjectList
          me={me}
          projects={projects}
          client={client}
          creating={creating}
          onOpen={setSelected}
          onCreateDone={created => {
            setCreating(false);
            if (created) {
              void load().then(() => setSelected(created));
            }
          }}
        />
      </Section>
      {[...props.sections]
        .filter(s => !s.visible || s.visible(ctx))
        .sort((a, b) => a.rank - b.rank)
        .map(s => (
          <Section key={s.id} id={s.id} title={s.title}>
            {s.render(ctx)}
          </Section>
        ))}
    </div>
  );
}

/** The "CubeLab" left-sidebar panel. */
export class CubeLabPanel extends ReactWidget {
  constructor(
    readonly client: CubeLabClient,
    readonly sections: ISidebarSection[] = []
  ) {
    super();
    this.id = 'cubelab-panel';
    this.addClass('cl-Panel');
    this.title.icon = cubeIcon;
    this.title.caption = 'CubeLab';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'CubeLab');
    this.node.dataset.testid = 'cubelab-panel';
  }

  /** Reload the user and their projects. */
  refresh(): void {
    for (const fn of this._listeners) {
      fn();
    }
  }

  /** Fresh data each time the user opens the panel again. */
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (this._shown) {
      this.refresh();
    }
    this._shown = true;
  }

  addSection(section: ISidebarSection): void {
    this.sections.push(section);
    this.update();
  }

  protected render(): JSX.Element {
    return (
      <Sidebar
        client={this.client}
        sections={this.sections}
        refreshSignal={{
          connect: fn => {
            this._listeners.add(fn);
            return () => this._listeners.delete(fn);
          }
        }}
      />
    );
  }

  private _listeners = new Set<() => void>();
  private _shown = false;
}
