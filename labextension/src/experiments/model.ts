/**
 * One open experiment: loads it, its trials and metric points, then follows
 * its event stream.  When the stream ends while the experiment is not final,
 * or breaks, it reloads what it may have missed (trials, metric points after
 * the last id) and follows again, a little later each time.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { errorMessage } from '../useResource';
import { EXPERIMENT_FINAL, ExperimentsClient, IExperiment, ITrial } from './client';
import { emptyLive, ILiveState, withExperiment, withMetrics, withTrials } from './live';

const RETRY_MS = [1000, 2000, 5000, 10000];

export class ExperimentModel {
  constructor(
    readonly client: ExperimentsClient,
    readonly id: number
  ) {}

  get state(): ILiveState {
    return this._state;
  }

  get experiment(): IExperiment | null {
    return this._state.experiment;
  }

  get error(): string | null {
    return this._error;
  }

  /** an action (stop, resume, re-run) is on its way */
  get busy(): string | null {
    return this._busy;
  }

  /** whether the event stream is open now */
  get live(): boolean {
    return this._live;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Load everything, then follow the events until the experiment is final or the model is disposed. */
  async start(): Promise<void> {
    let attempt = 0;
    while (!this._disposed) {
      try {
        await this._catchUp();
        if (this._final()) {
          return;
        }
        this._live = true;
        this._emit();
        await this.client.events(
          this.id,
          {
            experiment: e => this._apply(withExperiment(this._state, e)),
            trial: t => this._apply(withTrials(this._state, [t])),
            metric: m => this._apply(withMetrics(this._state, [m]))
          },
          this._abort.signal
        );
        attempt = 0;
      } catch (err) {
        if (this._disposed) {
          return;
        }
        this._error = errorMessage(err);
        attempt++;
      }
      this._live = false;
      this._emit();
      if (this._final() && attempt === 0) {
        // the stream ended with the experiment: take the last trials and points once more
        await this._catchUp().catch(() => undefined);
        return;
      }
      await this._sleep(RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]);
    }
  }

  async stop(): Promise<void> {
    await this._act('stop', async () => {
      this._apply(withExperiment(this._state, await this.client.stop(this.id)));
    });
  }

  async resume(): Promise<void> {
    await this._act('resume', async () => {
      this._apply(withExperiment(this._state, await this.client.resume(this.id)));
      // a resumed experiment streams again
      if (!this._live) {
        void this.start();
      }
    });
  }

  async rerun(trialId: string): Promise<ITrial | null> {
    let created: ITrial | null = null;
    await this._act(`rerun:${trialId}`, async () => {
      created = await this.client.rerun(this.id, trialId);
      this._apply(withTrials(this._state, [created]));
      if (!this._live) {
        void this.start();
      }
    });
    return created;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._abort.abort();
    Signal.clearData(this);
  }

  private async _catchUp(): Promise<void> {
    const [experiment, trials, points] = await Promise.all([
      this.client.get(this.id),
      this.client.allTrials(this.id),
      this.client.metricsAfter(this.id, this._state.lastMetricId)
    ]);
    let s = withExperiment(this._state, experiment);
    s = withTrials(s, trials);
    s = withMetrics(s, points);
    this._error = null;
    this._apply(s);
  }

  private async _act(what: string, fn: () => Promise<void>): Promise<void> {
    if (this._busy) {
      return;
    }
    this._busy = what;
    this._error = null;
    this._emit();
    try {
      await fn();
    } catch (err) {
      this._error = errorMessage(err);
    } finally {
      this._busy = null;
      this._emit();
    }
  }

  private _final(): boolean {
    const e = this._state.experiment;
    return !!e && EXPERIMENT_FINAL.includes(e.status);
  }

  private _apply(state: ILiveState): void {
    if (this._disposed) {
      return;
    }
    this._state = state;
    this._emit();
  }

  private _emit(): void {
    if (!this._disposed) {
      this._changed.emit();
    }
  }

  private _sleep(ms: number): Promise<void> {
    return new Promise(resolve => {
      const timer = setTimeout(resolve, ms);
      this._abort.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private _state: ILiveState = emptyLive();
  private _error: string | null = null;
  private _busy: string | null = null;
  private _live = false;
  private _disposed = false;
  private _abort = new AbortController();
  private _changed = new Signal<this, void>(this);
}
