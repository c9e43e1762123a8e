/**
 * Load / error / refresh state of one API resource, shared by the panel's
 * sections: the data of the last successful load, the message of the last
 * failed one, and `reload`.  An answer that arrives after a newer load
 * started is dropped, so a slow old list never replaces a fresh one.
 */
import * as React from 'react';

export interface IResource<T> {
  /** the last loaded value (kept while a reload fails), null before the first */
  data: T | null;
  /** the message of the last failed load or action, null after a success */
  error: string | null;
  loading: boolean;
  reload: () => Promise<void>;
  /** replace the value (an action's answer) and clear the error */
  setData: (data: T) => void;
  /** show an action's error in the same place as load errors */
  setError: (message: string | null) => void;
}

export interface IResourceOptions {
  /** subscribe to "changed elsewhere" (returns unsubscribe): reloads then */
  subscribe?: (fn: () => void) => () => void;
  /** a value that reloads the resource when it changes (the panel's refresh count) */
  refresh?: unknown;
  /** reload every this many milliseconds (0 or unset: never) */
  intervalMs?: number;
}

export function errorMessage(err: unknown): string {
  return (err as Error)?.message ?? String(err);
}

export function useResource<T>(
  load: () => Promise<T>,
  deps: React.DependencyList,
  options: IResourceOptions = {}
): IResource<T> {
  const [data, setData] = React.useState<T | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [loading, setLoading] = React.useState(false);
  const latest = React.useRef(0);
  const mounted = React.useRef(true);
  React.useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const reload = React.useCallback(async () => {
    const call = ++latest.current;
    setLoading(true);
    try {
      const value = await load();
      if (call === latest.current && mounted.current) {
        setData(value);
        setError(null);
      }
    } catch (err) {
      if (call === latest.current && mounted.current) {
        setError(errorMessage(err));
      }
    } finally {
      if (call === latest.current && mounted.current) {
        setLoading(false);
      }
    }
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

  const replace = React.useCallback((value: T) => {
    latest.current++;
    setData(value);
    setError(null);
  }, []);

  return { data, error, loading, reload, setData: replace, setError };
}
