/**
 * "Import an archive" (admins, a main-area tab): an OCI or docker archive of
 * the workspace becomes `<registry>/<project>/<image>:<tag>`. The request waits
 * until buildah has pulled and pushed it, so the form shows how long it has
 * waited, then the reference, digest and size; the API's field errors appear
 * next to their fields.
 */
import * as React from 'react';

import { Button, FieldError, TextField, useUid } from '../components';
import { IMe } from '../projects/client';
import { formatSize } from './model';
import {
  ARCHIVE_FORMATS,
  IImageImport,
  IImportDraft,
  ImageImportsClient,
  importBody,
  importErrors,
  importProgress,
  imageNameFromArchive
} from './imports';

export interface IImportFormProps {
  me: IMe;
  client: ImageImportsClient;
  draft: IImportDraft;
  /** the file browser's selected archive, if any */
  selectedArchive: () => string | null;
  onImported: (imported: IImageImport) => void;
  onCancel: () => void;
}

export function ImportForm(props: IImportFormProps): JSX.Element {
  const [draft, setDraft] = React.useState<IImportDraft>(props.draft);
  const [errors, setErrors] = React.useState<Record<string, string>>({});
  const [started, setStarted] = React.useState<number | null>(null);
  const [now, setNow] = React.useState(Date.now());
  const [result, setResult] = React.useState<IImageImport | null>(null);
  const projectId = useUid('cl-import-project');
  const formatId = useUid('cl-import-format');
  const set = (key: keyof IImportDraft) => (value: string) => setDraft(d => ({ ...d, [key]: value }));

  React.useEffect(() => {
    if (started === null) {
      return;
    }
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [started]);

  const takePath = (path: string) => setDraft(d => ({ ...d, path, image: d.image || imageNameFromArchive(path) }));

  const submit = async () => {
    setErrors({});
    setResult(null);
    setStarted(Date.now());
    setNow(Date.now());
    try {
      const imported = await props.client.create(importBody(draft));
      setResult(imported);
      props.onImported(imported);
    } catch (err) {
      setErrors(importErrors(err));
    } finally {
      setStarted(null);
    }
  };

  const busy = started !== null;
  // an admin may import into any project: theirs are offered, another can be typed
  const projects = props.me.projects.map(p => p.name);
  return (
    <form
      className="cl-Form cl-BuildForm cl-ImportForm"
      data-testid="cubelab-import-form"
      onSubmit={e => {
        e.preventDefault();
        void submit();
      }}
    >
      <h2>Import an archive</h2>
      <p className="cl-Help">
        An OCI archive (<code>buildah push IMAGE oci-archive:FILE</code>, <code>skopeo copy</code>) or a docker archive
        (<code>docker save -o FILE IMAGE</code>) of your workspace becomes an image of a project: its builds can use it
        in <code>FROM</code> and its members pull it from the registry.
      </p>
      <TextField
        name="path"
        label="Archive"
        value={draft.path}
        onChange={set('path')}
        help="a tar file of your workspace, relative to it (right-click it in the file browser: Import as image…)"
        error={errors.path}
        required
        testid="cubelab-import-path"
      />
      <div className="cl-Form-actions">
        <Button
          disabled={busy}
          testid="cubelab-import-use-selected"
          onClick={() => {
            const path = props.selectedArchive();
            if (path) {
              takePath(path);
            } else {
              setErrors(e => ({ ...e, path: 'Select a .tar file in the file browser first.' }));
            }
          }}
        >
          Use the file browser’s selection
        </Button>
      </div>
      <div className="cl-Field" data-field="project">
        <label htmlFor={projectId} className="cl-Field-label">
          Project
          <span className="cl-Required" aria-hidden="true">
            {' '}
            *
          </span>
        </label>
        <input
          id={projectId}
          type="text"
          list={`${projectId}-list`}
          className={'jp-mod-styled cl-Input' + (errors.project ? ' cl-mod-invalid' : '')}
          data-testid="cubelab-import-project"
          value={draft.project}
          aria-invalid={errors.project ? true : undefined}
          required
          onChange={e => set('project')(e.target.value)}
        />
        <datalist id={`${projectId}-list`}>
          {projects.map(p => (
            <option key={p} value={p} />
          ))}
        </datalist>
        <FieldError id={`${projectId}-err`} field="project" message={errors.project} />
      </div>
      <TextField
        name="image"
        label="Image"
        value={draft.image}
        onChange={set('image')}
        help={`becomes <registry>/${draft.project || '<project>'}/${draft.image || '<image>'}:${draft.tag || 'latest'}`}
        error={errors.image}
        required
        testid="cubelab-import-image"
      />
      <TextField
        name="tag"
        label="Tag"
        value={draft.tag}
        onChange={set('tag')}
        help="default: latest"
        error={errors.tag}
        testid="cubelab-import-tag"
      />
      <div className="cl-Field" data-field="format">
        <label htmlFor={formatId} className="cl-Field-label">
          Format
        </label>
        <select
          id={formatId}
          className="jp-mod-styled cl-Select"
          data-testid="cubelab-import-format"
          value={draft.format}
          onChange={e => set('format')(e.target.value)}
        >
          {ARCHIVE_FORMATS.map(f => (
            <option key={f.value} value={f.value}>
              {f.label}
            </option>
          ))}
        </select>
        <FieldError id={`${formatId}-err`} field="format" message={errors.format} />
      </div>
      {busy ? (
        <div className="cl-Busy" role="status" data-testid="cubelab-import-busy">
          {importProgress(draft.path, (now - started) / 1000)}
        </div>
      ) : null}
      {result ? (
        <div
          className="cl-ImportResult"
          role="status"
          data-testid="cubelab-import-result"
          data-reference={result.reference}
        >
          Imported <code>{result.reference}</code>
          <div className="cl-ProjectDesc">
            <span title="digest">{result.digest ?? 'no digest'}</span> ·{' '}
            <span title="size">{formatSize(result.size)}</span> · {result.format}
          </div>
        </div>
      ) : null}
      <FieldError id="cl-import-error" field="" message={errors['']} />
      <div className="cl-Form-actions">
        <Button kind="accept" type="submit" disabled={busy} testid="cubelab-import-submit">
          {busy ? 'Importing…' : 'Import'}
        </Button>
        <Button kind="reject" onClick={props.onCancel} testid="cubelab-import-cancel">
          {result ? 'Close' : 'Cancel'}
        </Button>
      </div>
    </form>
  );
}
