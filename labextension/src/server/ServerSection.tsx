import { Dialog, showDialog } from '@jupyterlab/apputils';
import * as React from 'react';

import { Button } from '../components';
import { formatTime } from '../pipelines/format';
import { useResource } from '../useResource';
import { ServerClient } from './client';
import { expiresSoon, expiresText } from './model';

/** This server: project, kind, expiry with one-click renewal, reset. */
export function ServerSection(props: { client: ServerClient; onReset: () => void; refresh?: number }): JSX.Element {
  const { client } = props;
  // the data is reloaded every 10 minutes, the relative time every minute
  const server = useResource(() => client.get(), [client], { refresh: props.refresh, intervalMs: 600000 });
  const { data: view, error, setError } = server;
  const [busy, setBusy] = React.useState(false);
  const [, setTick] = React.useState(0);
  React.useEffect(() => {
    const t = setInterval(() => setTick(x => x + 1), 60000);
    return () => clearInterval(t);
  }, []);

  const renew = async () => {
    setBusy(true);
    try {
      server.setData(await client.renew());
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const reset = async () => {
    const result = await showDialog({
      title: 'Reset this server?',
      body: 'The server stops and starts again fresh with the same choices. Unsaved work in open documents and running kernels are lost.',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Reset' })]
    });
    if (!result.button.accept) {
      return;
    }
    setBusy(true);
    try {
      await client.reset();
    } catch {
      // the connection may drop while this server stops: that is expected
    }
    props.onReset();
  };

  if (!view) {
    return error ? (
      <div className="cl-FieldError cl-Banner" role="alert">
        {error}
      </div>
    ) : (
      <p className="cl-Empty">Loading…</p>
    );
  }
  const soon = expiresSoon(view.expires_at);
  return (
    <div className="cl-Server" data-testid="cubelab-server" data-expires={view.expires_at ?? ''}>
      <dl className="cl-Facts">
        {view.project ? (
          <>
            <dt>Project</dt>
            <dd>{view.project}</dd>
          </>
        ) : null}
        {view.kind ? (
          <>
            <dt>Kind</dt>
            <dd>{view.kind}</dd>
          </>
        ) : null}
        <dt>Started</dt>
        <dd>{formatTime(view.started)}</dd>
        <dt>Expires</dt>
        <dd className={soon ? 'cl-Warn' : ''} data-testid="cubelab-server-expires" title={view.expires_at ?? ''}>
          {view.expires_at ? `${formatTime(view.expires_at)} (${expiresText(view.expires_at)})` : 'never'}
        </dd>
      </dl>
      {error ? (
        <div className="cl-FieldError" role="alert">
          {error}
        </div>
      ) : null}
      <div className="cl-Form-buttons">
        <Button kind="warn" disabled={busy} onClick={() => void reset()} testid="cubelab-server-reset">
          Reset
        </Button>
        {view.expires_at ? (
          <Button kind="accept" disabled={busy} onClick={() => void renew()} testid="cubelab-server-renew">
            Renew
          </Button>
        ) : null}
      </div>
    </div>
  );
}
