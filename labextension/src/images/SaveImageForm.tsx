/**
 * "Save environment as image…" (a main-area tab): the package lists of this
 * server's environment at its start and now become a Dockerfile FROM the image
 * it started from; the user reviews and edits it, names the image and starts
 * the build, whose tab then follows the live log.
 */
import * as React from 'react';

import { Button, FieldError, TextField, useUid } from '../components';
import { IMe } from '../projects/client';
import { ApiError } from '../request';
import { errorMessage } from '../useResource';
import { IBuild } from './client';
import {
  changesSummary,
  IEnvironmentSnapshots,
  ISaveDraft,
  listingProblems,
  newSaveDraft,
  SaveAsImageClient,
  saveFormField
} from './saveAsImage';

export interface ISaveImageFormProps {
  me: IMe;
  client: SaveAsImageClient;
  project: string;
  onStarted: (build: IBuild) => void;
  onCancel: () => void;
}

function messagesByField(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (field: string, message: string) => {
    out[field] = out[field] ? `${out[field]}\n${message}` : message;
  };
  if (err instanceof ApiError) {
    const details = err.details.length ? err.details : [{ field: err.field, message: err.message }];
    for (const d of details) {
      add(saveFormField(d.field), d.field && !saveFormField(d.field) ? `${d.field}: ${d.message}` : d.message);
    }
  } else {
    add('', errorMessage(err));
  }
  return out;
}

export function SaveImageForm(props: ISaveImageFormProps): JSX.Element {
  const [snapshots, setSnapshots] = React.useState<IEnvironmentSnapshots | null>(null);
  const [draft, setDraft] = React.useState<ISaveDraft | null>(null);
  const [summary, setSummary] = React.useState<string[]>([]);
  const [busy, setBusy] = React.useState<string>('Listing the packages of this environment…');
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const projectId = useUid('cl-save-project');
  const dockerfileId = useUid('cl-save-dockerfile');
  const set = (key: keyof ISaveDraft) => (value: string) => setDraft(d => (d ? { ...d, [key]: value } : d));

  const generate = async (snaps: IEnvironmentSnapshots, base: string) => {
    setBusy('Generating the Dockerfile…');
    setErrors({});
    try {
      const generated = await props.client.dockerfile(snaps, base);
      setDraft(d => (d ? { ...d, dockerfile: generated.dockerfile ?? '' } : d));
      setSummary(changesSummary(generated));
    } catch (err) {
      setErrors(messagesByField(err));
    } finally {
      setBusy('');
    }
  };

  React.useEffect(() => {
    let live = true;
    void (async () => {
      try {
        const snaps = await props.client.snapshots();
        if (!live) {
          return;
        }
        const first = newSaveDraft(props.project, snaps);
        setSnapshots(snaps);
        setDraft(first);
        if (first.base) {
          await generate(snaps, first.base);
        } else {
          setBusy('');
        }
      } catch (err) {
        if (live) {
          setErrors(messagesByField(err));
          setBusy('');
        }
      }
    })();
    return () => {
      live = false;
    };
  }, []);

  const build = async () => {
    if (!draft) {
      return;
    }
    setBusy('Starting the build…');
    setErrors({});
    try {
      props.onStarted(await props.client.build(draft));
    } catch (err) {
      setErrors(messagesByField(err));
    } finally {
      setBusy('');
    }
  };

  const problems = snapshots ? listingProblems(snapshots) : [];
  return (
    <form
      className="cl-Form cl-BuildForm cl-SaveImageForm"
      data-testid="cubelab-save-image-form"
      onSubmit={e => {
        e.preventDefault();
        void build();
      }}
    >
      <h2>Save environment as image</h2>
      <p className="cl-Help">
        A Dockerfile that reproduces the packages installed, changed or removed (pip, conda, apt) since this server
        started, FROM the image it started from. Review it, edit it if needed, then build it.
      </p>
      {busy ? (
        <div className="cl-Busy" role="status" data-testid="cubelab-save-image-busy">
          {busy}
        </div>
      ) : null}
      {problems.length ? (
        <ul className="cl-Warnings" data-testid="cubelab-save-image-problems">
          {problems.map(p => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      ) : null}
      {draft ? (
        <>
          <div className="cl-Field" data-field="project">
            <label htmlFor={projectId} className="cl-Field-label">
              Project
            </label>
            <select
              id={projectId}
              className="jp-mod-styled cl-Select"
              data-testid="cubelab-save-image-project"
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
            name="base"
            label="Base image"
            value={draft.base}
            onChange={set('base')}
            help="the image this environment started from (FROM)"
            error={errors.base}
            required
            testid="cubelab-save-image-base"
          />
          <div className="cl-Form-actions">
            <Button
              disabled={!!busy || !snapshots}
              onClick={() => snapshots && void generate(snapshots, draft.base)}
              testid="cubelab-save-image-generate"
            >
              {draft.dockerfile ? 'Generate again' : 'Generate Dockerfile'}
            </Button>
          </div>
          {summary.length ? (
            <ul className="cl-SaveImage-summary" data-testid="cubelab-save-image-summary">
              {summary.map(s => (
                <li key={s}>{s}</li>
              ))}
            </ul>
          ) : null}
          <div className="cl-Field" data-field="dockerfile">
            <label htmlFor={dockerfileId} className="cl-Field-label">
              Dockerfile (review and edit)
            </label>
            <textarea
              id={dockerfileId}
              className="jp-mod-styled cl-Input cl-SaveImage-dockerfile"
              rows={16}
              spellCheck={false}
              value={draft.dockerfile}
              onChange={e => set('dockerfile')(e.target.value)}
              data-testid="cubelab-save-image-dockerfile"
            />
            <FieldError id={`${dockerfileId}-err`} field="dockerfile" message={errors.dockerfile} />
          </div>
          <TextField
            name="image"
            label="Image"
            value={draft.image}
            onChange={set('image')}
            help={`pushed as <registry>/${draft.project}/<image>:<tag>`}
            error={errors.image}
            required
            testid="cubelab-save-image-image"
          />
          <TextField
            name="tag"
            label="Tag"
            value={draft.tag}
            onChange={set('tag')}
            error={errors.tag}
            testid="cubelab-save-image-tag"
          />
        </>
      ) : null}
      <FieldError id="cl-save-image-error" field="" message={errors['']} />
      <div className="cl-Form-actions">
        <Button
          kind="accept"
          type="submit"
          disabled={!!busy || !draft?.dockerfile.trim()}
          testid="cubelab-save-image-build"
        >
          Build image
        </Button>
        <Button kind="reject" onClick={props.onCancel} testid="cubelab-save-image-cancel">
          Cancel
        </Button>
      </div>
    </form>
  );
}
