/**
 * Vega-Lite specs of the experiment view: intermediate-result curves per
 * trial and a parallel-coordinates view of parameters against the metric.
 *
 * They are drawn by JupyterLab's own Vega renderer
 * (`@jupyterlab/vega5-extension`, which registers Vega 5 and Vega-Lite
 * v3/v4/v5 MIME types in JupyterLab 4.6) through `IRenderMimeRegistry`, so the
 * plugin ships no charting bundle of its own and the charts follow the theme.
 */
import { IMetricPoint, ITrial } from './client';
import { formatValue } from './trials';

/** The MIME type the renderer is asked for. */
export const VEGALITE_MIME = 'application/vnd.vegalite.v5+json';
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
/** The parallel coordinates' vertical scale: every axis places its values in 0..1. */
const POSITION = { domain: [0, 1] };

export type VegaLiteSpec = Record<string, unknown>;

/** Trials are labelled by their seq: `#3`. */
export const trialLabel = (seq: number): string => `#${seq}`;

/**
 * One line per trial: the intermediate results by sequence; the best
 * trial's line is drawn thicker.  `seqOf` maps a trial id to its seq where a
 * point's own `seq` is missing.
 */
export function curvesSpec(
  curves: Record<string, IMetricPoint[]>,
  options: { metric: string; bestTrialId?: string | null; seqOf?: (trialId: string) => number | undefined }
): VegaLiteSpec {
  const values: Record<string, unknown>[] = [];
  for (const [trialId, points] of Object.entries(curves)) {
    for (const p of points) {
      const seq = p.seq ?? options.seqOf?.(trialId) ?? 0;
      values.push({
        trial: trialLabel(seq),
        seq,
        sequence: p.sequence,
        value: p.value,
        best: trialId === options.bestTrialId
      });
    }
  }
  values.sort((a, b) => (a.seq as number) - (b.seq as number) || (a.sequence as number) - (b.sequence as number));
  return {
    $schema: SCHEMA,
    description: `Intermediate ${options.metric} per trial`,
    width: 480,
    height: 240,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'sequence', type: 'quantitative', title: 'step', axis: { tickMinStep: 1 } },
      y: { field: 'value', type: 'quantitative', title: options.metric, scale: { zero: false } },
      color: { field: 'trial', type: 'nominal', title: 'trial', sort: { field: 'seq' } },
      strokeWidth: { condition: { test: 'datum.best', value: 4 }, value: 1.5 },
      tooltip: [
        { field: 'trial', type: 'nominal' },
        { field: 'sequence', type: 'quantitative', title: 'step' },
        { field: 'value', type: 'quantitative', title: options.metric }
      ]
    }
  };
}

export interface IAxis {
  name: string;
  /** numeric axes are scaled min..max; the others place each distinct value evenly */
  numeric: boolean;
  ticks: { pos: number; label: string }[];
  position: (value: unknown) => number | null;
}

/** An axis of the parallel coordinates for one dimension's values, positions in 0..1. */
export function axisFor(name: string, values: unknown[]): IAxis {
  const present = values.filter(v => v !== undefined && v !== null);
  const numeric = present.length > 0 && present.every(v => typeof v === 'number' && Number.isFinite(v));
  if (numeric) {
    const nums = present as number[];
    const min = Math.min(...nums);
    const max = Math.max(...nums);
    const position = (v: unknown) =>
      typeof v === 'number' && Number.isFinite(v) ? (max === min ? 0.5 : (v - min) / (max - min)) : null;
    const ticks =
      max === min
        ? [{ pos: 0.5, label: formatValue(min) }]
        : [
            { pos: 0, label: formatValue(min) },
            { pos: 1, label: formatValue(max) }
          ];
    return { name, numeric, ticks, position };
  }
  const labels = [...new Set(present.map(formatValue))].sort((a, b) =>
    a.localeCompare(b, undefined, { numeric: true })
  );
  const at = (i: number) => (labels.length === 1 ? 0.5 : i / (labels.length - 1));
  return {
    name,
    numeric,
    ticks: labels.map((label, i) => ({ pos: at(i), label })),
    position: v => {
      if (v === undefined || v === null) {
        return null;
      }
      const i = labels.indexOf(formatValue(v));
      return i < 0 ? null : at(i);
    }
  };
}

/**
 * Parallel coordinates: one axis per parameter and a last one for the metric,
 * one line per trial with a final value, coloured by that value.
 */
export function parallelSpec(
  trials: ITrial[],
  options: { metric: string; parameters: string[]; bestTrialId?: string | null }
): VegaLiteSpec {
  const done = trials.filter(t => typeof t.final_value === 'number' && Number.isFinite(t.final_value));
  const metricAxis = `${options.metric} (metric)`;
  const dims = [...options.parameters, metricAxis];
  const axes = dims.map((d, i) =>
    axisFor(
      d,
      done.map(t => (i === dims.length - 1 ? t.final_value : t.parameters?.[d]))
    )
  );
  const lines: Record<string, unknown>[] = [];
  for (const t of done) {
    axes.forEach((axis, i) => {
      const raw = i === dims.length - 1 ? t.final_value : t.parameters?.[axis.name];
      const pos = axis.position(raw);
      if (pos === null) {
        return;
      }
      lines.push({
        trial: trialLabel(t.seq),
        seq: t.seq,
        dimension: axis.name,
        pos,
        label: formatValue(raw),
        metric: t.final_value,
        best: t.id === options.bestTrialId
      });
    });
  }
  const ticks = axes.flatMap(a => a.ticks.map(tk => ({ dimension: a.name, pos: tk.pos, label: tk.label })));
  const x = { field: 'dimension', type: 'nominal', sort: dims, title: null, axis: { labelAngle: 0, orient: 'top' } };
  return {
    $schema: SCHEMA,
    description: `Parameters against ${options.metric}`,
    width: Math.max(320, 130 * dims.length),
    height: 260,
    layer: [
      {
        data: { values: dims.map(d => ({ dimension: d })) },
        mark: { type: 'rule', color: '#999' },
        // every layer shares the one y scale; a layer with an axis of its own here
        // makes Vega-Lite 5 fail while merging the layers' axis titles
        encoding: { x, y: { datum: 0, type: 'quantitative', axis: null, scale: POSITION }, y2: { datum: 1 } }
      },
      {
        data: { values: lines },
        mark: { type: 'line', opacity: 0.8 },
        encoding: {
          x,
          y: { field: 'pos', type: 'quantitative', axis: null, scale: POSITION },
          detail: { field: 'trial', type: 'nominal' },
          // the last axis is the metric already; a gradient legend of a layered chart
          // fails to draw in Vega 5 (its scale is not found in the layer's scope)
          color: { field: 'metric', type: 'quantitative', title: options.metric, legend: null },
          strokeWidth: { condition: { test: 'datum.best', value: 4 }, value: 1.5 },
          tooltip: [
            { field: 'trial', type: 'nominal' },
            { field: 'dimension', type: 'nominal', title: 'axis' },
            { field: 'label', type: 'nominal', title: 'value' },
            { field: 'metric', type: 'quantitative', title: options.metric }
          ]
        }
      },
      {
        data: { values: ticks },
        mark: { type: 'text', align: 'left', dx: 4, fontSize: 10 },
        encoding: {
          x,
          y: { field: 'pos', type: 'quantitative', axis: null, scale: POSITION },
          text: { field: 'label' }
        }
      }
    ]
  };
}
