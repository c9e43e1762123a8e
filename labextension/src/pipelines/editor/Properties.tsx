import * as React from 'react';

import { ImagePicker } from '../../images/ImagePicker';
import { ApiError, CubeLabClient } from '../../request';
import { FieldError, TextField, useUid } from '../../components';
import {
  argFields,
  checkValue,
  FormValue,
  fromFormValue,
  groupFields,
  IArgField,
  imageOverrideField,
  setArg,
  toFormValue
} from '../argforms';
import { formatEnvLines, getTask, parseEnvLines } from '../graph';
import { CronError, nextTimes } from '../cron';
import { formatBytes, formatTime } from '../format';
import { findTemplate } from '../palette';
import { ITask, ITemplate } from '../types';
import { EditorModel } from './model';

/** Where an image argument's suggestions come from: the project's images. */
export interface IImageSource {
  api: CubeLabClient;
  project: string;
}

/** The task's image override (`images`, Cube Studio's name): a text argument picked from the project's images. */
export const IMAGE_OVERRIDE = 'images';

/**
 * Container templates take an `images` override even when they do not declare
 * it (the task's image replaces the template's); built-in runners do not.
 */
export function takesImageOverride(template: ITemplate | null | undefined, fields: IArgField[]): boolean {
  return !!template && template.kind === 'container' && !fields.some(f => f.flag === IMAGE_OVERRIDE);
}

/** One argument input, chosen by the argument's type; the image override with the image picker. */
export function ArgInput(props: {
  field: IArgField;
  value: unknown;
  error?: string;
  readOnly: boolean;
  onChange: (value: unknown) => void;
  images?: IImageSource;
}): JSX.Element {
  const { field } = props;
  const uid = useUid('cl-arg');
  const shown = toFormValue(field, props.value);
  // text being typed into number/JSON inputs is kept locally until it parses
  const [draft, setDraft] = React.useState<string | null>(null);
  React.useEffect(() => setDraft(null), [props.value]);
  const set = (v: FormValue) => props.onChange(fromFormValue(field, v));
  const describedBy =
    [field.describe ? `${uid}-help` : '', props.error ? `${uid}-err` : ''].filter(Boolean).join(' ') || undefined;
  const common = {
    id: uid,
    name: field.flag,
    'aria-invalid': props.error ? true : undefined,
    'aria-describedby': describedBy,
    'aria-required': field.required || undefined,
    'data-testid': `cubelab-arg-${field.flag}`,
    disabled: props.readOnly || !field.editable
  };
  let input: JSX.Element;
  const picksImage = field.flag === IMAGE_OVERRIDE && props.images && field.widget === 'text';
  switch (picksImage ? 'image' : field.widget) {
    case 'image':
      input = (
        <ImagePicker
          api={props.images!.api}
          project={props.images!.project}
          value={shown as string}
          onChange={v => set(v)}
          id={uid}
          name={field.flag}
          testid={common['data-testid']}
          placeholder={field.placeholder || undefined}
          disabled={common.disabled}
          invalid={!!props.error}
          describedBy={describedBy}
        />
      );
      break;
    case 'checkbox':
      input = <input type="checkbox" {...common} checked={shown as boolean} onChange={e => set(e.target.checked)} />;
      break;
    case 'select':
      input = (
        <select
          className="jp-mod-styled cl-Select"
          {...common}
          value={shown as string}
          onChange={e => set(e.target.value)}
        >
          {!field.required || shown === '' ? <option value="">—</option> : null}
          {field.choices.map(c => (
            <option key={String(c)} value={String(c)}>
              {String(c)}
            </option>
          ))}
        </select>
      );
      break;
    case 'multiselect': {
      const selected = new Set(shown as string[]);
      input = (
        <fieldset className="cl-Multi" {...common} aria-labelledby={`${uid}-label`}>
          {field.choices.map(c => (
            <label key={String(c)} className="cl-Multi-item">
              <input
                type="checkbox"
                checked={selected.has(String(c))}
                disabled={common.disabled}
                onChange={e => {
                  const next = new Set(selected);
                  if (e.target.checked) {
                    next.add(String(c));
                  } else {
                    next.delete(String(c));
                  }
                  set(field.choices.map(String).filter(x => next.has(x)));
                }}
              />
              {String(c)}
            </label>
          ))}
        </fieldset>
      );
      break;
    }
    case 'textarea':
    case 'json':
      input = (
        <textarea
          className={`jp-mod-styled cl-Input${field.widget === 'json' ? ' cl-Code' : ''}${props.error ? ' cl-mod-invalid' : ''}`}
          rows={field.widget === 'json' ? 3 : 4}
          spellCheck={false}
          placeholder={
            field.placeholder || (field.type === 'list' ? '["a", "b"]' : field.type === 'dict' ? '{"k": "v"}' : '')
          }
          {...common}
          value={draft ?? (shown as string)}
          onChange={e => {
            setDraft(e.target.value);
            set(e.target.value);
          }}
        />
      );
      break;
    default:
      input = (
        <input
          type="text"
          inputMode={field.widget === 'number' ? 'decimal' : undefined}
          className={`jp-mod-styled cl-Input${props.error ? ' cl-mod-invalid' : ''}`}
          placeholder={field.placeholder || (field.widget === 'file' ? 'path in your workspace' : '')}
          spellCheck={false}
          {...common}
          value={draft ?? (shown as string)}
          onChange={e => {
            setDraft(e.target.value);
            set(e.target.value);
          }}
        />
      );
  }
  return (
    <div className={`cl-Field cl-ArgField cl-type-${field.type}`} data-arg={field.flag}>
      <label htmlFor={uid} id={`${uid}-label`} className="cl-Field-label">
        {field.label}
        {field.required ? (
          <span className="cl-Required" title="required">
            {' '}
            *
          </span>
        ) : null}
        <span className="cl-ArgFlag"> {field.flag}</span>
      </label>
      {input}
      {field.describe ? (
        <div id={`${uid}-help`} className="cl-Field-help">
          {field.describe}
        </div>
      ) : null}
      <FieldError id={`${uid}-err`} field={`args.${field.flag}`} message={props.error} />
    </div>
  );
}

