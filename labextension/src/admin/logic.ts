/**
 * The admin page's pure logic: filtering and totals of what is running, quota
 * bars, category moves, node label changes and the usage charts' Vega-Lite specs
 * (tested in `__tests__/admin.spec.ts`).
 */
import { VegaLiteSpec } from '../experiments/charts';
import {
  IAdminProject,
  IRunningItem,
  IRunningTotals,
  ITemplateCategory,
  ITotal,
  IUsage,
  IUse,
  KIND_KEYS,
  KindKey,
  NodeLabels,
  ROLE_LABELS,
  SWITCH_LABELS,
  WorkKind
} from './types';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

/** The query of a Lab URL that opens the Admin tab (the hub's admin page sends admins there with it). */
export const OPEN_QUERY = 'cubelab-admin';

/** Whether a Lab address's query (`location.search`) asks for the Admin tab. */
export function asksForAdmin(search: string): boolean {
  return new URLSearchParams(search).has(OPEN_QUERY);
}

// ---------------------------------------------------------------- what is running

export interface IRunningFilter {
  kind: WorkKind | '';
  project: string;
  user: string;
}

export const NO_FILTER: IRunningFilter = { kind: '', project: '', user: '' };

/** The items a filter keeps (the same rule the server applies, for the live list in between polls). */
export function filterRunning(items: IRunningItem[], filter: IRunningFilter): IRunningItem[] {
  return items.filter(
    i =>
      (!filter.kind || i.kind === filter.kind) &&
      (!filter.project || i.project === filter.project) &&
      (!filter.user || i.user === filter.user)
  );
}

const zeroTotal = (): ITotal => ({ count: 0, cpu: 0, memory: 0, gpu: 0 });

function add(total: ITotal, use: IUse): void {
  total.count += 1;
  total.cpu += use.cpu || 0;
  total.memory += use.memory || 0;
  total.gpu += use.gpu || 0;
}

/** Count and resources per project ('(none)' for work of no project) and per user. */
export function runningTotals(items: IRunningItem[]): IRunningTotals & { all: ITotal } {
  const totals = { by_project: {} as Record<string, ITotal>, by_user: {} as Record<string, ITotal>, all: zeroTotal() };
  for (const item of items) {
    const project = item.project ?? '(none)';
    add((totals.by_project[project] ??= zeroTotal()), item.use);
    add((totals.by_user[item.user] ??= zeroTotal()), item.use);
    add(totals.all, item.use);
  }
  return totals;
}

/** Totals as table rows, largest use first (GPU, then CPU, then count). */
export function totalRows(by: Record<string, ITotal>): (ITotal & { key: string })[] {
  return Object.entries(by)
    .map(([key, t]) => ({ key, ...t }))
    .sort((a, b) => b.gpu - a.gpu || b.cpu - a.cpu || b.count - a.count || a.key.localeCompare(b.key));
}

// ---------------------------------------------------------------- quotas

export type Resource = 'cpu' | 'memory' | 'gpu';
export const RESOURCES: Resource[] = ['cpu', 'memory', 'gpu'];

export interface IBar {
  resource: Resource;
  used: number;
  /** null: no quota for this resource */
  limit: number | null;
  /** the segments by kind of work, each a fraction of the bar (limit, or use without a limit) */
  segments: { kind: KindKey; value: number; fraction: number }[];
  over: boolean;
}

/** One bar per resource: the project's use by kind against its quota. */
export function quotaBars(project: IAdminProject): IBar[] {
  return RESOURCES.map(resource => {
    const quota = project.quota?.[resource] ?? null;
    const limit = quota !== null && quota > 0 ? quota : null;
    const used = project.use[resource] || 0;
    const scale = Math.max(limit ?? 0, used) || 1;
    const segments = KIND_KEYS.map(kind => {
      const value = project.by_kind?.[kind]?.[resource] || 0;
      return { kind, value, fraction: value / scale };
    }).filter(s => s.value > 0);
    return { resource, used, limit, segments, over: limit !== null && used > limit };
  });
}

