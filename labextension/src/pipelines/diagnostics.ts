/**
 * Server diagnostics (`{severity, message, task, edge, field}`) mapped onto
 * the canvas: per task, per edge, per form field of a task, and the rest.
 */
import { edgeId } from './graph';
import { Edge, IDiagnostic, IPipeline } from './types';

export type Severity = 'error' | 'warning';

export interface IDiagnosticMap {
  /** task name -> its diagnostics */
  tasks: Record<string, IDiagnostic[]>;
  /** edge id `u->d` -> its diagnostics */
  edges: Record<string, IDiagnostic[]>;
  /** task name -> form field key -> messages joined */
  taskFields: Record<string, Record<string, string>>;
  /** pipeline-level field (name, parallelism, schedule.cron, env.X) -> message */
  pipelineFields: Record<string, string>;
  /** diagnostics that concern no task or edge of the pipeline */
  general: IDiagnostic[];
  errors: number;
  warnings: number;
}

export function worst(diags: IDiagnostic[] | undefined): Severity | null {
  if (!diags || !diags.length) {
    return null;
  }
  return diags.some(d => d.severity === 'error') ? 'error' : 'warning';
}

function add<T>(map: Record<string, T[]>, key: string, value: T): void {
  (map[key] ??= []).push(value);
}

function join(existing: string | undefined, message: string): string {
  return existing ? `${existing}\n${message}` : message;
}

/**
 * Form key for a task diagnostic's field: `args.--lr` stays as is (the
 * properties panel keys argument inputs that way); `edges` is not a form field.
 */
export function taskFieldKey(field: string | null | undefined): string | null {
  if (!field || field === 'edges') {
    return null;
  }
  return field;
}

export function mapDiagnostics(diags: IDiagnostic[] | null | undefined, pipeline: IPipeline): IDiagnosticMap {
  const tasks = new Set(pipeline.tasks.map(t => t.name));
  const edges = new Set(pipeline.edges.map(edgeId));
  const out: IDiagnosticMap = {
    tasks: {},
    edges: {},
    taskFields: {},
    pipelineFields: {},
    general: [],
    errors: 0,
    warnings: 0
  };
  for (const d of diags ?? []) {
    if (d.severity === 'error') {
      out.errors++;
    } else {
      out.warnings++;
    }
    let placed = false;
    if (d.edge && Array.isArray(d.edge) && d.edge.length === 2) {
      const id = edgeId(d.edge as Edge);
      if (edges.has(id)) {
        add(out.edges, id, d);
        placed = true;
      }
    }
    if (d.task && tasks.has(d.task)) {
      // an edge diagnostic that also names a task (self-loop) shows on both
      add(out.tasks, d.task, d);
      const key = taskFieldKey(d.field);
      if (key) {
        const fields = (out.taskFields[d.task] ??= {});
        fields[key] = join(fields[key], d.message);
      }
      placed = true;
    }
    if (!placed) {
      out.general.push(d);
      if (d.field && !d.task && !d.edge) {
        out.pipelineFields[d.field] = join(out.pipelineFields[d.field], d.message);
      }
    }
  }
  return out;
}

/** Where clicking a diagnostic in the list should take the user. */
export function focusTarget(
  d: IDiagnostic
): { kind: 'task'; task: string } | { kind: 'edge'; edge: Edge } | { kind: 'pipeline'; field: string | null } {
  if (d.task) {
    return { kind: 'task', task: d.task };
  }
  if (d.edge && d.edge.length === 2) {
    return { kind: 'edge', edge: d.edge as Edge };
  }
  return { kind: 'pipeline', field: d.field ?? null };
}

/** Diagnostics sorted errors first, then by task, keeping server order otherwise. */
export function sortDiagnostics(diags: IDiagnostic[]): IDiagnostic[] {
  return diags
    .map((d, i) => ({ d, i }))
    .sort((a, b) => (a.d.severity === 'error' ? 0 : 1) - (b.d.severity === 'error' ? 0 : 1) || a.i - b.i)
    .map(x => x.d);
}
