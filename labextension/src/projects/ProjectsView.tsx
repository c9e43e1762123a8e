import { Dialog, showDialog } from '@jupyterlab/apputils';
import { closeIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ApiError } from '../request';
import { useResource } from '../useResource';
import { useDebounced, usePagedList } from '../usePagedList';
import { IMe, IMember, IProject, IProjectSummary, ProjectsClient, Role, ROLES } from './client';
import { Button, FieldError, LoadMore, RoleBadge, Spinner, TextField, useUid } from '../components';
import {
  capabilities,
  checkNewMember,
  CREATE_FORM_KEYS,
  emptyForm,
  formErrors,
  formFromSettings,
  isDirty,
  MEMBER_FORM_KEYS,
  SETTING_FIELDS,
  SettingsForm,
  SETTINGS_FORM_KEYS,
  settingsForCreate,
  settingsPatch,
  sortMembers
} from './model';

type Errors = Record<string, string>;

function errorText(error: unknown): string {
  return error instanceof ApiError ? error.message : ((error as Error)?.message ?? String(error));
}

/** The list of the user's projects, with the create form. */
export function ProjectList(props: {
  me: IMe;
  /** the panel's first page: a new one (after a change) reloads the list */
  projects: IProjectSummary[];
  onOpen: (name: string) => void;
  creating: boolean;
  onCreateDone: (created: string | null) => void;
  client: ProjectsClient;
}): JSX.Element {
  const { client } = props;
  const [search, setSearch] = React.useState('');
  const q = useDebounced(search.trim());
  const list = usePagedList(cursor => client.projectsPage({ q }, cursor), [client, q], { refresh: props.projects });
  const projects = list.loaded ? list.items : props.projects;
  return (
    <div className="cl-Projects">
      {props.creating ? <CreateProjectForm client={props.client} onDone={props.onCreateDone} /> : null}
      {list.hasMore || search ? (
        <div className="cl-Filters">
          <input
            type="search"
            className="jp-mod-styled cl-Input"
            placeholder="Search projects"
            aria-label="Search projects by name"
            data-testid="cubelab-projects-search"
            value={search}
            onChange={e => setSearch(e.target.value)}
          />
        </div>
      ) : null}
      {list.error ? (
        <div className="cl-FieldError cl-Banner" role="alert">
          {list.error}
        </div>
      ) : null}
      {projects.length === 0 ? (
        <p className="cl-Empty">{q ? 'No project matches.' : 'You are not a member of any project yet.'}</p>
      ) : (
        <ul className="cl-List" data-testid="cubelab-projects" aria-label="Projects">
          {projects.map(p => (
            <li key={p.name} className="cl-List-item" data-project={p.name} data-role={p.role ?? ''}>
              <button
                type="button"
                className="cl-List-button"
                data-testid="cubelab-project-open"
                aria-label={`Open project ${p.name}${p.role ? ` (role ${p.role})` : ''}`}
                onClick={() => props.onOpen(p.name)}
              >
                <span className="cl-List-main">
                  <span className="cl-ProjectName">{p.name}</span>
                  {p.description ? (
                    <span className="cl-ProjectDesc" title={p.description}>
                      {p.description}
                    </span>
                  ) : null}
                </span>
                <span className="cl-List-side">
                  <RoleBadge role={p.role} />
                  <span className="cl-Count" title={`${p.member_count} member${p.member_count === 1 ? '' : 's'}`}>
                    {p.member_count}
                  </span>
                </span>
              </button>
            </li>
          ))}
        </ul>
      )}
      <LoadMore
        hasMore={list.hasMore}
        loading={list.loading}
        onClick={() => void list.loadMore()}
        testid="cubelab-projects-more"
      />
    </div>
  );
}