export function formatAmount(resource: Resource, value: number): string {
  if (resource === 'memory') {
    return formatBytes(value);
  }
  return String(Math.round(value * 100) / 100);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Math.round(v * 10) / 10} ${units[i]}`;
}

// ---------------------------------------------------------------- categories

export const CATEGORY_INDEX_MAX = 1_000_000;

/** The palette's order: index, then name (as the server sorts). */
export function sortCategories(categories: ITemplateCategory[]): ITemplateCategory[] {
  return [...categories].sort((a, b) => a.index - b.index || a.name.localeCompare(b.name));
}

/**
 * The index changes that move category `name` one place up (-1) or down (+1)
 * in the palette: the two neighbours swap indexes; where they share one, the
 * categories from there on are numbered upwards (only changed ones are returned).
 */
export function moveCategory(
  categories: ITemplateCategory[],
  name: string,
  step: -1 | 1
): { name: string; index: number }[] {
  const order = sortCategories(categories);
  const at = order.findIndex(c => c.name === name);
  const to = at + step;
  if (at < 0 || to < 0 || to >= order.length) {
    return [];
  }
  const [a, b] = [order[at], order[to]];
  if (a.index !== b.index) {
    return [
      { name: a.name, index: b.index },
      { name: b.name, index: a.index }
    ];
  }
  const moved = [...order];
  moved[at] = b;
  moved[to] = a;
  const changes: { name: string; index: number }[] = [];
  let previous = -1;
  for (let i = 0; i < moved.length; i++) {
    const c = moved[i];
    const index = i < Math.min(at, to) ? c.index : Math.max(c.index, previous + 1);
    if (index !== c.index) {
      changes.push({ name: c.name, index: Math.min(index, CATEGORY_INDEX_MAX) });
    }
    previous = index;
  }
  return changes;
}

// ---------------------------------------------------------------- node labels

/** Kubernetes label values: up to 63 characters, alphanumerics with '-', '_' and '.' inside. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * What to send to change a node's role labels from `before` to `after`:
 * changed labels with their value, removed ones as null; and errors by label.
 */
export function labelPatch(
  before: NodeLabels,
  after: NodeLabels
): { labels: Record<string, string | null>; errors: Record<string, string> } {
  const labels: Record<string, string | null> = {};
  const errors: Record<string, string> = {};
  for (const key of ROLE_LABELS) {
    const old = before[key] ?? null;
    let value = after[key] ?? null;
    if (value !== null) {
      value = value.trim();
      if (value === '') {
        value = null;
      }
    }
    if (value !== null && SWITCH_LABELS.includes(key) && value !== 'true') {
      errors[key] = `'${value}' is not a switch value (accepted: "true", or unset)`;
      continue;
    }
    if (value !== null && (value.length > 63 || !LABEL_VALUE.test(value))) {
      errors[key] =
        `'${value}' is not a label value (accepted: up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)`;
      continue;
    }
    if (value !== old) {
      labels[key] = value;
    }
  }
  return { labels, errors };
}

// ---------------------------------------------------------------- usage charts

export type UsageMetric = 'cpu_hours' | 'gpu_hours';

/**
 * The series with the API's "others" (the projects or users beyond its `top`,
 * summed) as one more, named so no project or user name can be confused with it.
 */
export function withOthers(usage: IUsage): IUsage {
  if (!usage.others || usage.others.keys <= 0) {
    return usage;
  }
  const n = usage.others.keys;
  const others = {
    key: `(${n} other${n === 1 ? '' : 's'})`,
    cpu_hours: usage.others.cpu_hours,
    gpu_hours: usage.others.gpu_hours
  };
  return { ...usage, series: [...usage.series, others] };
}

/** A stacked bar chart of one metric per day, one colour per project or user. */
export function usageSpec(usage: IUsage, metric: UsageMetric, by: 'project' | 'user'): VegaLiteSpec {
  const values: { day: string; key: string; hours: number }[] = [];
  for (const series of usage.series) {
    const hours = series[metric] ?? [];
    usage.days.forEach((day, i) => {
      const h = hours[i] ?? 0;
      if (h > 0) {
        values.push({ day, key: series.key, hours: Math.round(h * 1000) / 1000 });
      }
    });
  }
  const what = metric === 'cpu_hours' ? 'CPU hours' : 'GPU hours';
  return {
    $schema: SCHEMA,
    description: `${what} per ${by} and day over the last ${usage.days.length} days`,
    width: 560,
    height: 220,
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'day', type: 'ordinal', title: 'day', sort: usage.days, scale: { domain: usage.days } },
      y: { field: 'hours', type: 'quantitative', title: what, stack: 'zero' },
      color: { field: 'key', type: 'nominal', title: by },
      tooltip: [
        { field: 'day', type: 'ordinal' },
        { field: 'key', type: 'nominal', title: by },
        { field: 'hours', type: 'quantitative', title: what }
      ]
    }
  };
}

/** Each series' total of a metric over the period, largest first. */
export function usageTotals(usage: IUsage, metric: UsageMetric): { key: string; hours: number }[] {
  return usage.series
    .map(s => ({ key: s.key, hours: (s[metric] ?? []).reduce((a, b) => a + (b || 0), 0) }))
    .sort((a, b) => b.hours - a.hours || a.key.localeCompare(b.key));
}
