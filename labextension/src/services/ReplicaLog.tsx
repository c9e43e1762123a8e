/** A replica's log (every restart), followed while the replica runs. */
import * as React from 'react';

import { errorMessage } from '../useResource';
import { ServicesClient } from './client';

const MAX_CHARS = 200_000;

export function ReplicaLog(props: { client: ServicesClient; serviceId: number; index: number }): JSX.Element {
  const [text, setText] = React.useState('');
  const [error, setError] = React.useState<string | null>(null);
  const [following, setFollowing] = React.useState(true);
  React.useEffect(() => {
    const controller = new AbortController();
    setText('');
    setError(null);
    setFollowing(true);
    props.client
      .streamLog(props.serviceId, props.index, chunk => setText(t => (t + chunk).slice(-MAX_CHARS)), controller.signal)
      .then(
        () => setFollowing(false),
        err => {
          if (!controller.signal.aborted) {
            setError(errorMessage(err));
            setFollowing(false);
          }
        }
      );
    return () => controller.abort();
  }, [props.client, props.serviceId, props.index]);
  return (
    <div className="cl-ReplicaLog" data-testid="cubelab-replica-log" data-replica={props.index}>
      <div className="cl-ReplicaLog-header">
        Replica {props.index} · {following ? 'following' : 'ended'}
      </div>
      {error ? (
        <div className="cl-FieldError" role="alert">
          {error}
        </div>
      ) : null}
      <pre className="cl-LogText">{text || (following ? 'Waiting for output…' : '(empty)')}</pre>
    </div>
  );
}
