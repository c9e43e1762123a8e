import { Dialog, showDialog } from '@jupyterlab/apputils';
import { addIcon, closeIcon, copyIcon, fileUploadIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IMe } from '../projects/client';
import { Button, FieldError, LoadMore, TextField } from '../components';
import { formErrors } from '../projects/model';
import { PipelinesClient } from './client';
import { emptyPipeline, toBody, uniqueName } from './graph';
import { STATUS_ICONS } from './editor/Canvas';
import { duration, formatTime } from './format';
import { pipelineCan } from './permissions';
import { IPipelineSummary, RUN_FINAL } from './types';
import { RunStatusFilter } from './RunStatusFilter';
import { pipelineFileFormat, reportLines, reportTitle } from './cubeStudioImport';
import { useDebounced, usePagedList } from '../usePagedList';

export interface IPipelineOpener {
  open: (id: number, runId?: string) => void;
  /** subscribe to "pipelines or runs changed" (saves, runs); returns unsubscribe */
  onChange: (fn: () => void) => () => void;
}

/** The Pipelines section: filter, search, create, duplicate, delete. */
export function PipelinesSection(props: {
  me: IMe;
  client: PipelinesClient;
  opener: IPipelineOpener;
  refresh: number;
}): JSX.Element {
  const { client, me } = props;
  const [project, setProject] = React.useState('');
  const [search, setSearch] = React.useState('');
  const q = useDebounced(search.trim());
  const list = usePagedList(cursor => client.listPage({ project, q }, cursor), [client, project, q], {
    subscribe: props.opener.onChange,
    refresh: props.refresh
  });
  const { error, setError } = list;
  const items = list.loaded ? list.items : null;
  const load = () => void list.reload();
  const [creating, setCreating] = React.useState(false);
  const fileInput = React.useRef<HTMLInputElement>(null);

  const importFile = async (file: File) => {
    try {
      let doc: unknown;
      try {
        doc = JSON.parse(await file.text());
      } catch {
        setError(`${file.name} is not a JSON document.`);
        return;
      }
      const format = pipelineFileFormat(doc);
      if (format === 'cube-studio-templates') {
        // job templates are platform-wide: the server lets admins only
        const answer = await client.importTemplates(doc);
        setError(null);
        await showDialog({
          title: reportTitle(answer.entries, 'template'),
          body: (
            <pre className="cl-ImportReport" data-testid="cubelab-import-report">
              {reportLines(answer.entries).join('\n')}
            </pre>
          ),
          buttons: [Dialog.okButton()]
        });
        return;
      }
      if (format === 'cube-studio') {
        const answer = await client.importCubeStudio(doc, project || 'public');
        setError(null);
        load();
        await showDialog({
          title: reportTitle(answer.entries),
          body: (
            <pre className="cl-ImportReport" data-testid="cubelab-import-report">
              {reportLines(answer.entries).join('\n')}
            </pre>
          ),
          buttons: [Dialog.okButton()]
        });
        if (answer.pipelines.length === 1) {
          props.opener.open(answer.pipelines[0].id);
        }
        return;
      }
      const created = await client.importDocument(doc, project || 'public');
      setError(null);
      load();
      props.opener.open(created.id);
    } catch (err) {
      setError(`Not imported: ${(err as Error).message}`);
    }
  };

  const duplicate = async (s: IPipelineSummary) => {
    try {
      const full = await client.get(s.id);
      // the names taken in the project, asked of the server (the list may hold one page of another search)
      const similar = await client.listPage({ project: s.project, q: `${s.name}-copy` }, null, 500);
      const taken = similar.items.map(i => i.name);
      const copy = await client.create({
        ...toBody(full),
        name: uniqueName(`${s.name}-copy`, taken),
        schedule: { ...full.schedule, enabled: false }
      });
      load();
      props.opener.open(copy.id);
    } catch (err) {
      setError((err as Error).message);
    }
  };

  /** A demo copied into a project of one's own (the filtered one, else the first that is not public). */
  const copyDemo = async (s: IPipelineSummary) => {
    const target = project && project !== s.project ? project : me.projects.find(p => p.name !== s.project)?.name;
    if (!target) {
      setError(`Create a project first: ${s.name} is copied into a project of yours.`);
      return;
    }
    try {
      const taken = (items ?? []).filter(i => i.project === target).map(i => i.name);
      const copy = await client.copy(s.id, target, uniqueName(s.name, taken));
      load();
      props.opener.open(copy.id);
    } catch (err) {
      setError((err as Error).message);
    }
  };

  const remove = async (s: IPipelineSummary) => {
    const result = await showDialog({
      title: `Delete pipeline ${s.name}?`,
      body: `The pipeline, its runs and schedule records in ${s.project} are deleted. This cannot be undone.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!result.button.accept) {
      return;
    }
    try {
      await client.remove(s.id);
      load();
    } catch (err) {
      setError((err as Error).message);
    }
  };

  return (
    <div className="cl-Pipelines" data-testid="cubelab-pipelines">
      <div className="cl-Filters">
        <select
          className="jp-mod-styled cl-Select"
          aria-label="Filter by project"
          data-testid="cubelab-pipelines-project"
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
        <input
          type="search"
          className="jp-mod-styled cl-Input"
          placeholder="Search by name"
          aria-label="Search pipelines by name"
          data-testid="cubelab-pipelines-search"
          value={search}
          onChange={e => setSearch(e.target.value)}
        />
        <button
          type="button"
          className="cl-IconButton"
          aria-label="New pipeline"
          title="New pipeline"
          aria-pressed={creating}
          data-testid="cubelab-new-pipeline"
          onClick={() => setCreating(!creating)}
        >
          <addIcon.react tag="span" elementSize="normal" />
        </button>
        <button
          type="button"
          className="cl-IconButton"
          aria-label={`Import a pipeline JSON document into ${project || 'public'}`}
          title={`Import a pipeline (.json: CubeLab export, Cube Studio pipelines or, for admins, job templates) into ${project || 'public'}`}
          data-testid="cubelab-import-pipeline"
          onClick={() => fileInput.current?.click()}
        >
          <fileUploadIcon.react tag="span" elementSize="normal" />
        </button>
        <input
          ref={fileInput}
          type="file"
          accept=".json,application/json"
          hidden
          data-testid="cubelab-import-pipeline-file"
          onChange={e => {
            const file = e.target.files?.[0];
            e.target.value = '';
            if (file) {
              void importFile(file);
            }
          }}
        />
      </div>
      {creating ? (
        <CreatePipelineForm
          me={me}
          client={client}
          defaultProject={project || 'public'}
          onDone={id => {
            setCreating(false);
            if (id !== null) {
              load();
              props.opener.open(id);
            }
          }}
        />
      ) : null}
      {error ? (
        <div className="cl-FieldError cl-Banner" role="alert">
          {error}
        </div>
      ) : null}
      {items && !items.length ? <p className="cl-Empty">{q ? 'No pipeline matches.' : 'No pipelines.'}</p> : null}
      {items && items.length ? (
        <ul className="cl-List" aria-label="Pipelines" data-testid="cubelab-pipeline-list">
          {items.map(s => {
            const can = pipelineCan(me, s);
            return (
              <li
                key={s.id}
                className="cl-List-item cl-Row"
                data-pipeline={s.name}
                data-pipeline-id={s.id}
                data-pipeline-project={s.project}
              >
                <button
                  type="button"
                  className="cl-List-button"
                  data-testid="cubelab-pipeline-open"
                  aria-label={`Open pipeline ${s.name} of ${s.project}`}
                  onClick={() => props.opener.open(s.id)}
                >
                  <span className="cl-List-main">
                    <span className="cl-ProjectName">{s.name}</span>
                    <span className="cl-ProjectDesc">
                      {s.project} · {s.tasks} task{s.tasks === 1 ? '' : 's'}
                      {s.schedule_enabled ? ' · scheduled' : ''}
                      {s.demo ? ' · demo' : ''}
                    </span>
                  </span>
                  {s.last_run ? (
                    <span
                      className={`cl-StatusText cl-status-${s.last_run.status}`}
                      title={`last run ${s.last_run.status}`}
                    >
                      {STATUS_ICONS[s.last_run.status] ?? '•'}
                    </span>
                  ) : null}
                </button>
                {s.demo ? (
                  <button
                    type="button"
                    className="cl-IconButton"
                    aria-label={`Copy demo ${s.name} into my project`}
                    title="Copy this demo into my project"
                    data-testid="cubelab-pipeline-copy-demo"
                    onClick={() => void copyDemo(s)}
                  >
                    <addIcon.react tag="span" elementSize="normal" />
                  </button>
                ) : null}
                <button
                  type="button"
                  className="cl-IconButton"
                  aria-label={`Duplicate ${s.name}`}
                  title="Duplicate"
                  data-testid="cubelab-pipeline-duplicate"
                  onClick={() => void duplicate(s)}
                >
                  <copyIcon.react tag="span" elementSize="normal" />
                </button>
                <button
                  type="button"
                  className="cl-IconButton"
                  aria-label={`Delete ${s.name}`}
                  title={can.why ?? 'Delete'}
                  data-testid="cubelab-pipeline-delete"
                  disabled={!can.edit}
                  aria-disabled={!can.edit}
                  onClick={() => void remove(s)}
                >
                  <closeIcon.react tag="span" elementSize="normal" />
                </button>
              </li>
            );
          })}
        </ul>
      ) : null}
      <LoadMore
        hasMore={list.hasMore}
        loading={list.loading}
        onClick={() => void list.loadMore()}
        testid="cubelab-pipelines-more"
      />
    </div>
  );
}

function CreatePipelineForm(props: {
  me: IMe;
  client: PipelinesClient;
  defaultProject: string;
  onDone: (id: number | null) => void;
}): JSX.Element {
  const [name, setName] = React.useState('');
  const [project, setProject] = React.useState(props.defaultProject);
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [busy, setBusy] = React.useState(false);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (!name.trim()) {
      setErrors({ name: 'Enter a name for the pipeline.' });
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      const created = await props.client.create(emptyPipeline(name.trim(), project));
      props.onDone(created.id);
    } catch (err) {
      setErrors(formErrors(err, ['name', 'project']));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      className="cl-Form cl-CreateForm"
      aria-label="New pipeline"
      data-testid="cubelab-create-pipeline-form"
      onSubmit={submit}
      onKeyDown={e => {
        if (e.key === 'Escape') {
          e.stopPropagation();
          props.onDone(null);
        }
      }}
    >
      <FieldError id="cl-create-pipeline-error" field="" message={errors['']} />
      <TextField
        name="name"
        label="Name"
        value={name}
        onChange={setName}
        required
        autoFocus
        placeholder="e.g. train-daily"
        help="Lowercase letters, digits and “-”."
        error={errors.name}
        testid="cubelab-create-pipeline-name"
      />
      <div className="cl-Field">
        <label className="cl-Field-label" htmlFor="cl-create-pipeline-project">
          Project
        </label>
        <select
          id="cl-create-pipeline-project"
          className="jp-mod-styled cl-Select"
          value={project}
          data-testid="cubelab-create-pipeline-project"
          onChange={e => setProject(e.target.value)}
        >
          {props.me.projects.map(p => (
            <option key={p.name} value={p.name}>
              {p.name}
            </option>
          ))}
        </select>
        <FieldError id="cl-create-pipeline-project-err" field="project" message={errors.project} />
      </div>
      <div className="cl-Form-buttons">
        <Button kind="reject" onClick={() => props.onDone(null)}>
          Cancel
        </Button>
        <Button kind="accept" type="submit" disabled={busy} testid="cubelab-create-pipeline-submit">
          Create
        </Button>
      </div>
    </form>
  );
}

const RUNS_PAGE = 20;

/** Recent runs of the user's projects, with live status. */
export function RunsSection(props: { client: PipelinesClient; opener: IPipelineOpener; refresh: number }): JSX.Element {
  const { client } = props;
  const [active, setActive] = React.useState(false);
  const [status, setStatus] = React.useState('');
  const [pagedOn, setPagedOn] = React.useState(false);
  // while a run is active the first page reloads every 3 s, unless more pages
  // were loaded (a reload would drop them)
  const recent = usePagedList(cursor => client.recentRunsPage({ status }, cursor, RUNS_PAGE), [client, status], {
    subscribe: props.opener.onChange,
    refresh: props.refresh,
    intervalMs: active && !pagedOn ? 3000 : 0
  });
  const { error } = recent;
  const runs = recent.loaded ? recent.items : null;
  React.useEffect(() => {
    setActive((runs ?? []).some(r => !RUN_FINAL.includes(r.status)));
    setPagedOn((runs ?? []).length > RUNS_PAGE);
  }, [runs]);
  return (
    <div className="cl-Runs" data-testid="cubelab-runs">
      <RunStatusFilter label="Filter runs by status" testId="cubelab-runs-status" value={status} onChange={setStatus} />
      {error ? (
        <div className="cl-FieldError cl-Banner" role="alert">
          {error}
        </div>
      ) : null}
      {runs && !runs.length ? <p className="cl-Empty">{status ? `No ${status} runs.` : 'No runs yet.'}</p> : null}
      {runs && runs.length ? (
        <ul className="cl-List" aria-label="Recent runs">
          {runs.map(r => (
            <li key={r.id} className="cl-List-item" data-run={r.id} data-status={r.status}>
              <button
                type="button"
                className="cl-List-button"
                data-testid="cubelab-run-open"
                aria-label={`Open run of ${r.pipeline_name ?? r.pipeline_id}: ${r.status}`}
                onClick={() => props.opener.open(r.pipeline_id, r.id)}
              >
                <span className={`cl-StatusText cl-status-${r.status}`} aria-hidden="true">
                  {STATUS_ICONS[r.status] ?? '•'}
                </span>
                <span className="cl-List-main">
                  <span className="cl-ProjectName">{r.pipeline_name ?? `#${r.pipeline_id}`}</span>
                  <span className="cl-ProjectDesc">
                    {r.status} · {r.trigger} · {formatTime(r.started_at ?? r.created_at)}
                    {r.started_at ? ` · ${duration(r.started_at, r.finished_at)}` : ''}
                  </span>
                </span>
              </button>
            </li>
          ))}
        </ul>
      ) : null}
      <LoadMore
        hasMore={recent.hasMore}
        loading={recent.loading}
        onClick={() => void recent.loadMore()}
        testid="cubelab-runs-more"
      />
    </div>
  );
}
