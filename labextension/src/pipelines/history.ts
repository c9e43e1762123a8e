/** Undo/redo by value.  `push` drops the redo branch; equal states are ignored. */
export class History<T> {
  constructor(
    initial: T,
    private readonly same: (a: T, b: T) => boolean = (a, b) => a === b,
    private readonly limit = 200
  ) {
    this._present = initial;
  }

  get present(): T {
    return this._present;
  }

  get canUndo(): boolean {
    return this._past.length > 0;
  }

  get canRedo(): boolean {
    return this._future.length > 0;
  }

  push(next: T): void {
    if (this.same(next, this._present)) {
      return;
    }
    this._past.push(this._present);
    if (this._past.length > this.limit) {
      this._past.shift();
    }
    this._present = next;
    this._future = [];
  }

  /** Replace the present without a history entry (e.g. live drag positions). */
  replace(next: T): void {
    this._present = next;
  }

  undo(): T {
    if (this._past.length) {
      this._future.push(this._present);
      this._present = this._past.pop()!;
    }
    return this._present;
  }

  redo(): T {
    if (this._future.length) {
      this._past.push(this._present);
      this._present = this._future.pop()!;
    }
    return this._present;
  }

  reset(value: T): void {
    this._past = [];
    this._future = [];
    this._present = value;
  }

  private _present: T;
  private _past: T[] = [];
  private _future: T[] = [];
}
