/**
 * Importing an image from an OCI or docker archive of the workspace (admins):
 * the form's draft, the body of `POST /images/import`, which form field an API
 * error belongs to, and how past imports read in the list. Pure: no React, no Lab.
 */
import { components } from '../generated/api';
import { fetchPage, IPage } from '../paging';
import { ApiError, CubeLabClient } from '../request';
import { errorMessage } from '../useResource';
import { baseName, formatDuration, formatSize, shortDigest } from './model';

export type IImageImport = components['schemas']['ImageImport'];
export type IImageImportRequest = components['schemas']['ImageImportRequest'];
export type ArchiveFormat = NonNullable<IImageImportRequest['format']>;

/** '' is "auto": the control plane finds the format from the archive's members. */
export const ARCHIVE_FORMATS: { value: ArchiveFormat | ''; label: string }[] = [
  { value: '', label: 'auto (from the archive)' },
  { value: 'oci-archive', label: 'OCI archive' },
  { value: 'docker-archive', label: 'docker archive (docker save)' }
];

export interface IImportDraft {
  path: string;
  project: string;
  image: string;
  tag: string;
  format: ArchiveFormat | '';
}

/** Tar files the file browser offers "Import as image…" on (the API reads compressed tars too). */
export function isArchivePath(path: string): boolean {
  return /.\.(tar|tar\.gz|tgz)$/i.test(baseName(path));
}

/**
 * An image name guessed from the archive's file name: 'images/python-3.11.oci.tar'
 * gives 'python-3.11' (the archive and format suffixes dropped), lowercased to
 * the accepted repository form; '' when nothing is left (the admin types one).
 */
export function imageNameFromArchive(path: string): string {
  const stem = baseName(path)
    .replace(/\.(tar\.gz|tgz|tar)$/i, '')
    .replace(/[.-](oci|docker)(-archive)?$/i, '');
  return stem
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
}

export function newImportDraft(project: string, path = ''): IImportDraft {
  return { path, project, image: path ? imageNameFromArchive(path) : '', tag: 'latest', format: '' };
}

/**
 * The request body. Every typed value is sent as typed (the API says what is
 * wrong with it); only "auto" format and an empty tag are left out, which the
 * API reads as "found from the archive" and 'latest'.
 */
export function importBody(draft: IImportDraft): IImageImportRequest {
  const body: Partial<IImageImportRequest> = {
    path: draft.path.trim(),
    project: draft.project,
    image: draft.image.trim()
  };
  if (draft.tag.trim()) {
    body.tag = draft.tag.trim();
  }
  if (draft.format) {
    body.format = draft.format;
  }
  return body as IImageImportRequest;
}

const FORM_FIELDS: (keyof IImportDraft)[] = ['path', 'project', 'image', 'tag', 'format'];

/** The form field an API error names ('' for the form as a whole). */
export function importFormField(field: string | null | undefined): keyof IImportDraft | '' {
  const head = (field ?? '').split(/[.[]/)[0];
  return (FORM_FIELDS as string[]).includes(head) ? (head as keyof IImportDraft) : '';
}

/**
 * An error as messages by form field, each with the form the API accepts;
 * a field the form does not have keeps its name in the message (nothing dropped).
 */
export function importErrors(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (key: string, message: string) => {
    out[key] = out[key] ? `${out[key]}\n${message}` : message;
  };
  if (!(err instanceof ApiError)) {
    add('', errorMessage(err));
    return out;
  }
  const details = err.details.length ? err.details : [{ field: err.field, message: err.message, accepted: null }];
  for (const d of details) {
    const key = importFormField(d.field);
    const text = d.accepted ? `${d.message} (accepted: ${d.accepted})` : d.message;
    add(key, d.field && !key ? `${d.field}: ${text}` : text);
  }
  return out;
}

/** What the form says while the request waits for the import to finish. */
export function importProgress(path: string, seconds: number): string {
  const waited = seconds >= 1 ? ` (${formatDuration(Math.floor(seconds))})` : '';
  return `Importing ${path}: pulling the archive into the project's storage, then pushing it to the registry…${waited}`;
}

/** One line of a past import: where it went, from what, its digest and size. */
export function describeImport(imp: IImageImport): string {
  return `${imp.project}/${imp.image}:${imp.tag} ← ${imp.archive} (${imp.format}) · ${shortDigest(imp.digest)} · ${formatSize(imp.size)}`;
}

export class ImageImportsClient {
  constructor(readonly api: CubeLabClient) {}

  /** Waits until the import has finished (the API answers when it is pushed). */
  create(body: IImageImportRequest): Promise<IImageImport> {
    return this.api.call('POST', 'images/import', body);
  }

  /** One page of the imports, newest first. */
  listPage(cursor: string | null, limit = 20): Promise<IPage<IImageImport>> {
    return fetchPage<IImageImport>(this.api, 'images/imports', 'imports', { cursor, limit });
  }
}
