/** Small pieces the admin tabs share: a table cell of resources, the "not installed" note, errors. */
import * as React from 'react';

import { formatBytes } from './logic';
import { IUse } from './types';

/** Resources where a null amount is unknown (a node that does not say). */
type Amounts = { [K in keyof IUse]: IUse[K] | null };

export function UseCell(props: { use: Amounts | null | undefined }): JSX.Element {
  const u = props.use ?? { cpu: 0, memory: 0, gpu: 0 };
  const cpu = u.cpu === null ? '?' : Math.round(u.cpu * 100) / 100;
  const memory = u.memory === null ? '?' : formatBytes(u.memory);
  return (
    <span className="cl-AdminUse" title="CPU cores, memory, GPUs">
      {cpu} CPU · {memory} · {u.gpu ?? '?'} GPU
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
