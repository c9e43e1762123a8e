/**
 * The new-build form (a main-area tab): a project, the Dockerfile's path and
 * the context folder in the workspace, the image name and tags, build
 * arguments and limits.  The server checks every field; each message shows
 * at its field with the accepted forms.
 */
import * as React from 'react';

import { Button, FieldError, TextField, useUid } from '../components';
import { IMe } from '../projects/client';
import { ApiError } from '../request';
import { errorMessage } from '../useResource';
import { BuildsClient, IBuild } from './client';
import { buildDraftToBody, buildFormField, IBuildDraft } from './model';

export interface IBuildFormProps {
  me: IMe;
  client: BuildsClient;
  draft: IBuildDraft;
  onStarted: (build: IBuild) => void;
  onCancel: () => void;
}

/** Server messages keyed by the form field that shows them ('' for the whole form). */
export function messagesByField(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (field: string, message: string) => {
    out[field] = out[field] ? `${out[field]}\n${message}` : message;
  };
  if (err instanceof ApiError) {
    // the server's messages already name the accepted forms
    const details = err.details.length ? err.details : [{ field: err.field, message: err.message }];
    for (const d of details) {
      add(buildFormField(d.field), d.message);
    }
  } else {
    add('', errorMessage(err));
  }
  return out;
}

export function BuildForm(props: IBuildFormProps): JSX.Element {
  const [draft, setDraft] = React.useState<IBuildDraft>(props.draft);
  const set = (key: keyof IBuildDraft) => (value: string) => setDraft(d => ({ ...d, [key]: value }));
  const [busy, setBusy] = React.useState(false);
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const projectId = useUid('cl-build-project');
  const start = async () => {
    setBusy(true);
    setErrors({});
    try {
      props.onStarted(await props.client.create(buildDraftToBody(draft)));
    } catch (err) {
      setErrors(messagesByField(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      className="cl-Form cl-BuildForm"
      data-testid="cubelab-build-form"
      onSubmit={e => {
        e.preventDefault();
        void start();
      }}
    >
      <h2>Build an image</h2>
      <div className="cl-Field" data-field="project">
        <label htmlFor={projectId} className="cl-Field-label">
          Project
        </label>
        <select
          id={projectId}
          className="jp-mod-styled cl-Select"
          data-testid="cubelab-build-project"
          value={draft.project}
          onChange={e => set('project')(e.target.value)}
        >
          {props.me.projects.map(p => (
            <option key={p.name} value={p.name}>
              {p.name}
            </option>
          ))}
        </select>
        <FieldError id={`${projectId}-err`} field="project" message={errors.project} />
      </div>
      <TextField
        name="dockerfile_path"
        label="Dockerfile"
        value={draft.dockerfile_path}
        onChange={set('dockerfile_path')}
        help="its path in your workspace"
        error={errors.dockerfile_path}
        required
        testid="cubelab-build-dockerfile_path"
      />
      <TextField
        name="context"
        label="Context"
        value={draft.context}
        onChange={set('context')}
        help="the folder sent to the build ('.' is your workspace); its .dockerignore is honoured"
        error={errors.context}
        testid="cubelab-build-context"
      />
      <TextField
        name="image"
        label="Image"
        value={draft.image}
        onChange={set('image')}
        help={`pushed as <registry>/${draft.project}/<image>:<tag>`}
        error={errors.image}
        required
        testid="cubelab-build-image"
      />
      <TextField
        name="tags"
        label="Tags"
        value={draft.tags}
        onChange={set('tags')}
        help="separated by spaces or commas (default: latest)"
        error={errors.tags}
        testid="cubelab-build-tags"
      />
      <TextField
        name="build_args"
        label="Build arguments"
        value={draft.build_args}
        onChange={set('build_args')}
        help="NAME=value, one a line"
        error={errors.build_args}
        multiline
        testid="cubelab-build-build_args"
      />
      <TextField
        name="cpu"
        label="CPU"
        value={draft.cpu}
        onChange={set('cpu')}
        placeholder="2"
        error={errors.cpu}
        testid="cubelab-build-cpu"
      />
      <TextField
        name="memory"
        label="Memory"
        value={draft.memory}
        onChange={set('memory')}
        placeholder="4G"
        error={errors.memory}
        testid="cubelab-build-memory"
      />
      <TextField
        name="timeout"
        label="Timeout"
        value={draft.timeout}
        onChange={set('timeout')}
        placeholder="1h"
        error={errors.timeout}
        testid="cubelab-build-timeout"
      />
      <FieldError id="cl-build-form-error" field="" message={errors['']} />
      <div className="cl-Form-actions">
        <Button kind="accept" type="submit" disabled={busy} testid="cubelab-build-start">
          {busy ? 'Starting…' : 'Start build'}
        </Button>
        <Button kind="reject" onClick={props.onCancel} testid="cubelab-build-form-cancel">
          Cancel
        </Button>
      </div>
    </form>
  );
}
