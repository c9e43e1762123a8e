/**
 * Pure edits of a pipeline's DAG.  Every function returns a new pipeline (the
 * input is never changed), so the editor can keep an undo history by value.
 */
import { initialArgs } from './argforms';
import { Edge, IPipeline, IPosition, ITask, ITemplate } from './types';

export const DEFAULT_TASK: Omit<ITask, 'name' | 'template'> = {
  template_version: null,
  label: '',
  args: {},
  cpu: '1',
  memory: '2G',
  gpu: '0',
  volume_mount: '',
  node_selector: '',
  timeout: 0,
  retries: 0,
  skip: false,
  env: {}
};

export function emptyPipeline(name: string, project: string): IPipeline {
  return {
    name,
    project,
    description: '',
    tasks: [],
    edges: [],
    env: {},
    parallelism: null,
    schedule: { enabled: false, cron: null }
  };
}

export const edgeId = (e: Edge): string => `${e[0]}->${e[1]}`;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Is `name` a valid task name (a DNS label of at most 63 characters)? */
export function isValidTaskName(name: string): boolean {
  return name.length <= 63 && DNS_LABEL.test(name);
}

/** A k8s-safe base for task names derived from a template name. */
export function slug(text: string): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
  return (s || 'task').slice(0, 50).replace(/-+$/, '') || 'task';
}

/** `base`, or `base-2`, `base-3`… whichever is not taken. */
export function uniqueName(base: string, taken: Iterable<string>): string {
  const set = new Set(taken);
  const b = slug(base);
  if (!set.has(b)) {
    return b;
  }
  for (let i = 2; ; i++) {
    const candidate = `${b}-${i}`;
    if (!set.has(candidate)) {
      return candidate;
    }
  }
}

export function taskNames(p: IPipeline): string[] {
  return p.tasks.map(t => t.name);
}

export function getTask(p: IPipeline, name: string): ITask | undefined {
  return p.tasks.find(t => t.name === name);
}

/** Add a task made from `template` (its defaults as args) at `position`. */
export function addTask(
  p: IPipeline,
  template: ITemplate,
  position?: IPosition,
  extra: Partial<ITask> = {}
): { pipeline: IPipeline; name: string } {
  const name = uniqueName(extra.name ?? template.name, taskNames(p));
  const task: ITask = {
    ...DEFAULT_TASK,
    args: initialArgs(template),
    env: {},
    ...extra,
    name,
    template: template.name,
    template_version: template.version && template.version !== 'Release' ? template.version : null,
    position: position ? { x: Math.round(position.x), y: Math.round(position.y) } : null
  };
  return { pipeline: { ...p, tasks: [...p.tasks, task] }, name };
}

/** Remove tasks and every edge that touches them. */
export function removeTasks(p: IPipeline, names: Iterable<string>): IPipeline {
  const gone = new Set(names);
  if (!gone.size) {
    return p;
  }
  return {
    ...p,
    tasks: p.tasks.filter(t => !gone.has(t.name)),
    edges: p.edges.filter(([u, d]) => !gone.has(u) && !gone.has(d))
  };
}

export function removeEdges(p: IPipeline, edges: Iterable<Edge>): IPipeline {
  const ids = new Set([...edges].map(edgeId));
  if (!ids.size) {
    return p;
  }
  return { ...p, edges: p.edges.filter(e => !ids.has(edgeId(e))) };
}

/** Does a path lead from `from` to `to` along the edges? */
export function reaches(edges: Edge[], from: string, to: string): boolean {
  const next = new Map<string, string[]>();
  for (const [u, d] of edges) {
    next.set(u, [...(next.get(u) ?? []), d]);
  }
  const seen = new Set<string>();
  const stack = [from];
  while (stack.length) {
    const cur = stack.pop()!;
    if (cur === to) {
      return true;
    }
    if (seen.has(cur)) {
      continue;
    }
    seen.add(cur);
    stack.push(...(next.get(cur) ?? []));
  }
  return false;
}

export type ConnectResult = { ok: true; pipeline: IPipeline } | { ok: false; reason: string };

/** Connect `upstream -> downstream`, refusing self-loops, duplicates and cycles. */
export function connect(p: IPipeline, upstream: string, downstream: string): ConnectResult {
  if (!getTask(p, upstream) || !getTask(p, downstream)) {
    return { ok: false, reason: 'Both ends must be tasks of this pipeline.' };
  }
  if (upstream === downstream) {
    return { ok: false, reason: 'A task cannot depend on itself.' };
  }
  if (p.edges.some(([u, d]) => u === upstream && d === downstream)) {
    return {
      ok: false,
      reason: `${upstream} → ${downstream} is already connected.`
    };
  }
  if (reaches(p.edges, downstream, upstream)) {
    return {
      ok: false,
      reason: `${upstream} → ${downstream} would make a cycle (${downstream} already leads to ${upstream}).`
    };
  }
  return {
    ok: true,
    pipeline: { ...p, edges: [...p.edges, [upstream, downstream]] }
  };
}

export function updateTask(p: IPipeline, name: string, change: Partial<ITask>): IPipeline {
  return {
    ...p,
    tasks: p.tasks.map(t => (t.name === name ? { ...t, ...change, name } : t))
  };
}

