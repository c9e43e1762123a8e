/**
 * The pure parts of the Images section: which files are Dockerfiles, the
 * build form's draft (prefilled from a Dockerfile of the file browser) and
 * the body it sends, the registry form's draft with its write-only password,
 * how a build's duration, size, digest and status read, and what uses an
 * image a delete was refused for.
 */
import { ApiError } from '../request';
import { IBuild, IBuildStatus, IRegistry, IRegistryChanges, IRegistryInput } from './client';

/** `Dockerfile`, `Containerfile` and `<name>.Dockerfile` / `<name>.dockerfile`. */
export function isDockerfile(path: string): boolean {
  const name = baseName(path);
  return name === 'Dockerfile' || name === 'Containerfile' || /.\.dockerfile$/i.test(name);
}

export function baseName(path: string): string {
  const parts = path.split('/').filter(Boolean);
  return parts[parts.length - 1] ?? '';
}

/** The folder holding `path`, relative to the workspace ('.' at the top). */
export function folderOf(path: string): string {
  const parts = path.split('/').filter(p => p && p !== '.');
  parts.pop();
  return parts.length ? parts.join('/') : '.';
}

/**
 * An image name guessed from a Dockerfile: `<name>.Dockerfile` gives `<name>`,
 * a plain `Dockerfile` its folder's name; lowercased to the accepted form.
 */
export function imageNameFor(path: string): string {
  const name = baseName(path);
  const stem = /\.dockerfile$/i.test(name) ? name.replace(/\.dockerfile$/i, '') : baseName(folderOf(path));
  const cleaned = stem
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return cleaned || 'image';
}

export interface IBuildDraft {
  project: string;
  image: string;
  /** tags separated by spaces or commas */
  tags: string;
  dockerfile_path: string;
  context: string;
  /** NAME=value, one a line */
  build_args: string;
  cpu: string;
  memory: string;
  timeout: string;
}

export function newBuildDraft(project: string): IBuildDraft {
  return {
    project,
    image: '',
    tags: 'latest',
    dockerfile_path: '',
    context: '.',
    build_args: '',
    cpu: '',
    memory: '',
    timeout: ''
  };
}

/** The form for a Dockerfile of the file browser: its path, its folder as the context. */
export function draftFromDockerfile(path: string, project: string): IBuildDraft {
  const clean = path.split('/').filter(Boolean).join('/');
  return {
    ...newBuildDraft(project),
    image: imageNameFor(clean),
    dockerfile_path: clean,
    context: folderOf(clean)
  };
}

export function splitTags(text: string): string[] {
  return text.split(/[\s,]+/).filter(Boolean);
}

/**
 * `NAME=value` lines as an object; a line without '=' is kept under its whole
 * text with an empty value so the server names it in its message.
 */
export function parseBuildArgs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) {
      continue;
    }
    const at = line.indexOf('=');
    if (at < 0) {
      out[line.trim()] = '';
    } else {
      out[line.slice(0, at).trim()] = line.slice(at + 1);
    }
  }
  return out;
}

/** The POST /builds body: empty optional fields are left out (the server's defaults). */
export function buildDraftToBody(draft: IBuildDraft): IBuild {
  const body: IBuild = {
    project: draft.project,
    image: draft.image.trim(),
    dockerfile_path: draft.dockerfile_path.trim(),
    context: draft.context.trim() || '.'
  };
  const tags = splitTags(draft.tags);
  if (tags.length) {
    body.tags = tags;
  }
  const args = parseBuildArgs(draft.build_args);
  if (Object.keys(args).length) {
    body.build_args = args;
  }
  for (const key of ['cpu', 'memory', 'timeout'] as const) {
    const value = draft[key].trim();
    if (value) {
      body[key] = value;
    }
  }
  return body;
}