/** Inline form to create a project; server messages shown by their field. */
export function CreateProjectForm(props: {
  client: ProjectsClient;
  onDone: (created: string | null) => void;
}): JSX.Element {
  const [name, setName] = React.useState('');
  const [description, setDescription] = React.useState('');
  const [settings, setSettings] = React.useState<SettingsForm>(emptyForm());
  const [showSettings, setShowSettings] = React.useState(false);
  const [errors, setErrors] = React.useState<Errors>({});
  const [busy, setBusy] = React.useState(false);

  const submit = async (e?: React.FormEvent) => {
    e?.preventDefault();
    if (!name.trim()) {
      setErrors({ name: 'Enter a name for the project.' });
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      const body: any = { name: name.trim() };
      if (description.trim()) {
        body.description = description.trim();
      }
      const s = settingsForCreate(settings);
      if (Object.keys(s).length) {
        body.settings = s;
      }
      const created = await props.client.createProject(body);
      props.onDone(created.name);
    } catch (err) {
      const errs = formErrors(err, CREATE_FORM_KEYS);
      if (Object.keys(errs).some(k => k !== 'name' && k !== 'description' && k !== '')) {
        setShowSettings(true);
      }
      setErrors(errs);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="cl-Form cl-CreateForm"
      data-testid="cubelab-create-form"
      aria-label="New project"
      onSubmit={submit}
      onKeyDown={e => {
        if (e.key === 'Escape') {
          e.stopPropagation();
          props.onDone(null);
        }
      }}
    >
      <h4 className="cl-Form-title">New project</h4>
      <FieldError id="cl-create-error" field="" message={errors['']} />
      <TextField
        name="name"
        label="Name"
        value={name}
        onChange={setName}
        placeholder="e.g. team-a"
        help="Lowercase letters, digits and “-”; starts with a letter."
        error={errors.name}
        required
        autoFocus
        testid="cubelab-create-name"
      />
      <TextField
        name="description"
        label="Description"
        value={description}
        onChange={setDescription}
        error={errors.description}
        multiline
        testid="cubelab-create-description"
      />
      <button
        type="button"
        className="cl-LinkButton"
        aria-expanded={showSettings}
        onClick={() => setShowSettings(!showSettings)}
      >
        {showSettings ? 'Hide settings' : 'Settings…'}
      </button>
      {showSettings ? <SettingsFields form={settings} onChange={setSettings} errors={errors} readOnly={false} /> : null}
      <div className="cl-Form-buttons">
        <Button kind="reject" onClick={() => props.onDone(null)} testid="cubelab-create-cancel">
          Cancel
        </Button>
        <Button kind="accept" type="submit" disabled={busy} testid="cubelab-create-submit">
          {busy ? 'Creating…' : 'Create'}
        </Button>
      </div>
    </form>
  );
}

function SettingsFields(props: {
  form: SettingsForm;
  onChange: (form: SettingsForm) => void;
  errors: Errors;
  readOnly: boolean;
}): JSX.Element {
  return (
    <>
      {SETTING_FIELDS.map(f => (
        <TextField
          key={f.key}
          name={f.key}
          label={f.label}
          value={props.form[f.key]}
          placeholder={props.readOnly ? 'not set' : f.placeholder}
          help={props.readOnly ? undefined : f.help}
          error={props.errors[f.key]}
          readOnly={props.readOnly}
          testid={`cubelab-setting-${f.key}`}
          onChange={v => props.onChange({ ...props.form, [f.key]: v })}
        />
      ))}
    </>
  );
}

/** One project: members and settings, editable per the user's permissions. */
export function ProjectDetail(props: {
  name: string;
  me: IMe;
  client: ProjectsClient;
  onBack: () => void;
  onChanged: () => void;
  onDeleted: () => void;
}): JSX.Element {
  const { client, name } = props;
  const loaded = useResource(() => client.getProject(name), [client, name]);
  const { data: project, error: loadError, setData: setProject, reload: load } = loaded;

  const backRef = React.useRef<HTMLButtonElement>(null);
  React.useEffect(() => {
    backRef.current?.focus();
  }, [name]);

  const caps = capabilities(project);

  const deleteProject = async () => {
    const result = await showDialog({
      title: `Delete project ${name}?`,
      body: 'The project and its memberships are removed. This cannot be undone.',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!result.button.accept) {
      return;
    }
    try {
      await client.deleteProject(name);
      props.onDeleted();
    } catch (err) {
      void showDialog({
        title: 'Cannot delete the project',
        body: errorText(err),
        buttons: [Dialog.okButton()]
      });
    }
  };

  return (
    <div className="cl-ProjectDetail" data-testid="cubelab-project-detail" data-project={name}>
      <div className="cl-DetailHeader">
        <button
          ref={backRef}
          type="button"
          className="cl-BackButton"
          data-testid="cubelab-back"
          aria-label="Back to the project list"
          onClick={props.onBack}
        >
          ‹ Projects
        </button>
        <h3 className="cl-DetailTitle">{name}</h3>
        {project ? <RoleBadge role={project.role} /> : null}
      </div>
      {loadError ? (
        <div className="cl-FieldError" role="alert" data-testid="cubelab-form-error">
          {loadError}
        </div>
      ) : null}
      {!project && !loadError ? <Spinner /> : null}
      {project ? (
        <>
          <DescriptionEditor
            project={project}
            client={client}
            editable={caps.editSettings}
            onSaved={p => {
              setProject(p);
              props.onChanged();
            }}
          />
          <Members
            project={project}
            me={props.me}
            client={client}
            editable={caps.manageMembers}
            onChanged={() => {
              void load();
              props.onChanged();
            }}
          />
          <SettingsEditor
            project={project}
            client={client}
            editable={caps.editSettings}
            onSaved={p => {
              setProject(p);
              props.onChanged();
            }}
          />
          {caps.delete && project.name !== 'public' ? (
            <div className="cl-Danger">
              <Button kind="warn" onClick={deleteProject} testid="cubelab-project-delete">
                Delete project
              </Button>
            </div>
          ) : null}
        </>
      ) : null}
    </div>
  );
}

function DescriptionEditor(props: {
  project: IProject;
  client: ProjectsClient;
  editable: boolean;
  onSaved: (p: IProject) => void;
}): JSX.Element | null {
  const [value, setValue] = React.useState(props.project.description ?? '');
  const [error, setError] = React.useState<string | undefined>();
  const [busy, setBusy] = React.useState(false);
  React.useEffect(() => setValue(props.project.description ?? ''), [props.project.description]);
  if (!props.editable) {
    return props.project.description ? (
      <p className="cl-Description" data-testid="cubelab-description">
        {props.project.description}
      </p>
    ) : null;
  }
  const dirty = value !== (props.project.description ?? '');
  const save = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      props.onSaved(
        await props.client.updateProject(props.project.name, {
          description: value
        })
      );
    } catch (err) {
      const errs = formErrors(err, ['description']);
      setError(errs.description ?? errs['']);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="cl-Form cl-DescriptionForm" onSubmit={save}>
      <TextField
        name="description"
        label="Description"
        value={value}
        onChange={setValue}
        error={error}
        multiline
        testid="cubelab-description-input"
      />
      {dirty ? (
        <div className="cl-Form-buttons">
          <Button kind="reject" onClick={() => setValue(props.project.description ?? '')}>
            Reset
          </Button>
          <Button kind="accept" type="submit" disabled={busy} testid="cubelab-description-save">
            Save
          </Button>
        </div>
      ) : null}
    </form>
  );
}

function Members(props: {
  project: IProject;
  me: IMe;
  client: ProjectsClient;
  editable: boolean;
  onChanged: () => void;
}): JSX.Element {
  const { project, client } = props;
  const [newName, setNewName] = React.useState('');
  const [newRole, setNewRole] = React.useState<Role>('dev');
  const [errors, setErrors] = React.useState<Errors>({});
  const [rowError, setRowError] = React.useState<{
    member: string;
    message: string;
  } | null>(null);
  const [busy, setBusy] = React.useState(false);
  const nameId = useUid('cl-member-name');
  const roleId = useUid('cl-member-role');
  const [search, setSearch] = React.useState('');
  const q = useDebounced(search.trim());
  // `project` is a new object after every change: the members page reloads then
  const paged = usePagedList(cursor => client.membersPage(project.name, { q }, cursor), [client, project, q]);
  const members = paged.loaded ? paged.items : q ? [] : sortMembers(project.members);
  const memberCount = project.member_count ?? project.members.length;

  const add = async (e: React.FormEvent) => {
    e.preventDefault();
    const problem = checkNewMember(newName, members);
    if (problem) {
      setErrors({ name: problem });
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      await client.addMember(project.name, newName.trim(), newRole);
      setNewName('');
      props.onChanged();
    } catch (err) {
      setErrors(formErrors(err, MEMBER_FORM_KEYS));
    } finally {
      setBusy(false);
    }
  };

  const changeRole = async (m: IMember, role: Role) => {
    setRowError(null);
    try {
      await client.setMemberRole(project.name, m.name, role);
      props.onChanged();
    } catch (err) {
      setRowError({ member: m.name, message: errorText(err) });
    }
  };

  const remove = async (m: IMember) => {
    const result = await showDialog({
      title: `Remove ${m.name}?`,
      body: `${m.name} will no longer be a member of ${project.name}.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Remove' })]
    });
    if (!result.button.accept) {
      return;
    }
    setRowError(null);
    try {
      await client.removeMember(project.name, m.name);
      props.onChanged();
    } catch (err) {
      setRowError({ member: m.name, message: errorText(err) });
    }
  };

  const canEditMembers = props.editable && project.name !== 'public';

  return (
    <div className="cl-Subsection" data-testid="cubelab-members">
      <h4 className="cl-Subsection-title">
        Members <span className="cl-Count">{memberCount}</span>
      </h4>
      {paged.hasMore || search ? (
        <input
          type="search"
          className="jp-mod-styled cl-Input"
          placeholder="Search members"
          aria-label={`Search members of ${project.name}`}
          data-testid="cubelab-members-search"
          value={search}
          onChange={e => setSearch(e.target.value)}
        />
      ) : null}
      {paged.error ? (
        <div className="cl-FieldError cl-Banner" role="alert">
          {paged.error}
        </div>
      ) : null}
      <ul className="cl-MemberList" aria-label={`Members of ${project.name}`}>
        {members.map(m => (
          <li key={m.name} className="cl-Member" data-member={m.name} data-role={m.role}>
            <span className="cl-MemberName">
              {m.name}
              {m.name === props.me.name ? <span className="cl-You"> (you)</span> : null}
            </span>
            {canEditMembers ? (
              <>
                <select
                  className="jp-mod-styled cl-Select"
                  aria-label={`Role of ${m.name}`}
                  data-testid="cubelab-member-role"
                  value={m.role}
                  onChange={e => void changeRole(m, e.target.value as Role)}
                >
                  {ROLES.map(r => (
                    <option key={r} value={r}>
                      {r}
                    </option>
                  ))}
                </select>
                <button
                  type="button"
                  className="cl-IconButton"
                  aria-label={`Remove ${m.name}`}
                  title={`Remove ${m.name}`}
                  data-testid="cubelab-member-remove"
                  onClick={() => void remove(m)}
                >
                  <closeIcon.react tag="span" elementSize="normal" />
                </button>
              </>
            ) : (
              <span className="cl-RoleText">{m.role}</span>
            )}
            {rowError?.member === m.name ? (
              <div className="cl-FieldError cl-Member-error" role="alert" data-testid="cubelab-member-error">
                {rowError.message}
              </div>
            ) : null}
          </li>
        ))}
      </ul>
      <LoadMore
        hasMore={paged.hasMore}
        loading={paged.loading}
        onClick={() => void paged.loadMore()}
        testid="cubelab-members-more"
      />
      {canEditMembers ? (
        <form className="cl-AddMember" aria-label="Add a member" data-testid="cubelab-add-member-form" onSubmit={add}>
          <FieldError id="cl-add-member-error" field="" message={errors['']} />
          <div className="cl-AddMember-row">
            <label htmlFor={nameId} className="cl-VisuallyHidden">
              Username
            </label>
            <input
              id={nameId}
              type="text"
              name="name"
              className={'jp-mod-styled cl-Input' + (errors.name ? ' cl-mod-invalid' : '')}
              placeholder="username"
              value={newName}
              aria-invalid={errors.name ? true : undefined}
              aria-describedby={errors.name ? `${nameId}-err` : undefined}
              data-testid="cubelab-add-member-name"
              onChange={e => setNewName(e.target.value)}
            />
            <label htmlFor={roleId} className="cl-VisuallyHidden">
              Role
            </label>
            <select
              id={roleId}
              name="role"
              className="jp-mod-styled cl-Select"
              value={newRole}
              data-testid="cubelab-add-member-role"
              onChange={e => setNewRole(e.target.value as Role)}
            >
              {ROLES.map(r => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
            <Button kind="accept" type="submit" disabled={busy} testid="cubelab-add-member">
              Add
            </Button>
          </div>
          <FieldError id={`${nameId}-err`} field="name" message={errors.name} />
          <FieldError id={`${roleId}-err`} field="role" message={errors.role} />
        </form>
      ) : null}
      {props.editable && project.name === 'public' ? (
        <p className="cl-Note">Every user is a member of public.</p>
      ) : null}
    </div>
  );
}

function SettingsEditor(props: {
  project: IProject;
  client: ProjectsClient;
  editable: boolean;
  onSaved: (p: IProject) => void;
}): JSX.Element {
  const original = React.useMemo(() => formFromSettings(props.project.settings), [props.project.settings]);
  const [form, setForm] = React.useState<SettingsForm>(original);
  const [errors, setErrors] = React.useState<Errors>({});
  const [busy, setBusy] = React.useState(false);
  const [saved, setSaved] = React.useState(false);
  React.useEffect(() => setForm(original), [original]);

  const dirty = isDirty(original, form);
  const save = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!dirty) {
      return;
    }
    setBusy(true);
    setErrors({});
    setSaved(false);
    try {
      const p = await props.client.updateProject(props.project.name, {
        settings: settingsPatch(original, form)
      });
      setSaved(true);
      props.onSaved(p);
    } catch (err) {
      setErrors(formErrors(err, SETTINGS_FORM_KEYS));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="cl-Form cl-Subsection"
      data-testid="cubelab-settings-form"
      aria-label={`Settings of ${props.project.name}`}
      onSubmit={save}
      onChange={() => setSaved(false)}
    >
      <h4 className="cl-Subsection-title">Settings</h4>
      <FieldError id="cl-settings-error" field="" message={errors['']} />
      <SettingsFields form={form} onChange={setForm} errors={errors} readOnly={!props.editable} />
      {props.editable ? (
        <div className="cl-Form-buttons">
          {saved && !dirty ? (
            <span className="cl-Saved" role="status" data-testid="cubelab-settings-saved">
              Saved
            </span>
          ) : null}
          <Button
            kind="reject"
            disabled={!dirty || busy}
            onClick={() => {
              setForm(original);
              setErrors({});
            }}
            testid="cubelab-settings-reset"
          >
            Reset
          </Button>
          <Button kind="accept" type="submit" disabled={!dirty || busy} testid="cubelab-settings-save">
            {busy ? 'Saving…' : 'Save'}
          </Button>
        </div>
      ) : null}
    </form>
  );
}