function NumberField(props: {
  name: string;
  label: string;
  value: number;
  min?: number;
  help?: string;
  error?: string;
  readOnly: boolean;
  onChange: (v: number) => void;
}): JSX.Element {
  const [text, setText] = React.useState(String(props.value));
  React.useEffect(() => setText(String(props.value)), [props.value]);
  const localError = /^\s*\d+\s*$/.test(text) ? undefined : 'Enter a whole number.';
  return (
    <TextField
      name={props.name}
      label={props.label}
      value={text}
      help={props.help}
      error={localError ?? props.error}
      readOnly={props.readOnly}
      testid={`cubelab-task-${props.name}`}
      onChange={v => {
        setText(v);
        if (/^\s*\d+\s*$/.test(v)) {
          props.onChange(parseInt(v, 10));
        }
      }}
    />
  );
}

/** Checkboxes for the task's upstream tasks: connecting without a mouse. */
function Upstreams(props: { model: EditorModel; task: ITask; readOnly: boolean }): JSX.Element | null {
  const { model, task } = props;
  const others = model.pipeline.tasks.filter(t => t.name !== task.name);
  if (!others.length) {
    return null;
  }
  const ups = new Set(model.pipeline.edges.filter(([, d]) => d === task.name).map(([u]) => u));
  return (
    <fieldset className="cl-ArgGroup" data-testid="cubelab-task-upstreams">
      <legend>Runs after</legend>
      <div className="cl-Multi">
        {others.map(o => (
          <label key={o.name} className="cl-Multi-item">
            <input
              type="checkbox"
              checked={ups.has(o.name)}
              disabled={props.readOnly}
              data-upstream={o.name}
              onChange={e => {
                if (e.target.checked) {
                  model.connect(o.name, task.name);
                } else {
                  model.disconnect(o.name, task.name);
                }
              }}
            />
            {o.name}
          </label>
        ))}
      </div>
    </fieldset>
  );
}

