/**
 * The new-experiment form (a main-area tab): search space with validation as
 * you type (the server's `POST /experiments/validate`, debounced), tuner and
 * assessor pickers from `GET /experiments/tuners`, objective, the trial (a
 * job template with its arguments, or a workspace file), resources and limits.
 */
import * as React from 'react';

import { Button, FieldError, TextField, useUid } from '../components';
import { IMe } from '../projects/client';
import { ApiError } from '../request';
import { errorMessage, useResource } from '../useResource';
import { useDebounced } from '../usePagedList';
import { argFields, imageOverrideField, initialArgs, setArg } from '../pipelines/argforms';
import { ArgInput, IImageSource, takesImageOverride } from '../pipelines/editor/Properties';
import { paletteGroups } from '../pipelines/palette';
import { ITemplate } from '../pipelines/types';
import {
  ExperimentsClient,
  IAssessorInfo,
  IExperiment,
  IExperimentDiagnostic,
  ITunerCatalog,
  ITunerInfo
} from './client';
import { diagnosticText, draftToSpec, IDraft, mapFormDiagnostics, newDraft, tunerMismatch } from './draft';

export interface IExperimentFormProps {
  me: IMe;
  client: ExperimentsClient;
  project: string;
  /** the path of the file selected in the file browser, if any */
  selectedFile: () => string | null;
  onCreated: (experiment: IExperiment) => void;
  onCancel: () => void;
}

function diagnosticsOf(err: unknown): IExperimentDiagnostic[] {
  if (err instanceof ApiError) {
    if (Array.isArray(err.body?.diagnostics)) {
      return err.body.diagnostics as IExperimentDiagnostic[];
    }
    if (err.details.length) {
      return err.details.map(d => ({ field: d.field, message: d.message, accepted: d.accepted, severity: 'error' }));
    }
    return [{ field: err.field, message: err.message, severity: 'error' }];
  }
  return [{ field: null, message: errorMessage(err), severity: 'error' }];
}

