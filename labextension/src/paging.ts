/**
 * Paged lists of the control plane (independent of React and JupyterLab, so
 * it is unit-tested with a fake transport).
 *
 * Every list endpoint takes `limit`, an opaque `cursor` and server-side
 * filters (`project`, `q`, `status`, ...), and answers with its items under
 * one key plus `next_cursor` (null on the last page).  An answer without
 * `next_cursor` (a control plane from before paging) is the last page.
 */
import { CubeLabClient } from './request';

/** Items asked for per page unless a section says otherwise. */
export const PAGE_SIZE = 50;

/** The most items a list answers with per page (`limit` above it is refused). */
export const MAX_PAGE = 500;

export type QueryValue = string | number | boolean | null | undefined;

export interface IPage<T> {
  items: T[];
  /** the cursor of the next page; null on the last page */
  next: string | null;
}

/** `path?k=v&...` with the empty values (null, undefined, '') left out. */
export function withQuery(path: string, params: Record<string, QueryValue>): string {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === '') {
      continue;
    }
    q.set(key, String(value));
  }
  const qs = q.toString();
  return qs ? `${path}${path.includes('?') ? '&' : '?'}${qs}` : path;
}

/**
 * GET one page of the list at `path`, whose items are under `key`.
 * `filters` are sent as they are (empty ones left out).
 */
export async function fetchPage<T>(
  client: CubeLabClient,
  path: string,
  key: string,
  options: { cursor?: string | null; limit?: number; filters?: Record<string, QueryValue> } = {}
): Promise<IPage<T>> {
  const body = await client.call<Record<string, unknown>>(
    'GET',
    withQuery(path, { ...(options.filters ?? {}), limit: options.limit ?? PAGE_SIZE, cursor: options.cursor })
  );
  const items = body?.[key];
  const next = body?.next_cursor;
  return {
    items: Array.isArray(items) ? (items as T[]) : [],
    next: typeof next === 'string' && next ? next : null
  };
}

/** Loads one page: the first when `cursor` is null. */
export type PageLoader<T> = (cursor: string | null) => Promise<IPage<T>>;

export interface IPagedState<T> {
  items: T[];
  next: string | null;
  /** true once the first page arrived */
  loaded: boolean;
  loading: boolean;
  error: string | null;
}

/**
 * The items of the pages loaded so far and the cursor of the next one.
 * `first()` starts over (a new filter, a refresh); `more()` appends the next
 * page.  An answer to a call that a newer `first()` superseded is dropped, so
 * a slow old search never replaces the answer to the newest one.
 */
export class PagedList<T> {
  constructor(
    private _load: PageLoader<T>,
    private _onChange: (state: IPagedState<T>) => void = () => undefined
  ) {}

  get state(): IPagedState<T> {
    return this._state;
  }

  /** Use another loader (new filters) from the next `first()` on. */
  setLoader(load: PageLoader<T>): void {
    this._load = load;
  }

  get hasMore(): boolean {
    return this._state.next !== null;
  }

  /** Load the first page, replacing everything loaded so far. */
  async first(): Promise<void> {
    const generation = ++this._generation;
    this._moreInFlight = false;
    this._set({ loading: true });
    try {
      const page = await this._load(null);
      if (generation === this._generation) {
        this._set({ items: page.items, next: page.next, loaded: true, loading: false, error: null });
      }
    } catch (err) {
      if (generation === this._generation) {
        this._set({ loading: false, error: (err as Error)?.message ?? String(err) });
      }
    }
  }

  /** Append the next page; does nothing on the last page or while one loads. */
  async more(): Promise<void> {
    const cursor = this._state.next;
    if (cursor === null || this._moreInFlight) {
      return;
    }
    const generation = this._generation;
    this._moreInFlight = true;
    this._set({ loading: true });
    try {
      const page = await this._load(cursor);
      if (generation === this._generation) {
        this._set({ items: [...this._state.items, ...page.items], next: page.next, loading: false, error: null });
      }
    } catch (err) {
      if (generation === this._generation) {
        this._set({ loading: false, error: (err as Error)?.message ?? String(err) });
      }
    } finally {
      if (generation === this._generation) {
        this._moreInFlight = false;
      }
    }
  }

  /** Replace the loaded items (after an action), keeping the cursor. */
  replaceItems(items: T[]): void {
    this._set({ items, error: null });
  }

  setError(error: string | null): void {
    this._set({ error });
  }

  private _set(patch: Partial<IPagedState<T>>): void {
    this._state = { ...this._state, ...patch };
    this._onChange(this._state);
  }

  private _state: IPagedState<T> = { items: [], next: null, loaded: false, loading: false, error: null };
  private _generation = 0;
  private _moreInFlight = false;
}
