import { refreshIcon, ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { Section, Spinner } from '../components';
import { cubeIcon } from '../icons';
import { IMe, IProjectSummary, ProjectsClient } from '../projects/client';
import { ICubeLabPanel, ISidebarContext, ISidebarDetail, ISidebarSection } from '../tokens';
import { useResource } from '../useResource';

interface IUser {
  me: IMe;
  projects: IProjectSummary[];
}

function Sidebar(props: {
  client: ProjectsClient;
  sections: ISidebarSection[];
  refreshSignal: { connect: (fn: () => void) => () => void };
}): JSX.Element {
  const { client } = props;
  const user = useResource<IUser>(async () => {
    const [me, projects] = await Promise.all([client.me(), client.listProjects()]);
    return { me, projects };
  }, [client]);
  const [refresh, setRefresh] = React.useState(1);
  const [detail, setDetail] = React.useState<ISidebarDetail | null>(null);

  const { reload: reloadUser } = user;
  const reload = React.useCallback(() => {
    setRefresh(r => r + 1);
    return reloadUser();
  }, [reloadUser]);
  React.useEffect(() => props.refreshSignal.connect(() => void reload()), [reload]);

  const me = user.data?.me ?? null;
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
        disabled={user.loading}
        onClick={() => void reload()}
      >
        <refreshIcon.react tag="span" elementSize="normal" />
      </button>
    </div>
  );

  if (user.error && !user.data) {
    return (
      <div className="cl-Sidebar">
        {header}
        <div className="cl-FieldError cl-Banner" role="alert" data-testid="cubelab-load-error">
          {user.error}
        </div>
        <div className="cl-Form-buttons">
          <button type="button" className="jp-Button jp-mod-styled jp-mod-accept" onClick={() => void reload()}>
            Retry
          </button>
        </div>
      </div>
    );
  }
  if (!user.data) {
    return (
      <div className="cl-Sidebar">
        {header}
        <Spinner />
      </div>
    );
  }

  const ctx: ISidebarContext = {
    me: user.data.me,
    projects: user.data.projects,
    refresh,
    reload,
    showDetail: setDetail
  };
  if (detail) {
    return (
      <div className="cl-Sidebar">
        {header}
        <React.Fragment key={detail.key}>{detail.render(ctx)}</React.Fragment>
      </div>
    );
  }
  return (
    <div className="cl-Sidebar">
      {header}
      {user.error ? (
        <div className="cl-FieldError cl-Banner" role="alert">
          {user.error}
        </div>
      ) : null}
      {[...props.sections]
        .filter(s => !s.visible || s.visible(ctx))
        .sort((a, b) => a.rank - b.rank)
        .map(s => (
          <Section key={s.id} id={s.id} title={s.title} actions={s.actions?.(ctx)}>
            {s.render(ctx)}
          </Section>
        ))}
    </div>
  );
}

/** The "CubeLab" left-sidebar panel: the user's header and the features' sections. */
export class CubeLabPanel extends ReactWidget implements ICubeLabPanel {
  constructor(readonly client: ProjectsClient) {
    super();
    this.id = 'cubelab-panel';
    this.addClass('cl-Panel');
    this.title.icon = cubeIcon;
    this.title.caption = 'CubeLab';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'CubeLab');
    this.node.dataset.testid = 'cubelab-panel';
  }

  /** Reload the user, their projects and every section. */
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
    this._sections = [...this._sections.filter(s => s.id !== section.id), section];
    this.update();
  }

  protected render(): JSX.Element {
    return (
      <Sidebar
        client={this.client}
        sections={this._sections}
        refreshSignal={{
          connect: fn => {
            this._listeners.add(fn);
            return () => this._listeners.delete(fn);
          }
        }}
      />
    );
  }

  private _sections: ISidebarSection[] = [];
  private _listeners = new Set<() => void>();
  private _shown = false;
}
