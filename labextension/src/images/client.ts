/**
 * Calls of the image APIs (builds and registries) and the shapes they answer
 * with, aliases of the generated OpenAPI types.
 */
import { components } from '../generated/api';
import { fetchPage, IPage } from '../paging';
import { CubeLabClient } from '../request';

const enc = encodeURIComponent;

export type IBuild = components['schemas']['Build'];
export type IBuildStatus = NonNullable<IBuild['status']>;
export type IRegistry = components['schemas']['Registry'];
export type IImage = components['schemas']['Image'];
export type IImageDeleted = components['schemas']['ImageDeleted'];
export type IRegistryInput = components['schemas']['RegistryInput'];
/** What a registry edit takes: any subset; a missing password keeps the stored one. */
export type IRegistryChanges = Partial<IRegistryInput>;

export const BUILD_STATUSES: IBuildStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

export interface IBuildFilters {
  project?: string;
  status?: string;
  q?: string;
}

export class BuildsClient {
  constructor(readonly api: CubeLabClient) {}

  listPage(filters: IBuildFilters, cursor: string | null, limit = 50): Promise<IPage<IBuild>> {
    return fetchPage<IBuild>(this.api, 'builds', 'builds', { cursor, limit, filters: { ...filters } });
  }

  get(id: number): Promise<IBuild> {
    return this.api.call('GET', `builds/${id}`);
  }

  create(body: IBuild): Promise<IBuild> {
    return this.api.call('POST', 'builds', body);
  }

  cancel(id: number): Promise<IBuild> {
    return this.api.call('POST', `builds/${id}/cancel`);
  }

  /** Path (relative to the API root) of a build's log; `follow` streams until the build ends. */
  logPath(id: number, follow: boolean): string {
    return `builds/${id}/logs${follow ? '?follow=1' : ''}`;
  }

  /** Stream a build's log into `onText`; resolves when the build has ended. */
  streamLog(id: number, onText: (chunk: string) => void, signal: AbortSignal): Promise<void> {
    return this.api.stream(this.logPath(id, true), onText, signal);
  }
}

export class RegistriesClient {
  constructor(readonly api: CubeLabClient) {}

  listPage(filters: { project?: string; q?: string }, cursor: string | null, limit = 50): Promise<IPage<IRegistry>> {
    return fetchPage<IRegistry>(this.api, 'registries', 'registries', { cursor, limit, filters: { ...filters } });
  }

  create(body: IRegistryInput): Promise<IRegistry> {
    return this.api.call('POST', 'registries', body);
  }

  update(name: string, changes: IRegistryChanges): Promise<IRegistry> {
    return this.api.call('PATCH', `registries/${enc(name)}`, changes);
  }

  remove(name: string): Promise<void> {
    return this.api.call('DELETE', `registries/${enc(name)}`);
  }
}

export class ImagesClient {
  constructor(readonly api: CubeLabClient) {}

  /** One page of a project's images (repositories with their tags); `q`: the image name contains it. */
  listPage(filters: { project: string; q?: string }, cursor: string | null, limit = 20): Promise<IPage<IImage>> {
    return fetchPage<IImage>(this.api, 'images', 'images', { cursor, limit, filters: { ...filters } });
  }

  /**
   * Delete a tag (and every tag of its digest). Without `force` the API answers
   * 409 `image_in_use` listing what uses it (see `imageUsersOf`).
   */
  remove(project: string, image: string, tag: string, force = false): Promise<IImageDeleted> {
    return this.api.call('DELETE', `images/${enc(project)}/${enc(image)}/${enc(tag)}${force ? '?force=1' : ''}`);
  }
}
