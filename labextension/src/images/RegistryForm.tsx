/**
 * Add or edit a registry, in the panel.  The password is write-only: the API
 * never returns it, so the field is always empty and says "set" when one is
 * stored; leaving it empty on an edit keeps the stored one.
 */
import * as React from 'react';

import { Button, FieldError, TextField, useUid } from '../components';
import { IMe } from '../projects/client';
import { ApiError } from '../request';
import { errorMessage } from '../useResource';
import { IRegistry, RegistriesClient } from './client';
import { IRegistryDraft, passwordState, registryChanges, registryDraftToInput } from './model';

export interface IRegistryFormProps {
  me: IMe;
  client: RegistriesClient;
  /** the registry being edited; null adds one */
  registry: IRegistry | null;
  draft: IRegistryDraft;
  onDone: (saved: IRegistry | null) => void;
}

function messages(err: unknown): Record<string, string> {
  if (err instanceof ApiError) {
    return err.fieldMessages;
  }
  return { '': errorMessage(err) };
}

export function RegistryForm(props: IRegistryFormProps): JSX.Element {
  const { registry, me } = props;
  const editing = registry !== null;
  const [draft, setDraft] = React.useState<IRegistryDraft>(props.draft);
  const set = (key: keyof IRegistryDraft) => (value: string) => setDraft(d => ({ ...d, [key]: value }));
  const [busy, setBusy] = React.useState(false);
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [saved, setSaved] = React.useState<IRegistry | null>(registry);
  const projectId = useUid('cl-registry-project');
  const passwordId = useUid('cl-registry-password');
  const projects = me.admin ? me.projects : me.projects.filter(p => p.role === 'creator');

  const save = async () => {
    setBusy(true);
    setErrors({});
    try {
      const answer = saved
        ? await props.client.update(saved.name, registryChanges(saved, draft))
        : await props.client.create(registryDraftToInput(draft));
      setSaved(answer);
      setDraft(d => ({ ...d, password: '' })); // never kept once stored
      props.onDone(answer);
    } catch (err) {
      setErrors(messages(err));
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    if (!saved) {
      return;
    }
    setBusy(true);
    try {
      await props.client.remove(saved.name);
      props.onDone(null);
    } catch (err) {
      setErrors(messages(err));
      setBusy(false);
    }
  };

  return (
    <form
      className="cl-Form cl-RegistryForm"
      data-testid="cubelab-registry-form"
      autoComplete="off"
      onSubmit={e => {
        e.preventDefault();
        void save();
      }}
    >
      <h3>{editing ? `Registry ${registry.name}` : 'Add a registry'}</h3>
      <TextField
        name="name"
        label="Name"
        value={draft.name}
        onChange={set('name')}
        readOnly={!!saved}
        help="lowercase letters, digits and '-'; never changes"
        error={errors.name}
        required
        testid="cubelab-registry-name"
      />
      <div className="cl-Field" data-field="project">
        <label htmlFor={projectId} className="cl-Field-label">
          Project
        </label>
        <select
          id={projectId}
          className="jp-mod-styled cl-Select"
          data-testid="cubelab-registry-project"
          value={draft.project}
          disabled={!!saved}
          onChange={e => set('project')(e.target.value)}
        >
          {me.admin ? <option value="">all projects (platform-wide)</option> : null}
          {projects.map(p => (
            <option key={p.name} value={p.name}>
              {p.name}
            </option>
          ))}
        </select>
        <FieldError id={`${projectId}-err`} field="project" message={errors.project} />
      </div>
      <TextField
        name="host"
        label="Host"
        value={draft.host}
        onChange={set('host')}
        placeholder="registry.example.com"
        help="host[:port], without scheme or path"
        error={errors.host}
        required
        testid="cubelab-registry-host"
      />
      <TextField
        name="username"
        label="User"
        value={draft.username}
        onChange={set('username')}
        error={errors.username}
        testid="cubelab-registry-username"
      />
      <div className="cl-Field" data-field="password">
        <label htmlFor={passwordId} className="cl-Field-label">
          Password or token{' '}
          <span className="cl-PasswordState" data-testid="cubelab-registry-password-state">
            ({passwordState(saved, draft.password)})
          </span>
        </label>
        <input
          id={passwordId}
          type="password"
          name="password"
          autoComplete="new-password"
          className={'jp-mod-styled cl-Input' + (errors.password ? ' cl-mod-invalid' : '')}
          data-testid="cubelab-registry-password"
          value={draft.password}
          placeholder={saved?.password_set ? 'leave empty to keep the stored one' : ''}
          onChange={e => set('password')(e.target.value)}
        />
        <div className="cl-Field-help">stored encrypted; never shown again</div>
        <FieldError id={`${passwordId}-err`} field="password" message={errors.password} />
      </div>
      <TextField
        name="description"
        label="Description"
        value={draft.description}
        onChange={set('description')}
        error={errors.description}
        testid="cubelab-registry-description"
      />
      <FieldError id="cl-registry-form-error" field="" message={errors['']} />
      <div className="cl-Form-actions">
        <Button kind="accept" type="submit" disabled={busy} testid="cubelab-registry-save">
          Save
        </Button>
        <Button kind="reject" onClick={() => props.onDone(saved)} testid="cubelab-registry-back">
          Back
        </Button>
        {saved ? (
          <Button kind="warn" disabled={busy} onClick={() => void remove()} testid="cubelab-registry-delete">
            Delete
          </Button>
        ) : null}
      </div>
    </form>
  );
}
