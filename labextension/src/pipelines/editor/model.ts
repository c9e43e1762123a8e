/**
 * State of one open pipeline editor: the pipeline with undo history, the
 * saved copy (dirty marker), templates, server diagnostics, selection and the
 * run shown on the canvas.  UI components subscribe to `changed`.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { ApiError } from '../../request';
import { PipelinesClient } from '../client';
import { IDiagnosticMap, mapDiagnostics } from '../diagnostics';
import {
  addTask,
  connect,
  duplicateTasks,
  fileTaskSpec,
  moveTasks,
  nextFreePosition,
  removeEdges,
  removeTasks,
  renameTask,
  samePipeline,
  toBody,
  updateTask
} from '../graph';
import { History } from '../history';
import { autoLayout } from '../layout';
import { freeSpot, IRect, NODE_SIZE, visibleSpot } from '../placement';
import { RunTracker } from '../runTracker';
import { findTemplate } from '../palette';
import {
  Edge,
  IDiagnostic,
  IPipeline,
  IPipelineView,
  IPosition,
  IResourceProposal,
  IRun,
  ITask,
  ITemplate,
  RUN_FINAL
} from '../types';

/**
 * Field errors of a 400 (the body could not be read) as diagnostics:
 * `tasks[2].timeout` becomes task <name of task 2>, field `timeout`.
 */
export function shapeDiagnostics(err: ApiError, p: IPipeline): IDiagnostic[] {
  const details = err.details.length ? err.details : [{ field: err.field, message: err.message }];
  return details.map(d => {
    const m = /^tasks\[(\d+)\]\.(.+)$/.exec(d.field ?? '');
    const task = m ? (p.tasks[parseInt(m[1], 10)]?.name ?? null) : null;
    return {
      severity: 'error',
      message: d.message,
      task,
      edge: null,
      field: m ? m[2] : (d.field ?? null)
    } as IDiagnostic;
  });
}

