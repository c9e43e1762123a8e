/**
 * Calls of the services API (internal and inference services of a project)
 * and the shapes it answers with, aliases of the generated OpenAPI types.
 */
import { components } from '../generated/api';
import { fetchPage, IPage, withQuery } from '../paging';
import { CubeLabClient } from '../request';

const enc = encodeURIComponent;

export type IService = components['schemas']['Service'];
export type IReplica = components['schemas']['Replica'];
export type IServiceDiagnostic = components['schemas']['ServiceDiagnostics']['errors'][number];
export type IServiceEvent = components['schemas']['ServiceEventList']['events'][number];
/** What create, edit and validate take: any subset of a service's user fields. */
export type IServiceBody = Partial<Omit<IService, 'id' | 'replicas' | 'permissions' | 'status'>>;

export const SERVICE_STATUSES: IService['status'][] = ['stopped', 'deploying', 'running', 'offline', 'failed'];

export interface IServiceFilters {
  project?: string;
  status?: string;
  q?: string;
}

export class ServicesClient {
  constructor(readonly api: CubeLabClient) {}

  listPage(filters: IServiceFilters, cursor: string | null, limit = 50): Promise<IPage<IService>> {
    return fetchPage<IService>(this.api, 'services', 'services', { cursor, limit, filters: { ...filters } });
  }

  get(id: number): Promise<IService> {
    return this.api.call('GET', `services/${id}`);
  }

  create(body: IServiceBody): Promise<IService> {
    return this.api.call('POST', 'services', body);
  }

  update(id: number, changes: IServiceBody): Promise<IService> {
    return this.api.call('PATCH', `services/${id}`, changes);
  }

  /** Every problem of a draft, each naming its field; `id`: the service being edited. */
  async validate(body: IServiceBody, id?: number | null): Promise<IServiceDiagnostic[]> {
    const answer = await this.api.call<{ errors: IServiceDiagnostic[] }>(
      'POST',
      withQuery('services/validate', { id: id ?? null }),
      body
    );
    return answer?.errors ?? [];
  }

  /** One request to the service through the gateway, sent by the control plane as the caller. */
  tryIt(
    id: number,
    request: { method: string; path: string; body: string; content_type: string }
  ): Promise<{ status: number; content_type: string; body: string; truncated: boolean; elapsed_ms: number }> {
    return this.api.call('POST', `services/${id}/try`, request);
  }

  deploy(id: number): Promise<IService> {
    return this.api.call('POST', `services/${id}/deploy`);
  }

  stop(id: number): Promise<IService> {
    return this.api.call('POST', `services/${id}/stop`);
  }

  remove(id: number): Promise<void> {
    return this.api.call('DELETE', `services/${id}`);
  }

  eventsPage(id: number, cursor: string | null, limit = 100): Promise<IPage<IServiceEvent>> {
    return fetchPage<IServiceEvent>(this.api, `services/${id}/events`, 'events', { cursor, limit });
  }

  /** Path (relative to the API root) of a replica's log; `follow` streams while it runs. */
  logPath(id: number, index: number, follow: boolean): string {
    return `services/${id}/replicas/${enc(String(index))}/logs${follow ? '?follow=1' : ''}`;
  }

  /** Stream a replica's log (every restart) into `onText`. */
  streamLog(id: number, index: number, onText: (chunk: string) => void, signal: AbortSignal): Promise<void> {
    return this.api.stream(this.logPath(id, index, true), onText, signal);
  }
}
