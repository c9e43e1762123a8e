/**
 * The create/edit form of a service (a main-area tab), checked as you type:
 * each pause sends the draft to `POST /services/validate` and every problem
 * shows at its field with the accepted forms.  Saving an edit of a deployed
 * service rolls its replicas; a new service can be deployed at once.
 */
import * as React from 'react';

import { Button, FieldError, TextField, useUid } from '../components';
import { ImagePicker } from '../images/ImagePicker';
import { IMe } from '../projects/client';
import { ApiError } from '../request';
import { useDebounced } from '../usePagedList';
import { errorMessage } from '../useResource';
import { IService, IServiceDiagnostic, ServicesClient } from './client';
import {
  diagnosticsByField,
  draftToBody,
  ENVIRONMENTS,
  inferenceName,
  IServiceDraft,
  ServiceKind,
  SERVING_TYPES
} from './draft';

export interface IServiceFormProps {
  me: IMe;
  client: ServicesClient;
  draft: IServiceDraft;
  /** the service being edited; null for a new one */
  service: IService | null;
  onSaved: (service: IService) => void;
  onCancel: () => void;
}

function diagnosticsOf(err: unknown): IServiceDiagnostic[] {
  if (err instanceof ApiError) {
    if (err.details.length) {
      return err.details.map(d => ({ field: d.field ?? '', message: d.message, accepted: d.accepted ?? null }));
    }
    return [{ field: err.field ?? '', message: err.message, accepted: null }];
  }
  return [{ field: '', message: errorMessage(err), accepted: null }];
}

