/**
 * A build's tab, for a succeeded build: run one command inside the image, as
 * yourself, and read its output as it comes (docs/builds.md, "Debug an image").
 */
import * as React from 'react';

import { Button, TextField } from '../components';
import { errorMessage } from '../useResource';
import { debugOutcome, debugRunBody, DebugRunner } from './debugRequest';

const MAX_CHARS = 200_000;

export function DebugRun(props: { project: string; image: string; run: DebugRunner }): JSX.Element {
  const [line, setLine] = React.useState('ls -la /');
  const [text, setText] = React.useState('');
  const [error, setError] = React.useState<string | null>(null);
  const [running, setRunning] = React.useState<AbortController | null>(null);
  React.useEffect(() => () => running?.abort(), [running]);
  const start = async () => {
    const controller = new AbortController();
    setRunning(controller);
    setText('');
    setError(null);
    try {
      await props.run(
        debugRunBody(props.project, props.image, line),
        chunk => setText(t => (t + chunk).slice(-MAX_CHARS)),
        controller.signal
      );
    } catch (err) {
      if (!controller.signal.aborted) {
        setError(errorMessage(err));
      }
    } finally {
      setRunning(null);
    }
  };
  const outcome = debugOutcome(text);
  return (
    <details className="cl-DebugRun" data-testid="cubelab-debug-run">
      <summary>Run a command in this image</summary>
      <p className="cl-Help">
        In a fresh container of {props.image}, as your account; what it writes is gone afterwards.
      </p>
      <form
        onSubmit={e => {
          e.preventDefault();
          if (!running) {
            void start();
          }
        }}
      >
        <TextField
          name="command"
          label="Command"
          value={line}
          onChange={setLine}
          help="run by the image's sh -c"
          testid="cubelab-debug-command"
        />
        <div className="cl-Form-actions">
          {running ? (
            <Button kind="warn" onClick={() => running.abort()} testid="cubelab-debug-stop">
              Stop
            </Button>
          ) : (
            <Button kind="accept" type="submit" disabled={!line.trim()} testid="cubelab-debug-start">
              Run
            </Button>
          )}
        </div>
      </form>
      {error ? (
        <div className="cl-FieldError" role="alert">
          {error}
        </div>
      ) : null}
      {text || running ? (
        <pre
          className="cl-LogText"
          data-testid="cubelab-debug-output"
          data-exit-code={outcome?.code ?? ''}
          data-running={running ? 'true' : 'false'}
        >
          {text || 'Starting…'}
        </pre>
      ) : null}
    </details>
  );
}