export function ExperimentForm(props: IExperimentFormProps): JSX.Element {
  const { client } = props;
  const [draft, setDraft] = React.useState<IDraft>(() => newDraft(props.project));
  const set = <K extends keyof IDraft>(key: K, value: IDraft[K]) => setDraft(d => ({ ...d, [key]: value }));
  const catalog = useResource<ITunerCatalog>(() => client.tuners(), [client]);
  const templates = useResource<ITemplate[]>(async () => (await client.templatesPage('', null, 500)).items, [client]);
  const template = (templates.data ?? []).find(
    t => t.name === draft.template && (!draft.templateVersion || t.version === draft.templateVersion)
  );
  const fields = React.useMemo(() => (template ? argFields(template.args) : []), [template]);
  // a trial of a container template may run an image of the project instead of the template's
  const override = takesImageOverride(template, fields) ? imageOverrideField(template?.image) : null;
  const images: IImageSource = { api: client.api, project: draft.project };

  // as you type: local checks at once, the server's after a pause
  const built = React.useMemo(() => draftToSpec(draft), [draft]);
  const settled = useDebounced(built, 500);
  const [server, setServer] = React.useState<IExperimentDiagnostic[]>([]);
  const [validating, setValidating] = React.useState(false);
  React.useEffect(() => {
    let current = true;
    setValidating(true);
    client
      .validate(settled.spec)
      .then(
        diags => current && setServer(diags),
        err => current && setServer(diagnosticsOf(err))
      )
      .finally(() => current && setValidating(false));
    return () => {
      current = false;
    };
  }, [settled]);
  // a field the browser already finds wrong shows that, not what the server makes of the stand-in value
  const localFields = new Set(built.local.map(d => d.field));
  const diags = mapFormDiagnostics(
    [...built.local, ...server.filter(d => !localFields.has(d.field ?? '') && !inLocal(d.field, localFields))],
    draft.source,
    fields.map(f => f.flag)
  );
  const msg = (key: string) => diags.fields[key]?.map(d => diagnosticText(d, key)).join('\n') || undefined;

  const [busy, setBusy] = React.useState(false);
  const [submitError, setSubmitError] = React.useState<IExperimentDiagnostic[]>([]);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (built.local.length) {
      setSubmitError([{ field: null, message: 'Correct the fields marked below first.', severity: 'error' }]);
      return;
    }
    setBusy(true);
    setSubmitError([]);
    try {
      props.onCreated(await client.create(built.spec));
    } catch (err) {
      const found = diagnosticsOf(err);
      setServer(found);
      setSubmitError(found.filter(d => !d.field));
    } finally {
      setBusy(false);
    }
  };

  const pickTemplate = (t: ITemplate) =>
    setDraft(d => ({ ...d, template: t.name, templateVersion: t.version, args: initialArgs(t) }));

  return (
    <form
      className="cl-Form cl-ExperimentForm"
      aria-label="New experiment"
      data-testid="cubelab-experiment-form"
      onSubmit={submit}
    >
      <h2>New experiment</h2>
      <FieldError id="cl-experiment-form-error" field="" message={submitError.map(d => d.message).join('\n')} />
      <fieldset className="cl-Fieldset">
        <legend>Experiment</legend>
        <TextField
          name="name"
          label="Name"
          value={draft.name}
          onChange={v => set('name', v)}
          required
          autoFocus
          placeholder="e.g. lr-search"
          help="Lowercase letters, digits and “-”."
          error={msg('name')}
          testid="cubelab-experiment-name"
        />
        <SelectField
          name="project"
          label="Project"
          value={draft.project}
          options={props.me.projects.map(p => ({ value: p.name, label: p.name }))}
          onChange={v => set('project', v)}
          error={msg('project')}
        />
        <TextField
          name="description"
          label="Description"
          value={draft.description}
          onChange={v => set('description', v)}
          error={msg('description')}
          testid="cubelab-experiment-description"
        />
      </fieldset>

      <fieldset className="cl-Fieldset">
        <legend>Search space</legend>
        <CodeField
          name="search_space"
          label="Search space (NNI JSON)"
          value={draft.spaceText}
          onChange={v => set('spaceText', v)}
          rows={8}
          help='Each parameter: {"_type": choice, randint, uniform, quniform, loguniform, qloguniform, normal, qnormal, lognormal or qlognormal, "_value": [...]}; a choice may hold nested spaces ({"_name": ...}).'
          error={msg('search_space')}
          status={validating ? 'checking…' : diags.fields.search_space ? '' : 'valid'}
        />
      </fieldset>

      <fieldset className="cl-Fieldset">
        <legend>Tuner</legend>
        {catalog.error ? (
          <div className="cl-FieldError" role="alert">
            {catalog.error}
          </div>
        ) : null}
        <TunerPicker
          catalog={catalog.data}
          draft={draft}
          space={settled.spec.search_space}
          onTuner={v => set('tuner', v)}
          error={msg('tuner')}
        />
        <CodeField
          name="tuner_args"
          label="Tuner arguments (JSON object)"
          value={draft.tunerArgsText}
          onChange={v => set('tunerArgsText', v)}
          rows={2}
          help="optimize_mode comes from the objective's direction."
          error={msg('tuner_args')}
        />
        <SelectField
          name="assessor"
          label="Assessor (early stopping)"
          value={draft.assessor}
          options={[
            { value: '', label: 'None' },
            ...(catalog.data?.assessors ?? []).map(a => ({ value: a.name, label: a.name }))
          ]}
          onChange={v => set('assessor', v)}
          error={msg('assessor')}
          help={catalog.data?.assessors.find(a => a.name === draft.assessor)?.description}
        />
        {draft.assessor ? (
          <>
            <ArgsHelp info={catalog.data?.assessors.find(a => a.name === draft.assessor)} />
            <CodeField
              name="assessor_args"
              label="Assessor arguments (JSON object)"
              value={draft.assessorArgsText}
              onChange={v => set('assessorArgsText', v)}
              rows={2}
              error={msg('assessor_args')}
            />
          </>
        ) : null}
      </fieldset>

      <fieldset className="cl-Fieldset">
        <legend>Objective</legend>
        <TextField
          name="objective.metric"
          label="Metric"
          value={draft.metric}
          onChange={v => set('metric', v)}
          help="“default” is the number the trial reports; another name picks that key of a reported dict or a name=value line."
          error={msg('objective.metric')}
          testid="cubelab-experiment-metric"
        />
        <SelectField
          name="objective.direction"
          label="Direction"
          value={draft.direction}
          options={[
            { value: 'maximize', label: 'maximize' },
            { value: 'minimize', label: 'minimize' }
          ]}
          onChange={v => set('direction', v as IDraft['direction'])}
          error={msg('objective.direction')}
        />
        <TextField
          name="objective.goal"
          label="Goal"
          value={draft.goal}
          onChange={v => set('goal', v)}
          placeholder="none"
          help="The experiment ends when a trial reaches it."
          error={msg('objective.goal')}
          testid="cubelab-experiment-goal"
        />
      </fieldset>

      <fieldset className="cl-Fieldset">
        <legend>Trial</legend>
        <div className="cl-Field" role="radiogroup" aria-label="What each trial runs">
          <label>
            <input
              type="radio"
              name="trial-source"
              checked={draft.source === 'file'}
              data-testid="cubelab-experiment-source-file"
              onChange={() => set('source', 'file')}
            />{' '}
            A Python file or notebook
          </label>
          <label>
            <input
              type="radio"
              name="trial-source"
              checked={draft.source === 'template'}
              data-testid="cubelab-experiment-source-template"
              onChange={() => set('source', 'template')}
            />{' '}
            A job template
          </label>
        </div>
        {draft.source === 'file' ? (
          <div className="cl-Field" data-field="trial.file">
            <TextField
              name="trial.file"
              label="File (.py or .ipynb in your workspace)"
              value={draft.file}
              onChange={v => set('file', v)}
              placeholder="train.py"
              help="Parameters arrive as --name=value arguments (notebooks: papermill parameters) and through nni.get_next_parameter()."
              error={msg('trial.file')}
              testid="cubelab-experiment-file"
            />
            <Button
              testid="cubelab-experiment-use-selected"
              onClick={() => {
                const path = props.selectedFile();
                if (path) {
                  set('file', path);
                }
              }}
              title="Use the file selected in the file browser"
            >
              Use selected file
            </Button>
          </div>
        ) : (
          <>
            <div className="cl-Field">
              <label className="cl-Field-label" htmlFor="cl-experiment-template">
                Template
              </label>
              <select
                id="cl-experiment-template"
                className="jp-mod-styled cl-Select"
                data-testid="cubelab-experiment-template"
                value={template ? `${template.name}@${template.version}` : ''}
                onChange={ev => {
                  const t = (templates.data ?? []).find(x => `${x.name}@${x.version}` === ev.target.value);
                  if (t) {
                    pickTemplate(t);
                  }
                }}
              >
                {!template ? <option value="">—</option> : null}
                {paletteGroups(templates.data ?? []).map(g => (
                  <optgroup key={g.category} label={g.category}>
                    {g.templates.map(t => (
                      <option key={`${t.name}@${t.version}`} value={`${t.name}@${t.version}`}>
                        {t.name} ({t.version})
                      </option>
                    ))}
                  </optgroup>
                ))}
              </select>
              {template?.description ? <div className="cl-Field-help">{template.description}</div> : null}
              <FieldError id="cl-experiment-template-err" field="trial.template" message={msg('trial.template')} />
            </div>
            {[...fields, ...(override ? [override] : [])].map(f => (
              <ArgInput
                key={f.flag}
                field={f}
                value={draft.args[f.flag]}
                readOnly={false}
                error={msg(`trial.args.${f.flag}`)}
                onChange={v => setDraft(d => ({ ...d, args: setArg(d.args, f.flag, v) }))}
                images={images}
              />
            ))}
          </>
        )}
        <SelectField
          name="trial.metrics"
          label="Metrics from"
          value={draft.metrics}
          options={[
            { value: 'nni', label: 'NNI trial SDK (nni.report_*_result)' },
            { value: 'stdout', label: 'standard output (name=value lines)' }
          ]}
          onChange={v => set('metrics', v as IDraft['metrics'])}
          error={msg('trial.metrics')}
        />
        <div className="cl-Row cl-Resources">
          <TextField
            name="trial.cpu"
            label="CPU"
            value={draft.cpu}
            onChange={v => set('cpu', v)}
            help="2, 0.5, 1~4"
            error={msg('trial.cpu')}
            testid="cubelab-experiment-cpu"
          />
          <TextField
            name="trial.memory"
            label="Memory"
            value={draft.memory}
            onChange={v => set('memory', v)}
            help="4G, 512M, 1G~8G"
            error={msg('trial.memory')}
            testid="cubelab-experiment-memory"
          />
          <TextField
            name="trial.gpu"
            label="GPU"
            value={draft.gpu}
            onChange={v => set('gpu', v)}
            help="0, 1, 2(V100)"
            error={msg('trial.gpu')}
            testid="cubelab-experiment-gpu"
          />
        </div>
        <TextField
          name="trial.volume_mount"
          label="Volume mounts"
          value={draft.volumeMount}
          onChange={v => set('volumeMount', v)}
          help="src(type):/path, joined by , or ;"
          error={msg('trial.volume_mount')}
        />
        <TextField
          name="trial.node_selector"
          label="Node selector"
          value={draft.nodeSelector}
          onChange={v => set('nodeSelector', v)}
          help="k=v;k=v"
          error={msg('trial.node_selector')}
        />
        <div className="cl-Row">
          <TextField
            name="trial.retries"
            label="Retries"
            value={draft.retries}
            onChange={v => set('retries', v)}
            error={msg('trial.retries')}
          />
          <TextField
            name="trial.timeout"
            label="Timeout (s, 0 = none)"
            value={draft.timeout}
            onChange={v => set('timeout', v)}
            error={msg('trial.timeout')}
          />
        </div>
      </fieldset>

      <fieldset className="cl-Fieldset">
        <legend>Concurrency and limits</legend>
        <div className="cl-Row">
          <TextField
            name="trial_concurrency"
            label="Concurrent trials"
            value={draft.concurrency}
            onChange={v => set('concurrency', v)}
            error={msg('trial_concurrency')}
            testid="cubelab-experiment-trial_concurrency"
          />
          <TextField
            name="max_trials"
            label="Max trials"
            value={draft.maxTrials}
            onChange={v => set('maxTrials', v)}
            error={msg('max_trials')}
            testid="cubelab-experiment-max_trials"
          />
          <TextField
            name="max_duration"
            label="Max duration (s, 0 = none)"
            value={draft.maxDuration}
            onChange={v => set('maxDuration', v)}
            error={msg('max_duration')}
            testid="cubelab-experiment-max_duration"
          />
        </div>
        <div className="cl-Row">
          <TextField
            name="max_failed_trials"
            label="Max failed trials"
            value={draft.maxFailed}
            onChange={v => set('maxFailed', v)}
            placeholder="= max trials"
            error={msg('max_failed_trials')}
          />
          <TextField
            name="seed"
            label="Seed"
            value={draft.seed}
            onChange={v => set('seed', v)}
            placeholder="random"
            error={msg('seed')}
            testid="cubelab-experiment-seed"
          />
        </div>
      </fieldset>

      {diags.general.length ? (
        <ul className="cl-Problems" data-testid="cubelab-experiment-problems" aria-label="Other problems">
          {diags.general.map((d, i) => (
            <li key={i} className={`cl-sev-${d.severity}`}>
              {diagnosticText(d, '')}
            </li>
          ))}
        </ul>
      ) : null}
      <div className="cl-Form-buttons">
        <span className="cl-ProjectDesc" data-testid="cubelab-experiment-diagnostics-count">
          {diags.errors ? `${diags.errors} error${diags.errors === 1 ? '' : 's'}` : 'no errors'}
          {diags.warnings ? `, ${diags.warnings} warning${diags.warnings === 1 ? '' : 's'}` : ''}
        </span>
        <Button kind="reject" onClick={props.onCancel}>
          Cancel
        </Button>
        <Button kind="accept" type="submit" disabled={busy} aria-busy={busy} testid="cubelab-experiment-submit">
          {busy ? 'Starting…' : 'Start experiment'}
        </Button>
      </div>
    </form>
  );
}