/** A server field name (`tags[1]`, `build_args.X`) as the form field that shows it. */
export function buildFormField(field: string | null | undefined): keyof IBuildDraft | '' {
  const head = (field ?? '').split(/[.[]/)[0];
  const fields: (keyof IBuildDraft)[] = [
    'project',
    'image',
    'tags',
    'dockerfile_path',
    'context',
    'build_args',
    'cpu',
    'memory',
    'timeout'
  ];
  if (head === 'dockerfile') {
    return 'dockerfile_path';
  }
  return (fields as string[]).includes(head) ? (head as keyof IBuildDraft) : '';
}

export interface IRegistryDraft {
  name: string;
  /** '' for a platform-wide registry */
  project: string;
  host: string;
  username: string;
  description: string;
  /** what was typed; never the stored one, which the API never returns */
  password: string;
}

export function newRegistryDraft(project: string): IRegistryDraft {
  return { name: '', project, host: '', username: '', description: '', password: '' };
}

/** The edit form of a stored registry: every field but the password, which stays empty. */
export function draftFromRegistry(registry: IRegistry): IRegistryDraft {
  return {
    name: registry.name,
    project: registry.project ?? '',
    host: registry.host,
    username: registry.username,
    description: registry.description ?? '',
    password: ''
  };
}

export function registryDraftToInput(draft: IRegistryDraft): IRegistryInput {
  return {
    name: draft.name.trim(),
    project: draft.project || null,
    host: draft.host.trim(),
    username: draft.username,
    description: draft.description,
    password: draft.password
  };
}

/** The PATCH body of an edit: the changed fields; the password only when one was typed. */
export function registryChanges(registry: IRegistry, draft: IRegistryDraft): IRegistryChanges {
  const changes: IRegistryChanges = {};
  if (draft.host.trim() !== registry.host) {
    changes.host = draft.host.trim();
  }
  if (draft.username !== registry.username) {
    changes.username = draft.username;
  }
  if (draft.description !== (registry.description ?? '')) {
    changes.description = draft.description;
  }
  if (draft.password) {
    changes.password = draft.password;
  }
  return changes;
}

/** What the password field shows beside it: the stored one is never shown, only whether there is one. */
export function passwordState(registry: IRegistry | null, typed: string): string {
  if (typed) {
    return 'will be replaced';
  }
  return registry?.password_set ? 'set' : 'not set';
}

export const FINISHED_STATUSES: IBuildStatus[] = ['succeeded', 'failed', 'cancelled'];

export function isFinished(status: IBuild['status']): boolean {
  return !!status && FINISHED_STATUSES.includes(status);
}

/** `42s`, `3m 05s`, `1h 02m`; '—' when unknown. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) {
    return '—';
  }
  if (seconds < 60) {
    return seconds < 10 ? `${seconds.toFixed(1)}s` : `${Math.round(seconds)}s`;
  }
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h ? `${h}h ${String(m).padStart(2, '0')}m` : `${m}m ${String(s).padStart(2, '0')}s`;
}

/** Bytes in the units registries show (1000-based, as `buildah images` does). */
export function formatSize(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) {
    return '—';
  }
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** `sha256:0123456789ab` (the first 12 hex digits), '—' when there is none yet. */
export function shortDigest(digest: string | null | undefined): string {
  if (!digest) {
    return '—';
  }
  const [algo, hex] = digest.includes(':') ? digest.split(':', 2) : ['sha256', digest];
  return `${algo}:${hex.slice(0, 12)}`;
}

/** The image a build makes, as people name it: `<project>/<image>:<first tag>`. */
export function buildTitle(build: IBuild): string {
  return `${build.project}/${build.image}:${(build.tags ?? ['latest'])[0] ?? 'latest'}`;
}

/** The duration of a build: the server's once it ended, else counted from its start. */
export function elapsed(build: IBuild, now: number = Date.now()): number | null {
  if (build.duration !== null && build.duration !== undefined) {
    return build.duration;
  }
  if (build.started_at && !isFinished(build.status)) {
    const start = Date.parse(build.started_at);
    return Number.isFinite(start) ? Math.max(0, (now - start) / 1000) : null;
  }
  return null;
}

/** One thing that uses an image, as `DELETE /images/...` names it in its 409 answer. */
export interface IImageUser {
  kind: string;
  name: string;
  project?: string | null;
  version?: string;
  task?: string;
  reference?: string;
}

/** The users in a 409 `image_in_use` answer; null for any other error. */
export function imageUsersOf(err: unknown): IImageUser[] | null {
  if (!(err instanceof ApiError) || err.status !== 409 || err.code !== 'image_in_use') {
    return null;
  }
  const users = err.body.users;
  return Array.isArray(users)
    ? users.filter((u): u is IImageUser => !!u && typeof u === 'object' && typeof u.kind === 'string')
    : [];
}

/** `job template trainer (Release)`, `pipeline etl (task train, project team)`, `server alice/dev`… */
export function describeImageUser(user: IImageUser): string {
  const kinds: Record<string, string> = { template: 'job template', server: 'notebook server' };
  const details = [
    user.version ? user.version : '',
    user.task ? `task ${user.task}` : '',
    user.project ? `project ${user.project}` : ''
  ].filter(Boolean);
  return `${kinds[user.kind] ?? user.kind} ${user.name}${details.length ? ` (${details.join(', ')})` : ''}`;
}
