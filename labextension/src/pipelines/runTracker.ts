/**
 * Follows a run live: the control plane's `runs/{id}/events` stream sends the
 * whole run after every change until it ends.  Only when that stream breaks
 * (or cannot be opened) does the tracker fall back to polling `GET runs/{id}`.
 */
import { IRun, RUN_FINAL } from './types';

export interface IRunSource {
  getRun(runId: string): Promise<IRun>;
  /** Calls `onRun` with each state the stream sends; resolves when it ends. */
  runEvents?(runId: string, onRun: (run: IRun) => void, signal: AbortSignal): Promise<void>;
}

export interface IRunTrackerOptions {
  /** poll interval while a run starts (the canvas shows "running" quickly) */
  fastPollMs?: number;
  /** how long after `follow` the fast interval applies */
  fastPeriodMs?: number;
  /** poll interval after that */
  pollMs?: number;
}

export class RunTracker {
  constructor(
    readonly source: IRunSource,
    /** called with every new state of the followed run */
    readonly onUpdate: (run: IRun) => void,
    options: IRunTrackerOptions = {}
  ) {
    this._fastPollMs = options.fastPollMs ?? 250;
    this._fastPeriodMs = options.fastPeriodMs ?? 5000;
    this._pollMs = options.pollMs ?? 1000;
  }

  /** The run followed now (null when none or when it has ended). */
  get runId(): string | null {
    return this._controller ? this._runId : null;
  }

  /** Whether the updates come from polling (the stream broke). */
  get polling(): boolean {
    return this._timer !== null;
  }

  /** Follow `run` (stopping any other); a run that has ended is not followed. */
  follow(run: IRun): void {
    this.stop();
    if (RUN_FINAL.includes(run.status)) {
      return;
    }
    const controller = new AbortController();
    this._controller = controller;
    this._runId = run.id;
    this._started = Date.now();
    if (this.source.runEvents) {
      void this.stream(run.id, controller);
    } else {
      this.schedulePoll(run.id, controller);
    }
  }

  stop(): void {
    this._controller?.abort();
    this._controller = null;
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private async stream(runId: string, controller: AbortController): Promise<void> {
    let ended = false;
    try {
      await this.source.runEvents!(
        runId,
        run => {
          if (controller.signal.aborted || run.id !== runId) {
            return;
          }
          ended = RUN_FINAL.includes(run.status);
          this.onUpdate(run);
        },
        controller.signal
      );
    } catch {
      // a broken stream is handled below, as a stream that ended early
    }
    if (controller.signal.aborted) {
      return;
    }
    if (ended) {
      this.done(controller);
    } else {
      this.schedulePoll(runId, controller);
    }
  }

  private schedulePoll(runId: string, controller: AbortController): void {
    const fast = Date.now() - this._started < this._fastPeriodMs;
    this._timer = setTimeout(
      async () => {
        this._timer = null;
        let ended = false;
        try {
          const run = await this.source.getRun(runId);
          if (controller.signal.aborted) {
            return;
          }
          ended = RUN_FINAL.includes(run.status);
          this.onUpdate(run);
        } catch {
          // keep polling; a transient error should not stop the live view
        }
        if (controller.signal.aborted) {
          return;
        }
        if (ended) {
          this.done(controller);
        } else {
          this.schedulePoll(runId, controller);
        }
      },
      fast ? this._fastPollMs : this._pollMs
    );
  }

  private done(controller: AbortController): void {
    if (this._controller === controller) {
      this._controller = null;
    }
  }

  private _controller: AbortController | null = null;
  private _runId: string | null = null;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _started = 0;
  private _fastPollMs: number;
  private _fastPeriodMs: number;
  private _pollMs: number;
}
