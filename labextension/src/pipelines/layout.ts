/**
 * Layered auto-layout of a DAG (left to right, as a task's input handle is on
 * its left and its output on its right): each task goes to the layer after
 * its deepest upstream, tasks in a layer are ordered by the mean position of
 * their neighbours (a few up/down sweeps), then spaced evenly.  Each layer
 * starts right of the widest task of the one before (measured sizes when
 * given), so every edge runs from left to right and none loops around.
 * Linear in nodes + edges per sweep; cycles (invalid drafts) are tolerated.
 */
import { Edge, IPosition } from './types';

export interface ILayoutOptions {
  nodeWidth?: number;
  nodeHeight?: number;
  gapX?: number;
  gapY?: number;
  sweeps?: number;
  /** measured sizes of the tasks (the rest have nodeWidth x nodeHeight) */
  sizes?: Record<string, { width?: number; height?: number } | undefined>;
}

export function layers(nodes: string[], edges: Edge[]): string[][] {
  const known = new Set(nodes);
  const ups = new Map<string, string[]>(nodes.map(n => [n, []]));
  const downs = new Map<string, string[]>(nodes.map(n => [n, []]));
  for (const [u, d] of edges) {
    if (known.has(u) && known.has(d) && u !== d) {
      ups.get(d)!.push(u);
      downs.get(u)!.push(d);
    }
  }
  // Kahn's order; nodes left on a cycle are appended in input order
  const indeg = new Map(nodes.map(n => [n, ups.get(n)!.length]));
  const queue = nodes.filter(n => indeg.get(n) === 0);
  const order: string[] = [];
  const placed = new Set<string>();
  while (queue.length) {
    const n = queue.shift()!;
    order.push(n);
    placed.add(n);
    for (const d of downs.get(n)!) {
      indeg.set(d, indeg.get(d)! - 1);
      if (indeg.get(d) === 0) {
        queue.push(d);
      }
    }
  }
  for (const n of nodes) {
    if (!placed.has(n)) {
      order.push(n);
    }
  }
  const depth = new Map<string, number>();
  for (const n of order) {
    let d = 0;
    for (const u of ups.get(n)!) {
      if (depth.has(u)) {
        d = Math.max(d, depth.get(u)! + 1);
      }
    }
    depth.set(n, d);
  }
  const result: string[][] = [];
  for (const n of order) {
    const d = depth.get(n)!;
    (result[d] ??= []).push(n);
  }
  return result.filter(Boolean);
}

export function autoLayout(nodes: string[], edges: Edge[], options: ILayoutOptions = {}): Record<string, IPosition> {
  const { nodeWidth = 180, gapX = 70, gapY = 28, sweeps = 4, sizes = {} } = options;
  const width = (n: string) => sizes[n]?.width || nodeWidth;
  const nodeHeight = Math.max(options.nodeHeight ?? 56, ...nodes.map(n => sizes[n]?.height || 0));
  const ls = layers(nodes, edges);
  const ups = new Map<string, string[]>(nodes.map(n => [n, []]));
  const downs = new Map<string, string[]>(nodes.map(n => [n, []]));
  for (const [u, d] of edges) {
    if (ups.has(d) && downs.has(u)) {
      ups.get(d)!.push(u);
      downs.get(u)!.push(d);
    }
  }
  const index = new Map<string, number>();
  const reindex = () => ls.forEach(layer => layer.forEach((n, i) => index.set(n, i)));
  reindex();
  const bary = (n: string, neigh: Map<string, string[]>) => {
    const ns = neigh.get(n)!.filter(m => index.has(m));
    if (!ns.length) {
      return index.get(n)!;
    }
    return ns.reduce((s, m) => s + index.get(m)!, 0) / ns.length;
  };
  for (let s = 0; s < sweeps; s++) {
    const down = s % 2 === 0;
    const range = down
      ? ls.map((_, i) => i).slice(1)
      : ls
          .map((_, i) => i)
          .reverse()
          .slice(1);
    for (const li of range) {
      const neigh = down ? ups : downs;
      const keyed = ls[li].map(n => ({ n, k: bary(n, neigh) }));
      keyed.sort((a, b) => a.k - b.k);
      ls[li] = keyed.map(x => x.n);
      ls[li].forEach((n, i) => index.set(n, i));
    }
  }
  const tallest = Math.max(0, ...ls.map(l => l.length));
  const positions: Record<string, IPosition> = {};
  let x = 0;
  ls.forEach(layer => {
    const offset = ((tallest - layer.length) * (nodeHeight + gapY)) / 2;
    layer.forEach((n, i) => {
      positions[n] = {
        x: Math.round(x),
        y: Math.round(offset + i * (nodeHeight + gapY))
      };
    });
    x += Math.max(...layer.map(width)) + gapX;
  });
  return positions;
}