/** The selected task's form: name, template arguments, resources, retries… */
export function TaskProperties(props: { model: EditorModel; task: ITask }): JSX.Element {
  const { model, task } = props;
  const readOnly = !model.editable;
  const template = findTemplate(model.templates, task.template, task.template_version);
  const fields = React.useMemo(() => argFields(template?.args), [template]);
  const serverErrors = model.diagnosticMap.taskFields[task.name] ?? {};
  const [name, setName] = React.useState(task.name);
  const [nameError, setNameError] = React.useState<string | undefined>();
  React.useEffect(() => {
    setName(task.name);
    setNameError(undefined);
  }, [task.name]);

  const update = (change: Partial<ITask>, key: string) => model.updateTask(task.name, change, `${task.name}:${key}`);

  const commitName = () => {
    if (name === task.name) {
      return;
    }
    const err = model.renameTask(task.name, name.trim());
    setNameError(err ?? undefined);
  };

  const err = (key: string) => serverErrors[key];
  const images: IImageSource = { api: model.client.api, project: model.pipeline.project };
  const override = takesImageOverride(template, fields) ? imageOverrideField(template?.image) : null;
  return (
    <div className="cl-Properties-body" data-testid="cubelab-task-properties" data-task={task.name}>
      <h3 className="cl-Properties-title">Task</h3>
      <div className="cl-TemplateInfo">
        <span>
          Template <strong>{task.template}</strong>
          {task.template_version ? ` (${task.template_version})` : ''}
        </span>
        {template?.help_url ? (
          <a href={template.help_url} target="_blank" rel="noopener noreferrer" className="cl-HelpLink">
            Help
          </a>
        ) : null}
      </div>
      {template?.description ? <p className="cl-Field-help">{template.description}</p> : null}
      <FieldError id="cl-task-template-err" field="template" message={err('template')} />
      <div onKeyDown={e => e.key === 'Enter' && commitName()} onBlur={commitName}>
        <TextField
          name="name"
          label="Name"
          value={name}
          onChange={v => {
            setName(v);
            setNameError(undefined);
          }}
          error={nameError ?? err('name')}
          readOnly={readOnly}
          testid="cubelab-task-name"
          help="Press Enter to rename; edges and references follow."
        />
      </div>
      <Upstreams model={model} task={task} readOnly={readOnly} />
      <TextField
        name="label"
        label="Label"
        value={task.label ?? ''}
        onChange={v => update({ label: v }, 'label')}
        readOnly={readOnly}
        testid="cubelab-task-label"
      />
      {fields.length ? (
        groupFields(fields).map(g => (
          <fieldset key={g.group} className="cl-ArgGroup">
            <legend>{g.group}</legend>
            {g.fields.map(f => (
              <ArgInput
                key={f.flag}
                field={f}
                value={task.args[f.flag]}
                readOnly={readOnly}
                error={err(`args.${f.flag}`) ?? checkValue(f, task.args[f.flag]) ?? undefined}
                onChange={v => update({ args: setArg(task.args, f.flag, v) }, `args.${f.flag}`)}
                images={images}
              />
            ))}
          </fieldset>
        ))
      ) : template && !override ? (
        <p className="cl-Field-help">This template takes no arguments.</p>
      ) : null}
      {override ? (
        <fieldset className="cl-ArgGroup">
          <legend>Image</legend>
          <ArgInput
            field={override}
            value={task.args[override.flag]}
            readOnly={readOnly}
            error={err(`args.${override.flag}`)}
            onChange={v => update({ args: setArg(task.args, override.flag, v) }, `args.${override.flag}`)}
            images={images}
          />
        </fieldset>
      ) : null}
      {Object.keys(serverErrors)
        .filter(
          k => k.startsWith('args.') && !fields.some(f => `args.${f.flag}` === k) && k !== `args.${override?.flag}`
        )
        .map(k => (
          <FieldError key={k} id={`cl-task-${k}`} field={k} message={serverErrors[k]} />
        ))}
      <fieldset className="cl-ArgGroup">
        <legend>Resources</legend>
        {model.proposals[task.name] ? (
          <div className="cl-Proposal" data-testid="cubelab-proposal" role="note">
            <span>
              After {model.proposals[task.name].runs} successful runs (peak{' '}
              {model.proposals[task.name].peak_cpu.toFixed(2)} CPU,{' '}
              {formatBytes(model.proposals[task.name].peak_memory)}), CubeLab proposes CPU{' '}
              <strong>{model.proposals[task.name].proposed.cpu}</strong> and memory{' '}
              <strong>{model.proposals[task.name].proposed.memory}</strong>.
            </span>
            {!readOnly ? (
              <button
                type="button"
                className="jp-Button jp-mod-styled jp-mod-accept cl-Button"
                data-testid="cubelab-proposal-accept"
                onClick={() => void model.acceptProposal(task.name)}
              >
                Apply
              </button>
            ) : null}
          </div>
        ) : null}
        <div className="cl-Row3">
          <TextField
            name="cpu"
            label="CPU"
            value={task.cpu}
            placeholder="1 or 1~4"
            error={err('cpu')}
            readOnly={readOnly}
            testid="cubelab-task-cpu"
            onChange={v => update({ cpu: v }, 'cpu')}
          />
          <TextField
            name="memory"
            label="Memory"
            value={task.memory}
            placeholder="2G or 1G~8G"
            error={err('memory')}
            readOnly={readOnly}
            testid="cubelab-task-memory"
            onChange={v => update({ memory: v }, 'memory')}
          />
          <TextField
            name="gpu"
            label="GPU"
            value={task.gpu}
            placeholder="0, 1, 2(V100)"
            error={err('gpu')}
            readOnly={readOnly}
            testid="cubelab-task-gpu"
            onChange={v => update({ gpu: v }, 'gpu')}
          />
        </div>
      </fieldset>
      <fieldset className="cl-ArgGroup">
        <legend>Execution</legend>
        <div className="cl-Row3">
          <NumberField
            name="retries"
            label="Retries"
            value={task.retries}
            error={err('retries')}
            readOnly={readOnly}
            onChange={v => update({ retries: v }, 'retries')}
          />
          <NumberField
            name="timeout"
            label="Timeout (s)"
            value={task.timeout}
            help="0 = none"
            error={err('timeout')}
            readOnly={readOnly}
            onChange={v => update({ timeout: v }, 'timeout')}
          />
        </div>
        <label className="cl-Check">
          <input
            type="checkbox"
            checked={task.skip}
            disabled={readOnly}
            data-testid="cubelab-task-skip"
            onChange={e => update({ skip: e.target.checked }, 'skip')}
          />
          Skip this task
        </label>
        <TextField
          name="volume_mount"
          label="Extra mounts"
          value={task.volume_mount}
          placeholder="src(type):/path"
          error={err('volume_mount')}
          readOnly={readOnly}
          testid="cubelab-task-volume_mount"
          onChange={v => update({ volume_mount: v }, 'volume_mount')}
        />
        <TextField
          name="node_selector"
          label="Node selector"
          value={task.node_selector}
          placeholder="k=v;k=v"
          error={err('node_selector')}
          readOnly={readOnly}
          testid="cubelab-task-node_selector"
          onChange={v => update({ node_selector: v }, 'node_selector')}
        />
        <EnvField
          label="Environment"
          env={task.env}
          error={err('env')}
          readOnly={readOnly}
          testid="cubelab-task-env"
          onChange={env => update({ env }, 'env')}
        />
      </fieldset>
      {!readOnly ? (
        <div className="cl-Form-buttons">
          <button
            type="button"
            className="jp-Button jp-mod-styled cl-Button"
            data-testid="cubelab-task-debug"
            disabled={!model.canRun}
            onClick={() => void model.debugTask(task.name)}
            title="Run this task alone (its upstreams' outputs come from their latest successful run)"
          >
            Debug run
          </button>
        </div>
      ) : null}
    </div>
  );
}

