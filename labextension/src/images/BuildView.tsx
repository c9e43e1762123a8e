/**
 * A build's tab: its status, duration, digest, size and cache reuse, polled
 * while it runs; the log streamed line by line (`logs?follow=1`); Cancel; and,
 * once it succeeded, a command run inside its image.
 */
import * as React from 'react';

import { Button } from '../components';
import { errorMessage, useResource } from '../useResource';
import { BuildsClient, IBuild } from './client';
import { DebugRun } from './DebugRun';
import { DebugRunner } from './debugRequest';
import { buildTitle, elapsed, formatDuration, formatSize, isFinished } from './model';

const MAX_CHARS = 500_000;

export interface IBuildViewProps {
  client: BuildsClient;
  id: number;
  onLoaded?: (build: IBuild) => void;
  changed?: () => void;
  /** runs a command in the built image; without it the tab offers none */
  debug?: DebugRunner;
  /** opens an interactive shell in the built image in a tab; without it the tab offers none */
  openShell?: (project: string, image: string) => void;
}

export function BuildLog(props: { client: BuildsClient; id: number; onEnd: () => void }): JSX.Element {
  const [text, setText] = React.useState('');
  const [error, setError] = React.useState<string | null>(null);
  const [following, setFollowing] = React.useState(true);
  const pre = React.useRef<HTMLPreElement>(null);
  React.useEffect(() => {
    const controller = new AbortController();
    setText('');
    setError(null);
    setFollowing(true);
    props.client
      .streamLog(props.id, chunk => setText(t => (t + chunk).slice(-MAX_CHARS)), controller.signal)
      .then(
        () => {
          setFollowing(false);
          props.onEnd();
        },
        err => {
          if (!controller.signal.aborted) {
            setError(errorMessage(err));
            setFollowing(false);
          }
        }
      );
    return () => controller.abort();
  }, [props.client, props.id]);
  React.useEffect(() => {
    // keep the newest lines in view while following, as a terminal does
    if (following && pre.current) {
      pre.current.scrollTop = pre.current.scrollHeight;
    }
  }, [text, following]);
  return (
    <div className="cl-BuildLog" data-testid="cubelab-build-log" data-following={following}>
      <div className="cl-ReplicaLog-header">Log · {following ? 'following' : 'ended'}</div>
      {error ? (
        <div className="cl-FieldError" role="alert">
          {error}
        </div>
      ) : null}
      <pre ref={pre} className="cl-LogText">
        {text || (following ? 'Waiting for output…' : '(empty)')}
      </pre>
    </div>
  );
}

export function BuildView(props: IBuildViewProps): JSX.Element {
  const { client, id } = props;
  const [live, setLive] = React.useState(true);
  const res = useResource(() => client.get(id), [client, id], { intervalMs: live ? 1000 : undefined });
  const build = res.data;
  React.useEffect(() => {
    if (build) {
      props.onLoaded?.(build);
      setLive(!isFinished(build.status));
    }
  }, [build]);
  const [cancelling, setCancelling] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const cancel = async () => {
    setCancelling(true);
    setError(null);
    try {
      await client.cancel(id);
      props.changed?.();
      await res.reload();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setCancelling(false);
    }
  };
  return (
    <div className="cl-BuildView" data-testid="cubelab-build-view" data-build-id={id} data-status={build?.status ?? ''}>
      {res.error ? (
        <div className="cl-FieldError cl-Banner" role="alert">
          {res.error}
        </div>
      ) : null}
      {build ? (
        <>
          <h2>
            Build #{build.id} · {buildTitle(build)}
          </h2>
          <dl className="cl-BuildFacts">
            <dt>Status</dt>
            <dd data-testid="cubelab-build-status" className={`cl-StatusText cl-status-${build.status}`}>
              {build.status}
            </dd>
            <dt>Project</dt>
            <dd>{build.project}</dd>
            <dt>Duration</dt>
            <dd data-testid="cubelab-build-duration">{formatDuration(elapsed(build))}</dd>
            <dt>Digest</dt>
            <dd data-testid="cubelab-build-digest">{build.digest ?? '—'}</dd>
            <dt>Size</dt>
            <dd data-testid="cubelab-build-size">{formatSize(build.size)}</dd>
            <dt>Cache</dt>
            <dd data-testid="cubelab-build-cache">{build.cache || '—'}</dd>
            <dt>References</dt>
            <dd data-testid="cubelab-build-references">{(build.references ?? []).join(', ') || '—'}</dd>
            {build.message ? (
              <>
                <dt>Message</dt>
                <dd data-testid="cubelab-build-message" className="cl-BuildMessage">
                  {build.message}
                </dd>
              </>
            ) : null}
          </dl>
          {!isFinished(build.status) && build.permissions?.cancel ? (
            <Button kind="warn" disabled={cancelling} onClick={() => void cancel()} testid="cubelab-build-cancel">
              {cancelling ? 'Cancelling…' : 'Cancel'}
            </Button>
          ) : null}
          {error ? (
            <div className="cl-FieldError" role="alert">
              {error}
            </div>
          ) : null}
          {props.debug && build.status === 'succeeded' && build.references?.length ? (
            <DebugRun project={build.project} image={build.references[0]} run={props.debug} />
          ) : null}
          {props.openShell && build.status === 'succeeded' && build.references?.length ? (
            <Button
              onClick={() => props.openShell!(build.project, build.references![0])}
              testid="cubelab-build-open-shell"
            >
              Open a shell in this image
            </Button>
          ) : null}
        </>
      ) : null}
      <BuildLog
        client={client}
        id={id}
        onEnd={() => {
          void res.reload();
          props.changed?.();
        }}
      />
    </div>
  );
}
