/** Small pieces the admin tabs share: a table cell of resources, the "not installed" note, errors. */
import * as React from 'react';

import { formatBytes } from './logic';
import { IUse } from './types';

export function UseCell(props: { use: IUse | null | undefined }): JSX.Element {
  const u = props.use ?? { cpu: 0, memory: 0, gpu: 0 };
  return (
    <span className="cl-AdminUse" title="CPU cores, memory, GPUs">
      {Math.round((u.cpu || 0) * 100) / 100} CPU · {formatBytes(u.memory || 0)} · {u.gpu || 0} GPU
    </span>
  );
}

/** Shown where a part of the admin API is not on this control plane (answered 404). */
export function NotInstalled(props: { what: string }): JSX.Element {
  return (
    <p className="cl-Empty" data-testid="cubelab-admin-unavailable">
      {props.what} is not available on this control plane.
    </p>
  );
}

export function ErrorBanner(props: { error: string | null }): JSX.Element | null {
  return props.error ? (
    <div className="cl-FieldError cl-Banner" role="alert">
      {props.error}
    </div>
  ) : null;
}

export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '—';
}

/** Whether a part of the admin API answers (404: not installed), asked once per tab. */
export function useAvailable(available: (path: string) => Promise<boolean>, path: string): boolean | null {
  const [ok, setOk] = React.useState<boolean | null>(null);
  React.useEffect(() => {
    let live = true;
    available(path).then(
      v => live && setOk(v),
      () => live && setOk(false)
    );
    return () => {
      live = false;
    };
  }, [available, path]);
  return ok;
}
