/**
 * "Run a command in this image" (`POST images/debug-runs`): the request of a
 * command line typed in a build's tab, and what the streamed output's last line
 * says about how it ended.
 */
import { components } from '../generated/api';

export type IDebugRun = components['schemas']['ImageDebugRun'];

/** Streams a debug command's output into `onText`; resolves when it has ended. */
export type DebugRunner = (body: IDebugRun, onText: (chunk: string) => void, signal: AbortSignal) => Promise<void>;

/** The typed line is run by the image's own shell (`sh -c`), inside the image: the host's never reads it. */
export function debugRunBody(project: string, image: string, line: string, timeout = ''): IDebugRun {
  const body: IDebugRun = { project, image, command: ['sh', '-c', line] };
  if (timeout.trim()) {
    body.timeout = timeout.trim();
  }
  return body;
}

export interface IDebugOutcome {
  /** the command's exit code, when it exited by itself */
  code: number | null;
  /** why it was stopped (timeout, memory limit, client gone), when it was */
  stopped: string | null;
}

/** How it ended, from the platform's last line (`[cubelab] exited with code N` or `[cubelab] stopped ...`); null while running. */
export function debugOutcome(text: string): IDebugOutcome | null {
  const lines = text.trimEnd().split('\n');
  const last = lines[lines.length - 1] ?? '';
  const exited = /^\[cubelab\] exited with code (-?\d+)$/.exec(last);
  if (exited) {
    return { code: Number(exited[1]), stopped: null };
  }
  const stopped = /^\[cubelab\] ((?:stopped|killed) .*)$/.exec(last);
  return stopped ? { code: null, stopped: stopped[1] } : null;
}