export function ServiceForm(props: IServiceFormProps): JSX.Element {
  const { client, service } = props;
  const editing = service !== null;
  const [draft, setDraft] = React.useState<IServiceDraft>(props.draft);
  const set = <K extends keyof IServiceDraft>(key: K, value: IServiceDraft[K]) =>
    setDraft(d => ({ ...d, [key]: value }));
  const body = React.useMemo(() => draftToBody(draft), [draft]);
  const settled = useDebounced(body, 400);
  const [diags, setDiags] = React.useState<IServiceDiagnostic[]>([]);
  const [checked, setChecked] = React.useState(false);
  React.useEffect(() => {
    let current = true;
    client.validate(settled, service?.id).then(
      found => {
        if (current) {
          setDiags(found);
          setChecked(true);
        }
      },
      err => current && setDiags(diagnosticsOf(err))
    );
    return () => {
      current = false;
    };
  }, [settled]);
  const placed = diagnosticsByField(diags, draft.kind);
  const msg = (field: keyof IServiceDraft) => placed.fields[field];

  const [busy, setBusy] = React.useState(false);
  const [general, setGeneral] = React.useState<string[]>([]);
  const save = async (deploy: boolean) => {
    setBusy(true);
    setGeneral([]);
    try {
      let saved = editing ? await client.update(service!.id, body) : await client.create(body);
      if (deploy) {
        saved = await client.deploy(saved.id);
      }
      props.onSaved(saved);
    } catch (err) {
      const found = diagnosticsOf(err);
      setDiags(found);
      setGeneral(diagnosticsByField(found, draft.kind).general);
    } finally {
      setBusy(false);
    }
  };

  const field = (
    name: keyof IServiceDraft,
    label: string,
    help: string,
    extra: Partial<{ multiline: boolean }> = {}
  ) => (
    <TextField
      name={name}
      label={label}
      value={String(draft[name])}
      onChange={v => set(name, v as never)}
      help={help}
      error={msg(name)}
      testid={`cubelab-service-${name}`}
      multiline={extra.multiline}
    />
  );
  const imageId = useUid('cl-service-image');
  const errorCount = diags.length;
  return (
    <form
      className="cl-Form cl-ServiceForm"
      aria-label={editing ? `Edit service ${service!.name}` : 'New service'}
      data-testid="cubelab-service-form"
      onSubmit={e => {
        e.preventDefault();
        void save(!editing || service!.status === 'stopped');
      }}
    >
      <h2>{editing ? `Edit ${service!.name}` : 'New service'}</h2>
      <FieldError id="cl-service-form-error" field="" message={[...general, ...placed.general].join('\n')} />
      <fieldset className="cl-Fieldset">
        <legend>Service</legend>
        <Choice
          name="kind"
          label="Kind"
          value={draft.kind}
          disabled={editing}
          options={[
            { value: 'internal', label: 'Internal service (an image or a command)' },
            { value: 'inference', label: 'Inference service (a model)' }
          ]}
          onChange={v => set('kind', v as ServiceKind)}
        />
        <Choice
          name="project"
          label="Project"
          value={draft.project}
          disabled={editing}
          options={props.me.projects.map(p => ({ value: p.name, label: p.name }))}
          onChange={v => set('project', v)}
          error={msg('project')}
        />
        {draft.kind === 'internal'
          ? field('name', 'Name', 'Lowercase letters, digits and “-”; the host is <name>.<domain>.')
          : null}
      </fieldset>
      {draft.kind === 'inference' ? (
        <fieldset className="cl-Fieldset">
          <legend>Model</legend>
          <Choice
            name="serving_type"
            label="Serving type"
            value={draft.serving_type}
            options={SERVING_TYPES.map(s => ({ value: s, label: s === 'custom' ? 'custom (your own command)' : s }))}
            onChange={v => set('serving_type', v)}
            error={msg('serving_type')}
          />
          {field('model_name', 'Model name', 'Lowercase letters, digits and “-”.')}
          {field('model_version', 'Version', 'With digits, e.g. v1 or v2024.10.1.')}
          {field('model_path', 'Model path', 'A file of your workspace (e.g. models/iris.joblib) or a URL.')}
          <Choice
            name="environment"
            label="Environment"
            value={draft.environment}
            options={ENVIRONMENTS.map(e => ({ value: e, label: e }))}
            onChange={v => set('environment', v)}
            error={msg('environment')}
          />
          <div className="cl-Field-help" data-testid="cubelab-service-generated-name">
            Named {editing ? service!.name : inferenceName(draft)}
          </div>
        </fieldset>
      ) : null}
      <fieldset className="cl-Fieldset">
        <legend>What runs</legend>
        <div className="cl-Field" data-field="image">
          <label htmlFor={imageId} className="cl-Field-label">
            Image
          </label>
          <ImagePicker
            api={client.api}
            project={draft.project}
            value={draft.image}
            onChange={v => set('image', v)}
            id={imageId}
            name="image"
            testid="cubelab-service-image"
            invalid={!!msg('image')}
            describedBy={`${imageId}-help${msg('image') ? ` ${imageId}-err` : ''}`}
          />
          <div id={`${imageId}-help`} className="cl-Field-help">
            On Kubernetes; on one machine a command runs instead. Images built in the project are offered.
          </div>
          <FieldError id={`${imageId}-err`} field="image" message={msg('image')} />
        </div>
        {field('command', 'Command', 'A command line (run with sh -c) or a JSON list, e.g. ["python", "app.py"].')}
        {field('args', 'Arguments', 'Split as a shell would, or a JSON list.')}
        {field('workdir', 'Working directory', 'An absolute path.')}
        {field('env', 'Environment', 'K=V, one per line.', { multiline: true })}
        {field('ports', 'Ports', 'e.g. 8080 or 7474,7687; the replica reads its own as $PORT.')}
        {field('health', 'Health check', '8080:/healthz (HTTP GET) or shell:CMD; empty for none.')}
      </fieldset>
      <fieldset className="cl-Fieldset">
        <legend>Resources and scaling</legend>
        {field('cpu', 'CPU', '2, 0.5 or 1~4 (request~limit).')}
        {field('memory', 'Memory', '4G, 512M or 1G~8G.')}
        {field('gpu', 'GPU', '0, 1 or 2(V100).')}
        {field('min_replicas', 'Min replicas', 'A whole number.')}
        {field('max_replicas', 'Max replicas', 'At least min replicas.')}
        {field('hpa', 'Autoscaling', 'cpu:50%,mem:50%,gpu:50%; empty for a fixed count.')}
      </fieldset>
      <fieldset className="cl-Fieldset">
        <legend>Traffic</legend>
        {field('host', 'Host', 'Empty for the generated host; a custom one ends with the platform’s domain.')}
        {field('canary', 'Split', 'svc-a:20%,svc-b:30% of this host go there; the rest stays here.')}
        {field('mirror', 'Mirror', 'shadow:20% of requests copied there; its answers are discarded.')}
        <Choice
          name="expose"
          label="Expose"
          value={draft.expose}
          options={[
            { value: 'project', label: 'Project members only' },
            { value: 'public', label: 'Public (no login)' }
          ]}
          onChange={v => set('expose', v as 'project' | 'public')}
          error={msg('expose')}
        />
        {field('volume_mount', 'Volume mounts', 'src(type):/path joined by “,”.')}
        {field('node_selector', 'Node selector', 'k=v;k=v (Kubernetes).')}
      </fieldset>
      <div className="cl-FormActions">
        <span className="cl-Diagnostics-count" data-testid="cubelab-service-diagnostics-count" aria-live="polite">
          {!checked ? 'checking…' : errorCount ? `${errorCount} error${errorCount === 1 ? '' : 's'}` : 'no errors'}
        </span>
        <Button kind="reject" onClick={props.onCancel} disabled={busy}>
          Cancel
        </Button>
        {editing ? (
          <Button kind="accept" type="submit" disabled={busy} testid="cubelab-service-submit">
            {service!.status === 'stopped' ? 'Save and deploy' : 'Save (rolls the replicas)'}
          </Button>
        ) : (
          <>
            <Button disabled={busy} onClick={() => void save(false)} testid="cubelab-service-create">
              Create
            </Button>
            <Button kind="accept" type="submit" disabled={busy} testid="cubelab-service-submit">
              Create and deploy
            </Button>
          </>
        )}
      </div>
    </form>
  );
}

function Choice(props: {
  name: string;
  label: string;
  value: string;
  options: { value: string; label: string }[];
  onChange: (value: string) => void;
  error?: string;
  disabled?: boolean;
}): JSX.Element {
  const uid = useUid('cl-select');
  return (
    <div className="cl-Field" data-field={props.name}>
      <label className="cl-Field-label" htmlFor={uid}>
        {props.label}
      </label>
      <select
        id={uid}
        className={`jp-mod-styled cl-Select${props.error ? ' cl-mod-invalid' : ''}`}
        data-testid={`cubelab-service-${props.name}`}
        aria-invalid={props.error ? true : undefined}
        disabled={props.disabled}
        value={props.value}
        onChange={e => props.onChange(e.target.value)}
      >
        {props.options.map(o => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      <FieldError id={`${uid}-err`} field={props.name} message={props.error} />
    </div>
  );
}