export class EditorModel {
  constructor(
    readonly client: PipelinesClient,
    readonly id: number
  ) {
    this._tracker = new RunTracker(client, run => this.runUpdated(run));
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted with the new saved name, after every successful save. */
  get saved(): ISignal<this, IPipelineView> {
    return this._saved;
  }

  get loaded(): boolean {
    return this._history !== null;
  }

  get pipeline(): IPipeline {
    return this._history!.present;
  }

  get savedPipeline(): IPipelineView | null {
    return this._savedView;
  }

  get dirty(): boolean {
    return !!this._history && !!this._savedView && !samePipeline(this._history.present, this._savedView);
  }

  get canUndo(): boolean {
    return !!this._history?.canUndo;
  }

  get canRedo(): boolean {
    return !!this._history?.canRedo;
  }

  get editable(): boolean {
    return this._savedView?.permissions?.edit !== false && !this.viewingRun;
  }

  get canRun(): boolean {
    return this._savedView?.permissions?.run !== false;
  }

  templates: ITemplate[] = [];
  diagnostics: IDiagnostic[] = [];
  selection: { tasks: string[]; edges: Edge[] } = { tasks: [], edges: [] };
  /** A message for the status line (errors of the last action). */
  notice: { kind: 'error' | 'info'; text: string } | null = null;
  loadError: string | null = null;
  saving = false;

  /** Resource proposals by task (after enough successful runs). */
  proposals: Record<string, IResourceProposal> = {};

  /** The run shown on the canvas (live or past), with its task statuses. */
  run: IRun | null = null;
  /** true while a past run is shown read-only */
  viewingRun = false;
  /** Which task's log the run panel shows. */
  logTask: string | null = null;

  get diagnosticMap(): IDiagnosticMap {
    if (this._diagMapFor !== this.diagnostics || this._diagMapPipeline !== this._history?.present) {
      this._diagMap = mapDiagnostics(this.diagnostics, this.pipeline);
      this._diagMapFor = this.diagnostics;
      this._diagMapPipeline = this._history?.present ?? null;
    }
    return this._diagMap!;
  }

  async load(): Promise<void> {
    try {
      const view = await this.client.get(this.id);
      this.learnTemplates(await this.usedTemplates(view));
      this.setSaved(view);
      this._history = new History<IPipeline>(this.withPositions(view), (a, b) => samePipeline(a, b));
      // positions added by the first layout are not an unsaved change
      this._savedView = { ...view, tasks: this._history.present.tasks };
      this.loadError = null;
      void this.loadProposals();
      const last = (await this.client.runs(this.id, 1).catch(() => []))[0];
      if (last && !RUN_FINAL.includes(last.status)) {
        void this.showRun(last.id, false);
      }
    } catch (err) {
      this.loadError = (err as Error).message;
    }
    this.emit();
  }

  /**
   * The templates the pipeline's tasks use, and those dropped files become:
   * the palette loads the others a page at a time (`learnTemplates`).
   */
  private async usedTemplates(p: IPipeline): Promise<ITemplate[]> {
    const wanted = new Map<string, [string, string | null]>();
    for (const [name, version] of [
      ...p.tasks.map(t => [t.template, t.template_version ?? null] as [string, string | null]),
      ['python', null] as [string, null],
      ['notebook', null] as [string, null]
    ]) {
      wanted.set(`${name}@${version ?? ''}`, [name, version]);
    }
    const found = await Promise.all(
      [...wanted.values()].map(([name, version]) => this.client.template(name, version).catch(() => null))
    );
    return found.filter((t): t is ITemplate => t !== null);
  }

  /** Remember templates (the palette's pages) for forms, drops and keyboard adds. */
  learnTemplates(templates: ITemplate[]): void {
    const known = new Map(this.templates.map(t => [`${t.name}@${t.version}`, t]));
    let added = false;
    for (const t of templates) {
      const key = `${t.name}@${t.version}`;
      if (known.get(key) !== t) {
        known.set(key, t);
        added = true;
      }
    }
    if (added) {
      this.templates = [...known.values()];
    }
  }

  /** Tasks without canvas positions get an auto-layout. */
  private withPositions(p: IPipeline): IPipeline {
    if (p.tasks.every(t => t.position)) {
      return p;
    }
    const pos = autoLayout(
      p.tasks.map(t => t.name),
      p.edges
    );
    return moveTasks(p, Object.fromEntries(p.tasks.filter(t => !t.position).map(t => [t.name, pos[t.name]])));
  }

  private setSaved(view: IPipelineView): void {
    this._savedView = view;
    this.diagnostics = view.diagnostics ?? [];
  }

  // ---------------------------------------------------------------- edits

  /** Apply an edit; consecutive edits with the same `coalesce` key form one undo step. */
  apply(next: IPipeline, coalesce?: string): void {
    if (!this._history || !this.editable) {
      return;
    }
    const now = Date.now();
    if (coalesce && coalesce === this._lastKey && now - this._lastTime < 1500) {
      this._history.replace(next);
    } else {
      this._history.push(next);
    }
    this._lastKey = coalesce ?? null;
    this._lastTime = now;
    this.notice = null;
    this.scheduleValidate();
    this.emit();
  }

  /** The rectangles of the tasks on the canvas, for placing new ones. */
  private taken(): IRect[] {
    return this.pipeline.tasks.filter(t => t.position).map(t => ({ ...t.position!, ...NODE_SIZE }));
  }

  /** `position` (or a spot right of the tasks), nudged so it overlaps no task. */
  private placeAt(position?: IPosition): IPosition {
    return freeSpot(position ?? nextFreePosition(this.pipeline), this.taken());
  }

  /** A spot for a task in the middle of `view` (the visible canvas), off other tasks. */
  spotIn(view: IRect): IPosition {
    return visibleSpot(view, this.taken());
  }

  addTemplateTask(template: ITemplate, position?: IPosition): string {
    const { pipeline, name } = addTask(this.pipeline, template, this.placeAt(position));
    this.apply(pipeline);
    this.select([name], []);
    return name;
  }

  /** A task for a file dropped from the file browser; null when unsupported. */
  addFileTask(path: string, position?: IPosition): string | null {
    const spec = fileTaskSpec(path);
    if (!spec) {
      this.setNotice('error', `${path}: only .py and .ipynb files make tasks.`);
      return null;
    }
    const template = findTemplate(this.templates, spec.template);
    if (!template) {
      this.setNotice('error', `The '${spec.template}' template is not available.`);
      return null;
    }
    const { pipeline, name } = addTask(this.pipeline, template, this.placeAt(position), {
      name: spec.name
    });
    this.apply(
      updateTask(pipeline, name, { args: { ...pipeline.tasks.find(t => t.name === name)!.args, ...spec.args } })
    );
    this.select([name], []);
    return name;
  }

  connect(upstream: string, downstream: string): boolean {
    const r = connect(this.pipeline, upstream, downstream);
    if (!r.ok) {
      this.setNotice('error', r.reason);
      return false;
    }
    this.apply(r.pipeline);
    return true;
  }

  /** Remove one edge (keyboard alternative to selecting it on the canvas). */
  disconnect(upstream: string, downstream: string): void {
    this.apply(removeEdges(this.pipeline, [[upstream, downstream]]));
  }

  deleteSelection(): void {
    const { tasks, edges } = this.selection;
    if (!tasks.length && !edges.length) {
      return;
    }
    this.apply(removeEdges(removeTasks(this.pipeline, tasks), edges));
    this.selection = { tasks: [], edges: [] };
    this.emit();
  }

  duplicateSelection(): void {
    if (!this.selection.tasks.length) {
      return;
    }
    const d = duplicateTasks(this.pipeline, this.selection.tasks);
    this.apply(d.pipeline);
    this.select(d.names, []);
  }

  updateTask(name: string, change: Partial<ITask>, coalesce?: string): void {
    this.apply(updateTask(this.pipeline, name, change), coalesce);
  }

  /** Returns an error message, or null when renamed. */
  renameTask(from: string, to: string): string | null {
    const r = renameTask(this.pipeline, from, to);
    if (!r.ok) {
      return r.reason;
    }
    this.apply(r.pipeline);
    this.selection = {
      tasks: this.selection.tasks.map(t => (t === from ? to : t)),
      edges: []
    };
    this.emit();
    return null;
  }

  updatePipeline(change: Partial<IPipeline>, coalesce?: string): void {
    this.apply({ ...this.pipeline, ...change }, coalesce);
  }

  /** Live drag: move without a history entry; `commit` at drag end. */
  dragTo(positions: Record<string, IPosition>): void {
    if (!this._history || !this.editable) {
      return;
    }
    if (!this._dragStart) {
      this._dragStart = this._history.present;
    }
    this._history.replace(moveTasks(this._history.present, positions));
    this.emit();
  }

  /** Move tasks as one undo step (keyboard moves). */
  moveBy(positions: Record<string, IPosition>): void {
    if (this._dragStart) {
      this.dragTo(positions);
      return;
    }
    this.apply(moveTasks(this.pipeline, positions), 'move:' + Object.keys(positions).sort().join(','));
  }

  commitDrag(): void {
    if (!this._history || !this._dragStart) {
      return;
    }
    const moved = this._history.present;
    this._history.replace(this._dragStart);
    this._dragStart = null;
    this._history.push(moved);
    this.emit();
  }

  /** Lay the tasks out left to right; `sizes` are the nodes' measured sizes. */
  layout(sizes: Record<string, { width?: number; height?: number } | undefined> = {}): void {
    const pos = autoLayout(
      this.pipeline.tasks.map(t => t.name),
      this.pipeline.edges,
      { sizes }
    );
    this.apply(moveTasks(this.pipeline, pos));
  }

  undo(): void {
    if (this._history && this.editable) {
      this._history.undo();
      this._lastKey = null;
      this.scheduleValidate();
      this.emit();
    }
  }

  redo(): void {
    if (this._history && this.editable) {
      this._history.redo();
      this._lastKey = null;
      this.scheduleValidate();
      this.emit();
    }
  }

  select(tasks: string[], edges: Edge[]): void {
    this.selection = { tasks, edges };
    if (this.run && tasks.length === 1) {
      this.logTask = tasks[0];
    }
    this.emit();
  }

  setNotice(kind: 'error' | 'info', text: string): void {
    this.notice = { kind, text };
    this.emit();
  }

  // ---------------------------------------------------------------- server

  /** Download the pipeline as one JSON document (`<name>.pipeline.json`). */
  async exportDocument(): Promise<void> {
    try {
      const doc = await this.client.exportDocument(this.id);
      const blob = new Blob([JSON.stringify(doc, null, 2)], { type: 'application/json' });
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = `${this.savedPipeline?.name ?? 'pipeline'}.pipeline.json`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (err) {
      this.setNotice('error', `Not exported: ${(err as Error).message}`);
    }
  }

  async loadProposals(): Promise<void> {
    try {
      const list = await this.client.proposals(this.id);
      this.proposals = Object.fromEntries(list.map(p => [p.task, p]));
      this.emit();
    } catch {
      this.proposals = {};
    }
  }

  /**
   * Accept a task's resource proposal: through the server when there are no
   * unsaved edits (it writes the pipeline), else as an edit to save.
   */
  async acceptProposal(task: string): Promise<void> {
    const proposal = this.proposals[task];
    if (!proposal || !this._history || !this.editable) {
      return;
    }
    if (this.dirty) {
      this.updateTask(task, { cpu: proposal.proposed.cpu, memory: proposal.proposed.memory });
      this.notice = { kind: 'info', text: `Applied the proposal to ${task}; save to keep it.` };
    } else {
      try {
        const view = await this.client.acceptProposal(this.id, task);
        this.setSaved(view);
        this._history.push(toBody(view));
        this.notice = { kind: 'info', text: `Resources of ${task} set to the proposal.` };
        this._saved.emit(view);
      } catch (err) {
        this.notice = { kind: 'error', text: (err as Error).message };
      }
    }
    const rest = { ...this.proposals };
    delete rest[task];
    this.proposals = rest;
    this.emit();
  }

  async save(): Promise<boolean> {
    if (!this._history || this.saving || !this.editable) {
      return false;
    }
    this.saving = true;
    this.emit();
    const sent = this._history.present;
    try {
      const view = await this.client.save(this.id, sent);
      this.setSaved(view);
      if (this._history.present === sent) {
        // adopt the server's normal form (defaults filled in) without an undo step
        this._history.replace(toBody(view));
      }
      this.notice = { kind: 'info', text: 'Saved.' };
      this._saved.emit(view);
      return true;
    } catch (err) {
      this.notice = { kind: 'error', text: `Not saved: ${(err as Error).message}` };
      if (err instanceof ApiError && err.status === 400) {
        this.diagnostics = shapeDiagnostics(err, sent);
      }
      return false;
    } finally {
      this.saving = false;
      this.emit();
    }
  }

  private scheduleValidate(): void {
    if (this._validateTimer) {
      clearTimeout(this._validateTimer);
    }
    this._validateTimer = setTimeout(() => void this.validate(), 700);
  }

  async validate(): Promise<void> {
    if (!this._history) {
      return;
    }
    const sent = this._history.present;
    try {
      const diags = await this.client.validateDraft(sent);
      if (this._history.present === sent) {
        this.diagnostics = diags;
        this.emit();
      }
    } catch (err) {
      // a body the server cannot read at all (bad cron, bad env line…) comes
      // back as a 400 with field errors: show them as diagnostics
      if (err instanceof ApiError && err.status === 400 && this._history.present === sent) {
        this.diagnostics = shapeDiagnostics(err, sent);
        this.emit();
      }
    }
  }

  async startRun(): Promise<void> {
    if (this.dirty && !(await this.save())) {
      return;
    }
    try {
      const run = await this.client.run(this.id);
      this.notice = { kind: 'info', text: `Run ${run.id} started.` };
      this.trackRun(run, false);
    } catch (err) {
      this.runRefused(err);
    }
  }

  async debugTask(task: string): Promise<void> {
    if (this.dirty && !(await this.save())) {
      return;
    }
    try {
      const run = await this.client.debugTask(this.id, task);
      this.notice = { kind: 'info', text: `Debug run of ${task} started.` };
      this.trackRun(run, false);
      this.logTask = task;
    } catch (err) {
      this.runRefused(err);
    }
  }

  private runRefused(err: unknown): void {
    if (err instanceof ApiError && Array.isArray(err.body.diagnostics)) {
      this.diagnostics = err.body.diagnostics as IDiagnostic[];
      this.notice = { kind: 'error', text: 'Not started: the pipeline has errors (see Problems).' };
    } else {
      this.notice = { kind: 'error', text: `Not started: ${(err as Error).message}` };
    }
    this.emit();
  }

  async cancelRun(): Promise<void> {
    if (!this.run) {
      return;
    }
    try {
      this.trackRun(await this.client.cancel(this.run.id), this.viewingRun);
    } catch (err) {
      this.setNotice('error', (err as Error).message);
    }
  }

  async rerun(mode: 'all' | 'failed'): Promise<void> {
    if (!this.run) {
      return;
    }
    try {
      const run = await this.client.rerun(this.run.id, mode);
      this.notice = { kind: 'info', text: `Run ${run.id} started.` };
      this.trackRun(run, false);
    } catch (err) {
      this.runRefused(err);
    }
  }

  /** Show a run on the canvas; past runs are read-only. */
  async showRun(runId: string, readOnly: boolean): Promise<void> {
    try {
      this.trackRun(await this.client.getRun(runId), readOnly);
    } catch (err) {
      this.setNotice('error', (err as Error).message);
    }
  }

  closeRun(): void {
    this._tracker.stop();
    this.run = null;
    this.viewingRun = false;
    this.logTask = null;
    this.emit();
  }

  private trackRun(run: IRun, readOnly: boolean): void {
    this.run = run;
    this.viewingRun = readOnly;
    // show the log of the task the user has selected (or of the only task)
    const names = (run.tasks ?? []).map(t => t.name);
    if (!this.logTask || !names.includes(this.logTask)) {
      const sel = this.selection.tasks.length === 1 ? this.selection.tasks[0] : null;
      this.logTask = sel && names.includes(sel) ? sel : names.length === 1 ? names[0] : null;
    }
    this._tracker.follow(run);
    this.emit();
  }

  /** A new state of the followed run, from the events stream or a poll. */
  private runUpdated(run: IRun): void {
    if (!this.run || run.id !== this.run.id) {
      return;
    }
    this.run = run;
    if (RUN_FINAL.includes(run.status)) {
      this._runFinished.emit(run);
      void this.loadProposals();
    }
    this.emit();
  }

  get runFinished(): ISignal<this, IRun> {
    return this._runFinished;
  }

  dispose(): void {
    this._tracker.stop();
    if (this._validateTimer) {
      clearTimeout(this._validateTimer);
    }
    Signal.clearData(this);
  }

  emit(): void {
    this._changed.emit();
  }

  private _history: History<IPipeline> | null = null;
  private _savedView: IPipelineView | null = null;
  private _changed = new Signal<this, void>(this);
  private _saved = new Signal<this, IPipelineView>(this);
  private _runFinished = new Signal<this, IRun>(this);
  private _lastKey: string | null = null;
  private _lastTime = 0;
  private _dragStart: IPipeline | null = null;
  private _validateTimer: ReturnType<typeof setTimeout> | null = null;
  private _tracker: RunTracker;
  private _diagMap: IDiagnosticMap | null = null;
  private _diagMapFor: IDiagnostic[] | null = null;
  private _diagMapPipeline: IPipeline | null = null;
}