/** Pipeline settings: name, description, global env, parallelism, schedule. */
/** ``KEY=value`` lines for an environment; text with an error stays as typed
 * (and is not applied) until it parses. */
function EnvField(props: {
  label: string;
  env: Record<string, string>;
  error?: string;
  readOnly: boolean;
  testid: string;
  onChange: (env: Record<string, string>) => void;
}): JSX.Element {
  const [text, setText] = React.useState(formatEnvLines(props.env));
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    if (!error) {
      setText(formatEnvLines(props.env));
    }
  }, [props.env]);
  return (
    <TextField
      name="env"
      label={props.label}
      value={text}
      multiline
      placeholder="KEY=value per line"
      error={error ?? props.error}
      readOnly={props.readOnly}
      testid={props.testid}
      onChange={v => {
        setText(v);
        const parsed = parseEnvLines(v);
        setError(parsed.error);
        if (!parsed.error) {
          props.onChange(parsed.env);
        }
      }}
    />
  );
}

export function PipelineSettings(props: { model: EditorModel }): JSX.Element {
  const { model } = props;
  const p = model.pipeline;
  const readOnly = !model.editable;
  const errs = model.diagnosticMap.pipelineFields;
  const [par, setPar] = React.useState(p.parallelism === null ? '' : String(p.parallelism));
  React.useEffect(() => setPar(p.parallelism === null ? '' : String(p.parallelism)), [p.parallelism]);
  const update = (change: any, key: string) => model.updatePipeline(change, `pipeline:${key}`);
  const fieldErr = (prefix: string) =>
    Object.entries(errs)
      .filter(([k]) => k === prefix || k.startsWith(prefix + '.'))
      .map(([, v]) => v)
      .join('\n') || undefined;
  return (
    <div className="cl-Properties-body" data-testid="cubelab-pipeline-settings">
      <h3 className="cl-Properties-title">Pipeline</h3>
      <p className="cl-Field-help">Project {p.project}</p>
      <TextField
        name="name"
        label="Name"
        value={p.name}
        error={errs.name}
        readOnly={readOnly}
        testid="cubelab-pipeline-name"
        onChange={v => update({ name: v }, 'name')}
      />
      <TextField
        name="description"
        label="Description"
        value={p.description}
        multiline
        readOnly={readOnly}
        testid="cubelab-pipeline-description"
        onChange={v => update({ description: v }, 'description')}
      />
      <TextField
        name="parallelism"
        label="Parallelism"
        value={par}
        placeholder="machine cores"
        help="Tasks at most running at once; empty for the engine's default."
        error={
          (par.trim() && !/^\d+$/.test(par.trim()) ? 'Enter a whole number or leave empty.' : undefined) ??
          errs.parallelism
        }
        readOnly={readOnly}
        testid="cubelab-pipeline-parallelism"
        onChange={v => {
          setPar(v);
          if (!v.trim()) {
            update({ parallelism: null }, 'parallelism');
          } else if (/^\d+$/.test(v.trim())) {
            update({ parallelism: parseInt(v, 10) }, 'parallelism');
          }
        }}
      />
      <EnvField
        label="Global environment"
        env={p.env}
        error={fieldErr('env')}
        readOnly={readOnly}
        testid="cubelab-pipeline-env"
        onChange={env => update({ env }, 'env')}
      />
      <ScheduleSettings model={model} error={fieldErr('schedule')} />
    </div>
  );
}

