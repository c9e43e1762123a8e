import { addIcon } from '@jupyterlab/ui-components';
import { ISignal, Signal } from '@lumino/signaling';
import * as React from 'react';

import { ISidebarContext, ISidebarDetail } from '../tokens';
import { ProjectsClient } from './client';
import { ProjectDetail, ProjectList } from './ProjectsView';

/** Whether the "new project" form is open: shared by the header button and the list. */
export class CreatingState {
  get value(): boolean {
    return this._value;
  }

  get changed(): ISignal<this, boolean> {
    return this._changed;
  }

  set(value: boolean): void {
    if (value !== this._value) {
      this._value = value;
      this._changed.emit(value);
    }
  }

  private _value = false;
  private _changed = new Signal<this, boolean>(this);
}

function useCreating(state: CreatingState): boolean {
  const [value, setValue] = React.useState(state.value);
  React.useEffect(() => {
    const slot = (_: CreatingState, v: boolean) => setValue(v);
    state.changed.connect(slot);
    setValue(state.value);
    return () => {
      state.changed.disconnect(slot);
    };
  }, [state]);
  return value;
}

export function NewProjectButton(props: { state: CreatingState }): JSX.Element {
  const creating = useCreating(props.state);
  return (
    <button
      type="button"
      className="cl-IconButton"
      aria-label="New project"
      title="New project"
      data-testid="cubelab-new-project"
      aria-pressed={creating}
      onClick={() => props.state.set(!creating)}
    >
      <addIcon.react tag="span" elementSize="normal" />
    </button>
  );
}

/** Back from a project's page to the list, focusing the row we came from. */
function back(ctx: ISidebarContext, focusName: string | null): void {
  ctx.showDetail(null);
  window.requestAnimationFrame(() => {
    const panel = document.getElementById('cubelab-panel');
    const row =
      (focusName
        ? panel?.querySelector<HTMLButtonElement>(
            `[data-testid="cubelab-projects"] li[data-project="${CSS.escape(focusName)}"] button`
          )
        : null) ?? panel?.querySelector<HTMLButtonElement>('[data-testid="cubelab-projects"] li button');
    row?.focus();
  });
}

/** A project's page (members and settings) in place of the sections. */
export function projectDetail(client: ProjectsClient, name: string): ISidebarDetail {
  return {
    key: name,
    render: ctx => (
      <ProjectDetail
        name={name}
        me={ctx.me}
        client={client}
        onBack={() => back(ctx, name)}
        onChanged={() => void ctx.reload()}
        onDeleted={() => {
          void ctx.reload();
          back(ctx, null);
        }}
      />
    )
  };
}

/** The Projects section: the user's projects and the create form. */
export function ProjectsSection(props: {
  ctx: ISidebarContext;
  client: ProjectsClient;
  state: CreatingState;
}): JSX.Element {
  const { ctx, client, state } = props;
  const creating = useCreating(state);
  return (
    <ProjectList
      me={ctx.me}
      projects={ctx.projects}
      client={client}
      creating={creating}
      onOpen={name => ctx.showDetail(projectDetail(client, name))}
      onCreateDone={created => {
        state.set(false);
        if (created) {
          void ctx.reload().then(() => ctx.showDetail(projectDetail(client, created)));
        }
      }}
    />
  );
}