export function moveTasks(p: IPipeline, positions: Record<string, IPosition>): IPipeline {
  return {
    ...p,
    tasks: p.tasks.map(t =>
      positions[t.name]
        ? {
            ...t,
            position: {
              x: Math.round(positions[t.name].x),
              y: Math.round(positions[t.name].y)
            }
          }
        : t
    )
  };
}

function renameRefs(value: unknown, from: string, to: string): unknown {
  if (typeof value === 'string') {
    const re = new RegExp(`(\\{\\{\\s*tasks\\.)${from.replace(/[-]/g, '\\-')}(\\.outputs\\.)`, 'g');
    return value.replace(re, `$1${to}$2`);
  }
  if (Array.isArray(value)) {
    return value.map(v => renameRefs(v, from, to));
  }
  return value;
}

export type RenameResult = { ok: true; pipeline: IPipeline } | { ok: false; reason: string };

/** Rename a task; edges and `{{tasks.<old>.outputs.x}}` references follow. */
export function renameTask(p: IPipeline, from: string, to: string): RenameResult {
  if (from === to) {
    return { ok: true, pipeline: p };
  }
  if (!getTask(p, from)) {
    return { ok: false, reason: `There is no task '${from}'.` };
  }
  if (!isValidTaskName(to)) {
    return {
      ok: false,
      reason: 'Use lowercase letters, digits and “-” (at most 63), starting and ending with a letter or digit.'
    };
  }
  if (getTask(p, to)) {
    return { ok: false, reason: `A task named '${to}' already exists.` };
  }
  return {
    ok: true,
    pipeline: {
      ...p,
      tasks: p.tasks.map(t => {
        const args: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(t.args)) {
          args[k] = renameRefs(v, from, to);
        }
        return { ...t, name: t.name === from ? to : t.name, args };
      }),
      edges: p.edges.map(([u, d]) => [u === from ? to : u, d === from ? to : d] as Edge)
    }
  };
}

/** Copy of tasks (with the edges among them) under fresh names, offset on the canvas. */
export function duplicateTasks(
  p: IPipeline,
  names: string[],
  offset: IPosition = { x: 40, y: 40 }
): { pipeline: IPipeline; names: string[] } {
  const taken = new Set(taskNames(p));
  const map = new Map<string, string>();
  const copies: ITask[] = [];
  for (const n of names) {
    const t = getTask(p, n);
    if (!t) {
      continue;
    }
    const name = uniqueName(n, taken);
    taken.add(name);
    map.set(n, name);
    copies.push({
      ...t,
      name,
      args: { ...t.args },
      env: { ...t.env },
      position: t.position ? { x: t.position.x + offset.x, y: t.position.y + offset.y } : null
    });
  }
  const edges = p.edges
    .filter(([u, d]) => map.has(u) && map.has(d))
    .map(([u, d]) => [map.get(u)!, map.get(d)!] as Edge);
  return {
    pipeline: { ...p, tasks: [...p.tasks, ...copies], edges: [...p.edges, ...edges] },
    names: copies.map(c => c.name)
  };
}

/** The pipeline body the API accepts (no id/creator/diagnostics/permissions). */
export function toBody(p: IPipeline): IPipeline {
  const { name, project, description, tasks, edges, env, parallelism, schedule, parameter } = p;
  const body: IPipeline = { name, project, description, tasks, edges, env, parallelism, schedule };
  // Cube Studio's parameter (demo, img) travels untouched, so saving never drops it
  return parameter && Object.keys(parameter).length ? { ...body, parameter } : body;
}

/** Stable comparison for the dirty marker. */
export function samePipeline(a: IPipeline, b: IPipeline): boolean {
  return JSON.stringify(toBody(a)) === JSON.stringify(toBody(b));
}

/** Parse `K=V` lines (blank lines and # comments allowed). */
export function parseEnvLines(text: string): {
  env: Record<string, string>;
  error: string | null;
} {
  const env: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith('#')) {
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) {
      return { env, error: `Line ${i + 1}: '${line}' is not KEY=value.` };
    }
    const key = line.slice(0, eq).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      return { env, error: `Line ${i + 1}: '${key}' is not a valid name.` };
    }
    if (key in env) {
      return { env, error: `Line ${i + 1}: ${key} is given twice.` };
    }
    env[key] = line.slice(eq + 1).trim();
  }
  return { env, error: null };
}

export function formatEnvLines(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
}

/**
 * A task for a file dropped from the file browser: `.py` -> the `python`
 * template's `--script`, `.ipynb` -> the `notebook` template's `--notebook`.
 */
export function fileTaskSpec(path: string): { template: string; args: Record<string, unknown>; name: string } | null {
  const base = path.split('/').pop() ?? path;
  const stem = base.replace(/\.[^.]+$/, '');
  if (/\.py$/i.test(path)) {
    return { template: 'python', args: { '--script': path }, name: stem };
  }
  if (/\.ipynb$/i.test(path)) {
    return { template: 'notebook', args: { '--notebook': path }, name: stem };
  }
  return null;
}

/** A free spot to the right of the existing tasks. */
export function nextFreePosition(p: IPipeline): IPosition {
  const placed = p.tasks.filter(t => t.position);
  if (!placed.length) {
    return { x: 0, y: 0 };
  }
  const maxX = Math.max(...placed.map(t => t.position!.x));
  const minY = Math.min(...placed.map(t => t.position!.y));
  return { x: maxX + 250, y: minY };
}