function ScheduleSettings(props: { model: EditorModel; error?: string }): JSX.Element {
  const { model } = props;
  const s = model.pipeline.schedule;
  const readOnly = !model.editable;
  const update = (change: any, key: string) =>
    model.updatePipeline({ schedule: { ...s, ...change } }, `schedule:${key}`);
  // the server checks the settings as typed (croniter, time zones) and lists
  // the next ticks; until it answers, a preview computed here is shown
  const [server, setServer] = React.useState<{
    key: string;
    next: string[] | null;
    errors: Record<string, string>;
  } | null>(null);
  const key = JSON.stringify(s);
  React.useEffect(() => {
    if (!s.cron) {
      setServer(null);
      return;
    }
    let live = true;
    const timer = setTimeout(() => {
      model.client
        .schedulePreview(s)
        .then(r => live && setServer({ key, next: r.next, errors: {} }))
        .catch(err => {
          if (!live) {
            return;
          }
          if (err instanceof ApiError && err.status === 400) {
            const errors: Record<string, string> = {};
            for (const [f, m] of Object.entries(err.fieldMessages)) {
              errors[f.replace(/^schedule\./, '')] = m;
            }
            setServer({ key, next: null, errors });
          } else {
            setServer(null); // no preview endpoint: keep the local preview
          }
        });
    }, 400);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [key]);
  let preview: string[] = [];
  let cronError: string | undefined;
  if (s.cron) {
    try {
      preview = nextTimes(s.cron, new Date(), 5, s.timezone || 'UTC').map(d => d.toISOString());
    } catch (err) {
      cronError = err instanceof CronError ? err.message : String(err);
    }
  }
  const fresh = server && server.key === key ? server : null;
  const times = fresh ? (fresh.next ?? []) : preview;
  const serverErrors = fresh?.errors ?? {};
  const otherErrors = Object.entries(serverErrors)
    .filter(([f]) => f !== 'cron' && f !== 'timezone')
    .map(([, m]) => m)
    .join('\n');
  return (
    <fieldset className="cl-ArgGroup" data-testid="cubelab-schedule">
      <legend>Schedule</legend>
      <label className="cl-Check">
        <input
          type="checkbox"
          checked={!!s.enabled}
          disabled={readOnly}
          data-testid="cubelab-schedule-enabled"
          onChange={e => update({ enabled: e.target.checked }, 'enabled')}
        />
        Run on a schedule
      </label>
      <TextField
        name="cron"
        label="Cron"
        value={s.cron ?? ''}
        placeholder="0 2 * * *"
        help="minute hour day-of-month month day-of-week; ranges, lists and steps"
        error={serverErrors.cron ?? (fresh ? undefined : cronError) ?? props.error}
        readOnly={readOnly}
        testid="cubelab-schedule-cron"
        onChange={v => update({ cron: v.trim() ? v : null }, 'cron')}
      />
      <TextField
        name="timezone"
        label="Time zone"
        value={s.timezone ?? ''}
        placeholder="UTC"
        error={serverErrors.timezone}
        readOnly={readOnly}
        testid="cubelab-schedule-timezone"
        onChange={v => update({ timezone: v.trim() ? v : null }, 'timezone')}
      />
      <FieldError id="cl-schedule-err" field="schedule" message={otherErrors || undefined} />
      <div className="cl-NextTimes" data-testid="cubelab-schedule-next" aria-live="polite">
        {times.length ? (
          <>
            <span className="cl-Field-label">Next {times.length} runs, shown in your local time</span>
            <ol>
              {times.map(t => (
                <li key={t}>{formatTime(t)}</li>
              ))}
            </ol>
          </>
        ) : null}
      </div>
    </fieldset>
  );
}

export function Properties(props: { model: EditorModel }): JSX.Element {
  const { model } = props;
  const sel = model.selection.tasks;
  const task = sel.length === 1 ? getTask(model.pipeline, sel[0]) : undefined;
  return (
    <div className="cl-Properties" aria-label="Properties">
      {task && !model.viewingRun ? (
        <TaskProperties key={task.name} model={model} task={task} />
      ) : sel.length > 1 ? (
        <div className="cl-Properties-body">
          <p>{sel.length} tasks selected.</p>
          {model.editable ? (
            <button
              type="button"
              className="jp-Button jp-mod-styled cl-Button"
              onClick={() => model.duplicateSelection()}
            >
              Duplicate
            </button>
          ) : null}
        </div>
      ) : (
        <PipelineSettings model={model} />
      )}
    </div>
  );
}
