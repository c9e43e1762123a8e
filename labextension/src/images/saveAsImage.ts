/**
 * "Save environment as image…": the pure steps between the server's package
 * snapshots (`cubelab/environment/snapshots` of the user's Jupyter server), the
 * control plane's generated Dockerfile (`images/dockerfile-from-environment`)
 * and the build that makes the image (`POST /builds` with the Dockerfile inline).
 */
import { components } from '../generated/api';
import { CubeLabClient } from '../request';
import { BuildsClient, IBuild } from './client';

export type IGeneratedDockerfile = components['schemas']['GeneratedDockerfile'];
export type IEnvironmentChanges = components['schemas']['EnvironmentChanges'];

export const MANAGERS = ['apt', 'conda', 'pip'] as const;
export type Manager = (typeof MANAGERS)[number];

/** One snapshot: each manager's list as text (absent when it could not be listed, `errors` says why). */
export interface ISnapshot {
  taken_at: number;
  python: string;
  pip?: string;
  conda?: string;
  apt?: string;
  errors: Record<string, string>;
}

/** What the server extension answers. */
export interface IEnvironmentSnapshots {
  base: string | null;
  before: ISnapshot;
  after: ISnapshot;
  managers: Manager[];
}

/** The review form's fields. */
export interface ISaveDraft {
  project: string;
  base: string;
  image: string;
  tag: string;
  dockerfile: string;
}

/** The dockerfile-from-environment body: the base and both lists of every manager listed both times. */
export function changesRequest(snapshots: IEnvironmentSnapshots, base: string): IEnvironmentChanges {
  const body: IEnvironmentChanges = { base: base.trim() };
  for (const manager of MANAGERS) {
    const before = snapshots.before[manager];
    const after = snapshots.after[manager];
    if (typeof before === 'string' && typeof after === 'string') {
      body[`${manager}_before`] = before;
      body[`${manager}_after`] = after;
    }
  }
  return body;
}

/** 'trainer' of '127.0.0.1:5000/team/trainer:v1' (the last path component, lowercase), else 'saved-environment'. */
export function imageNameFrom(base: string | null | undefined): string {
  const path = (base ?? '').split('@')[0];
  const last = path.split('/').pop() ?? '';
  const name = last
    .split(':')[0]
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-');
  const clean = name.replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return clean || 'saved-environment';
}

/** 'saved-20260102-0304': a tag that says when, sorts by time and is a valid tag. */
export function savedTag(now: Date = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `saved-${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}` +
    `-${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}`
  );
}

export function newSaveDraft(project: string, snapshots: IEnvironmentSnapshots, now: Date = new Date()): ISaveDraft {
  return {
    project,
    base: snapshots.base ?? '',
    image: imageNameFrom(snapshots.base),
    tag: savedTag(now),
    dockerfile: ''
  };
}

/** One line per manager: 'pip: 2 added, 1 changed, 0 removed (1 left out)'. */
export function changesSummary(generated: IGeneratedDockerfile): string[] {
  const out: string[] = [];
  for (const [manager, c] of Object.entries(generated.changes ?? {})) {
    const parts = [
      `${c.added?.length ?? 0} added`,
      `${c.changed?.length ?? 0} changed`,
      `${c.removed?.length ?? 0} removed`
    ];
    const left = c.left_out?.length ?? 0;
    out.push(`${manager}: ${parts.join(', ')}${left ? ` (${left} left out: see the comments)` : ''}`);
  }
  return out;
}

/** Why a manager is missing from the comparison, from either snapshot's errors. */
export function listingProblems(snapshots: IEnvironmentSnapshots): string[] {
  const out: string[] = [];
  for (const [when, snap] of [
    ['before', snapshots.before],
    ['after', snapshots.after]
  ] as const) {
    for (const [manager, why] of Object.entries(snap.errors ?? {})) {
      out.push(`${manager} (${when}): ${why}`);
    }
  }
  return out;
}

/** The POST /builds body: the reviewed Dockerfile inline, one tag. */
export function saveDraftToBuild(draft: ISaveDraft): IBuild {
  const body: IBuild = {
    project: draft.project,
    image: draft.image.trim(),
    dockerfile: draft.dockerfile
  };
  const tag = draft.tag.trim();
  if (tag) {
    body.tags = [tag];
  }
  return body;
}

/** A server field of the generator or of the build, as the review form's field that shows it. */
export function saveFormField(field: string | null | undefined): keyof ISaveDraft | '' {
  const head = (field ?? '').split(/[.[]/)[0];
  if (head === 'tags') {
    return 'tag';
  }
  if (head === 'base' || head === 'project' || head === 'image' || head === 'dockerfile') {
    return head;
  }
  return '';
}

/** The three calls of the flow. */
export class SaveAsImageClient {
  constructor(
    readonly environment: CubeLabClient,
    readonly api: CubeLabClient,
    readonly builds: BuildsClient
  ) {}

  snapshots(): Promise<IEnvironmentSnapshots> {
    return this.environment.call('POST', 'snapshots');
  }

  dockerfile(snapshots: IEnvironmentSnapshots, base: string): Promise<IGeneratedDockerfile> {
    return this.api.call('POST', 'images/dockerfile-from-environment', changesRequest(snapshots, base));
  }

  build(draft: ISaveDraft): Promise<IBuild> {
    return this.builds.create(saveDraftToBuild(draft));
  }
}
