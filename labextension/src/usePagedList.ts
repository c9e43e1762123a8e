/**
 * The paged counterpart of `useResource`: the items of the pages loaded so
 * far, "load more" while the server says there is a next page, and a fresh
 * first page when the filters (`deps`), the panel's refresh count or a
 * "changed elsewhere" signal change.
 */
import * as React from 'react';

import { IPagedState, PageLoader, PagedList } from './paging';

export interface IPagedResource<T> extends IPagedState<T> {
  hasMore: boolean;
  /** load the first page again */
  reload: () => Promise<void>;
  /** append the next page */
  loadMore: () => Promise<void>;
  /** replace the shown items (an action's answer) */
  setItems: (items: T[]) => void;
  setError: (message: string | null) => void;
}

export interface IPagedOptions {
  subscribe?: (fn: () => void) => () => void;
  refresh?: unknown;
  intervalMs?: number;
}

export function usePagedList<T>(
  load: PageLoader<T>,
  deps: React.DependencyList,
  options: IPagedOptions = {}
): IPagedResource<T> {
  const [state, setState] = React.useState<IPagedState<T>>({
    items: [],
    next: null,
    loaded: false,
    loading: false,
    error: null
  });
  const list = React.useRef<PagedList<T> | null>(null);
  const mounted = React.useRef(true);
  if (!list.current) {
    list.current = new PagedList<T>(load, s => mounted.current && setState(s));
  }
  React.useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const reload = React.useCallback(() => {
    list.current!.setLoader(load);
    return list.current!.first();
    // `deps` are the caller's: they say when `load` changes
  }, deps);

  const { subscribe, refresh, intervalMs } = options;
  React.useEffect(() => {
    void reload();
    return subscribe ? subscribe(() => void reload()) : undefined;
  }, [reload, refresh]);

  React.useEffect(() => {
    if (!intervalMs) {
      return;
    }
    const timer = setInterval(() => void reload(), intervalMs);
    return () => clearInterval(timer);
  }, [reload, intervalMs]);

  const loadMore = React.useCallback(() => list.current!.more(), []);
  const setItems = React.useCallback((items: T[]) => list.current!.replaceItems(items), []);
  const setError = React.useCallback((message: string | null) => list.current!.setError(message), []);
  return { ...state, hasMore: state.next !== null, reload, loadMore, setItems, setError };
}

/** `value`, once it has stayed the same for `ms` milliseconds (search boxes). */
export function useDebounced<T>(value: T, ms = 300): T {
  const [settled, setSettled] = React.useState(value);
  React.useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}
