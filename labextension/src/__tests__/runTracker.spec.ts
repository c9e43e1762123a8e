import { PipelinesClient } from '../pipelines/client';
import { IRunSource, RunTracker } from '../pipelines/runTracker';
import { IRun } from '../pipelines/types';
import { CubeLabClient } from '../request';
import { EventStreamParser, IServerSentEvent } from '../sse';

function run(status: IRun['status'], id = 'r1'): IRun {
  return {
    id,
    pipeline_id: 7,
    pipeline_name: 'demo',
    project: 'public',
    trigger: 'manual',
    runner: 'a',
    engine: 'local',
    status,
    message: '',
    created_at: '',
    started_at: null,
    finished_at: null,
    tasks: []
  };
}

/** A stream the test drives: `send` a run, `end` or `fail` the response. */
function controlledStream() {
  let onRun: ((r: IRun) => void) | null = null;
  let finish: (() => void) | null = null;
  let fail: ((e: Error) => void) | null = null;
  let signal: AbortSignal | null = null;
  const opened: string[] = [];
  const runEvents = (runId: string, fn: (r: IRun) => void, s: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      opened.push(runId);
      onRun = fn;
      finish = resolve;
      fail = reject;
      signal = s;
    });
  return {
    runEvents,
    opened,
    send: (r: IRun) => onRun!(r),
    end: () => finish!(),
    fail: (e: Error) => fail!(e),
    get aborted() {
      return signal?.aborted ?? false;
    }
  };
}

const flush = () => new Promise<void>(resolve => jest.requireActual('timers').setImmediate(resolve));

describe('EventStreamParser', () => {
  it('dispatches events split across chunks and line endings', () => {
    const events: IServerSentEvent[] = [];
    const p = new EventStreamParser(e => events.push(e));
    p.push('event: run\ndata: {"a"');
    expect(events).toEqual([]);
    p.push(':1}\n\n: keep-alive\r\n\r\nevent: run\r');
    p.push('\ndata: line1\ndata: line2\nid: 7\n\ndata: plain\n\n');
    expect(events).toEqual([
      { event: 'run', data: '{"a":1}', id: null },
      { event: 'run', data: 'line1\nline2', id: '7' },
      { event: 'message', data: 'plain', id: '7' }
    ]);
  });
});

describe('PipelinesClient.runEvents', () => {
  it('reads the run events of the control plane through the stream', async () => {
    const paths: string[] = [];
    const api = new CubeLabClient(
      async () => ({ status: 500, text: async () => '' }),
      async (path, onText) => {
        paths.push(path);
        const text =
          `event: run\ndata: ${JSON.stringify(run('running', 'r 1'))}\n\n` +
          `event: run\ndata: ${JSON.stringify(run('failed', 'r 1'))}\n\n`;
        // chunks that cut an event in two
        onText(text.slice(0, 30));
        onText(text.slice(30));
      }
    );
    const seen: string[] = [];
    await new PipelinesClient(api).runEvents('r 1', r => seen.push(r.status), new AbortController().signal);
    expect(paths).toEqual(['runs/r%201/events']);
    expect(seen).toEqual(['running', 'failed']);
  });

  it('rejects when the client cannot stream (the tracker then polls)', async () => {
    const api = new CubeLabClient(async () => ({ status: 500, text: async () => '' }));
    await expect(
      new PipelinesClient(api).runEvents('r1', () => undefined, new AbortController().signal)
    ).rejects.toMatchObject({ status: 0 });
  });
});

describe('RunTracker', () => {
  afterEach(() => jest.useRealTimers());

  it('follows the stream and does not poll', async () => {
    jest.useFakeTimers();
    const stream = controlledStream();
    const getRun = jest.fn(async () => run('running'));
    const updates: string[] = [];
    const t = new RunTracker({ getRun, runEvents: stream.runEvents }, r => updates.push(r.status));
    t.follow(run('pending'));
    expect(stream.opened).toEqual(['r1']);
    stream.send(run('running'));
    await jest.advanceTimersByTimeAsync(3000);
    stream.send(run('succeeded'));
    stream.end();
    await jest.advanceTimersByTimeAsync(3000);
    expect(updates).toEqual(['running', 'succeeded']);
    expect(getRun).not.toHaveBeenCalled();
    expect(t.runId).toBeNull();
    expect(t.polling).toBe(false);
  });

  it('polls when the stream breaks before the run ends, until it ends', async () => {
    jest.useFakeTimers();
    const stream = controlledStream();
    const states: IRun['status'][] = ['running', 'succeeded'];
    const getRun = jest.fn(async () => run(states.shift() ?? 'succeeded'));
    const updates: string[] = [];
    const t = new RunTracker({ getRun, runEvents: stream.runEvents }, r => updates.push(r.status), {
      fastPollMs: 100,
      pollMs: 1000
    });
    t.follow(run('pending'));
    stream.send(run('running'));
    stream.fail(new Error('connection reset'));
    await jest.advanceTimersByTimeAsync(0);
    expect(t.polling).toBe(true);
    await jest.advanceTimersByTimeAsync(100);
    expect(getRun).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(100);
    expect(updates).toEqual(['running', 'running', 'succeeded']);
    await jest.advanceTimersByTimeAsync(5000);
    expect(getRun).toHaveBeenCalledTimes(2);
    expect(t.polling).toBe(false);
  });

  it('polls when the stream ends early without an error', async () => {
    jest.useFakeTimers();
    const stream = controlledStream();
    const getRun = jest.fn(async () => run('failed'));
    const updates: string[] = [];
    const t = new RunTracker({ getRun, runEvents: stream.runEvents }, r => updates.push(r.status));
    t.follow(run('running'));
    stream.end();
    await jest.advanceTimersByTimeAsync(250);
    expect(updates).toEqual(['failed']);
    expect(t.runId).toBeNull();
  });

  it('stops: the stream is aborted and later events are ignored', async () => {
    const stream = controlledStream();
    const getRun = jest.fn(async () => run('running'));
    const updates: string[] = [];
    const t = new RunTracker({ getRun, runEvents: stream.runEvents }, r => updates.push(r.status));
    t.follow(run('running'));
    t.stop();
    expect(stream.aborted).toBe(true);
    stream.send(run('succeeded'));
    stream.end();
    await flush();
    expect(updates).toEqual([]);
    expect(getRun).not.toHaveBeenCalled();
  });

  it('following another run drops the first; a finished run is not followed', async () => {
    const stream = controlledStream();
    const source: IRunSource = { getRun: async () => run('running'), runEvents: stream.runEvents };
    const updates: string[] = [];
    const t = new RunTracker(source, r => updates.push(`${r.id}:${r.status}`));
    t.follow(run('running', 'a'));
    t.follow(run('running', 'b'));
    expect(stream.opened).toEqual(['a', 'b']);
    stream.send(run('succeeded', 'b'));
    t.follow(run('succeeded', 'c'));
    expect(stream.opened).toEqual(['a', 'b']);
    expect(t.runId).toBeNull();
    expect(updates).toEqual(['b:succeeded']);
  });
});