/** Whether a server field lies under a field the browser already marks (search_space.lr under search_space). */
function inLocal(field: string | null | undefined, local: Set<string | null>): boolean {
  if (!field) {
    return false;
  }
  for (const f of local) {
    if (f && (field.startsWith(`${f}.`) || field.startsWith(`${f}[`))) {
      return true;
    }
  }
  return false;
}

function SelectField(props: {
  name: string;
  label: string;
  value: string;
  options: { value: string; label: string }[];
  onChange: (value: string) => void;
  error?: string;
  help?: string;
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
        data-testid={`cubelab-experiment-${props.name.replace(/\./g, '-')}`}
        aria-invalid={props.error ? true : undefined}
        value={props.value}
        onChange={e => props.onChange(e.target.value)}
      >
        {props.options.map(o => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      {props.help ? <div className="cl-Field-help">{props.help}</div> : null}
      <FieldError id={`${uid}-err`} field={props.name} message={props.error} />
    </div>
  );
}

function CodeField(props: {
  name: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  rows: number;
  help?: string;
  error?: string;
  status?: string;
}): JSX.Element {
  const uid = useUid('cl-code');
  return (
    <div className="cl-Field" data-field={props.name}>
      <label className="cl-Field-label" htmlFor={uid}>
        {props.label}
        {props.status ? <span className="cl-ProjectDesc"> · {props.status}</span> : null}
      </label>
      <textarea
        id={uid}
        className={`jp-mod-styled cl-Input cl-Code${props.error ? ' cl-mod-invalid' : ''}`}
        rows={props.rows}
        spellCheck={false}
        data-testid={`cubelab-experiment-${props.name}`}
        aria-invalid={props.error ? true : undefined}
        aria-describedby={props.error ? `${uid}-err` : undefined}
        value={props.value}
        onChange={e => props.onChange(e.target.value)}
      />
      {props.help ? <div className="cl-Field-help">{props.help}</div> : null}
      <FieldError id={`${uid}-err`} field={props.name} message={props.error} />
    </div>
  );
}

/** A tuner's or assessor's arguments as the server describes them. */
function ArgsHelp(props: { info: ITunerInfo | IAssessorInfo | undefined }): JSX.Element | null {
  const args = Object.entries(props.info?.args ?? {});
  if (!args.length) {
    return null;
  }
  return (
    <ul className="cl-ArgsHelp" aria-label={`Arguments of ${props.info?.name}`}>
      {args.map(([name, rule]) => (
        <li key={name}>
          <code>{name}</code>: {typeof rule === 'object' ? JSON.stringify(rule) : String(rule)}
        </li>
      ))}
    </ul>
  );
}

/** Each offered tuner with the types it takes and its arguments; the left-out ones with why. */
function TunerPicker(props: {
  catalog: ITunerCatalog | null;
  draft: IDraft;
  space: unknown;
  onTuner: (name: string) => void;
  error?: string;
}): JSX.Element {
  const tuners = props.catalog?.tuners ?? [];
  const current = tuners.find(t => t.name === props.draft.tuner);
  return (
    <div className="cl-Field" data-field="tuner">
      <span className="cl-Field-label" id="cl-experiment-tuner-label">
        Tuner
      </span>
      <div
        className="cl-TunerList"
        role="radiogroup"
        aria-labelledby="cl-experiment-tuner-label"
        data-testid="cubelab-experiment-tuner"
      >
        {tuners.map(t => {
          const why = tunerMismatch(t, props.space);
          return (
            <label
              key={t.name}
              className={`cl-TunerOption${why ? ' cl-mod-unfit' : ''}`}
              data-tuner={t.name}
              title={t.description}
            >
              <input
                type="radio"
                name="tuner"
                value={t.name}
                checked={props.draft.tuner === t.name}
                onChange={() => props.onTuner(t.name)}
              />
              <span className="cl-TunerName">{t.name}</span>
              <span className="cl-ProjectDesc">
                {t.types.join(', ')}
                {t.flat_only ? ' · no nested choices' : ''}
              </span>
              {why ? <span className="cl-TunerUnfit">{why}</span> : null}
            </label>
          );
        })}
      </div>
      {current ? (
        <div className="cl-Field-help">
          {current.description}
          <ArgsHelp info={current} />
        </div>
      ) : null}
      <FieldError id="cl-experiment-tuner-err" field="tuner" message={props.error} />
      {props.catalog?.left_out.length ? (
        <details className="cl-LeftOut" data-testid="cubelab-experiment-left-out">
          <summary>Not offered ({props.catalog.left_out.length})</summary>
          <ul>
            {props.catalog.left_out.map(l => (
              <li key={l.name}>
                <strong>{l.name}</strong>: {l.reason}
              </li>
            ))}
          </ul>
        </details>
      ) : null}
    </div>
  );
}
