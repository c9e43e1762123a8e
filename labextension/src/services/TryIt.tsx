/**
 * The "try it" panel: send a request (a JSON body, or an Open Inference
 * Protocol inference request) to a service and see the answer, its status and
 * the latency measured in the browser.
 */
import * as React from 'react';

import { Button } from '../components';
import { IReplica, IService, ServicesClient } from './client';
import {
  answerText,
  buildTryRequest,
  formatLatency,
  inferencePath,
  ITryProblem,
  sampleInferenceRequest,
  TryMode,
  PLATFORM_TARGET,
  tryTargets
} from './tryit';

interface IAnswer {
  status: number;
  text: string;
  ms: number;
  url: string;
}

export function TryIt(props: { service: IService; replicas: IReplica[]; client?: ServicesClient }): JSX.Element {
  const { service } = props;
  const inference = service.kind === 'inference';
  const [mode, setMode] = React.useState<TryMode>(inference ? 'inference' : 'json');
  const [method, setMethod] = React.useState(inference ? 'POST' : 'GET');
  const [path, setPath] = React.useState(inference ? inferencePath(service) : '/');
  const [body, setBody] = React.useState(inference ? sampleInferenceRequest() : '');
  const targets = tryTargets(service as IService & Record<string, unknown>, props.replicas);
  const [targetIndex, setTargetIndex] = React.useState(0);
  const target = targets[Math.min(targetIndex, targets.length - 1)];
  const [problems, setProblems] = React.useState<ITryProblem[]>([]);
  const [answer, setAnswer] = React.useState<IAnswer | null>(null);
  const [failure, setFailure] = React.useState<string | null>(null);
  const [busy, setBusy] = React.useState(false);

  const pickMode = (m: TryMode) => {
    setMode(m);
    if (m === 'inference') {
      setMethod('POST');
      setPath(inferencePath(service));
      if (!body.trim()) {
        setBody(sampleInferenceRequest());
      }
    }
  };

  const send = async () => {
    if (!target) {
      return;
    }
    const built = buildTryRequest(target, { mode, method, path, body });
    setProblems(built.problems);
    setFailure(null);
    if (!built.request) {
      return;
    }
    const { request } = built;
    setBusy(true);
    const started = performance.now();
    try {
      if (target.base === PLATFORM_TARGET && props.client) {
        const path = request.url.slice(PLATFORM_TARGET.length);
        const answer = await props.client.tryIt(service.id, {
          method: request.method,
          path,
          body: request.body ?? '',
          content_type: request.headers['Content-Type'] ?? 'application/json'
        });
        setAnswer({ status: answer.status, text: answer.body, ms: answer.elapsed_ms, url: path });
        return;
      }
      // the member path is same-origin and sends the platform's login; other targets get no credentials
      const response = await fetch(request.url, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        credentials: request.url.startsWith('/') ? 'same-origin' : 'omit'
      });
      const text = await response.text();
      setAnswer({ status: response.status, text, ms: performance.now() - started, url: request.url });
    } catch (err) {
      setAnswer(null);
      setFailure(
        `No answer from ${request.url}: ${(err as Error).message}. ` +
          'A service on another origin answers the browser only if it allows this origin (CORS).'
      );
    } finally {
      setBusy(false);
    }
  };

  if (!targets.length) {
    return (
      <p className="cl-Empty" data-testid="cubelab-tryit-unavailable">
        Nothing to send to: the service has no healthy replica yet.
      </p>
    );
  }
  return (
    <div className="cl-TryIt" data-testid="cubelab-tryit">
      <div className="cl-TryIt-row">
        <label>
          <input
            type="radio"
            name="cl-tryit-mode"
            checked={mode === 'json'}
            onChange={() => pickMode('json')}
            data-testid="cubelab-tryit-mode-json"
          />{' '}
          JSON
        </label>
        <label>
          <input
            type="radio"
            name="cl-tryit-mode"
            checked={mode === 'inference'}
            onChange={() => pickMode('inference')}
            data-testid="cubelab-tryit-mode-inference"
          />{' '}
          Inference (Open Inference Protocol)
        </label>
      </div>
      <div className="cl-TryIt-row">
        <select
          className="jp-mod-styled cl-Select"
          aria-label="Method"
          data-testid="cubelab-tryit-method"
          value={method}
          disabled={mode === 'inference'}
          onChange={e => setMethod(e.target.value)}
        >
          {['GET', 'POST', 'PUT', 'DELETE'].map(m => (
            <option key={m}>{m}</option>
          ))}
        </select>
        <input
          className="jp-mod-styled cl-Input cl-TryIt-path"
          aria-label="Path"
          data-testid="cubelab-tryit-path"
          value={path}
          onChange={e => setPath(e.target.value)}
        />
        <Button kind="accept" onClick={() => void send()} disabled={busy} testid="cubelab-tryit-send">
          {busy ? 'Sending…' : 'Send'}
        </Button>
      </div>
      <div className="cl-TryIt-row">
        <label className="cl-Field-label">
          Through{' '}
          <select
            className="jp-mod-styled cl-Select"
            data-testid="cubelab-tryit-target"
            value={targetIndex}
            onChange={e => setTargetIndex(Number(e.target.value))}
          >
            {targets.map((t, i) => (
              <option key={t.base} value={i}>
                {t.via} ({t.base})
              </option>
            ))}
          </select>
        </label>
      </div>
      {method !== 'GET' && method !== 'DELETE' ? (
        <textarea
          className="jp-mod-styled cl-Input cl-TryIt-body"
          aria-label="Request body"
          data-testid="cubelab-tryit-body"
          rows={8}
          spellCheck={false}
          value={body}
          onChange={e => setBody(e.target.value)}
        />
      ) : null}
      {problems.map(p => (
        <div key={p.field} className="cl-FieldError" role="alert" data-testid="cubelab-tryit-problem">
          {p.field}: {p.message}
        </div>
      ))}
      {failure ? (
        <div className="cl-FieldError" role="alert" data-testid="cubelab-tryit-failure">
          {failure}
        </div>
      ) : null}
      {answer ? (
        <div className="cl-TryIt-answer" data-testid="cubelab-tryit-answer" data-status={answer.status}>
          <div className="cl-TryIt-meta">
            HTTP <span data-testid="cubelab-tryit-status">{answer.status}</span> in{' '}
            <span data-testid="cubelab-tryit-latency">{formatLatency(answer.ms)}</span> · {answer.url}
          </div>
          <pre className="cl-LogText" data-testid="cubelab-tryit-answer-body">
            {answerText(answer.text)}
          </pre>
        </div>
      ) : null}
    </div>
  );
}
