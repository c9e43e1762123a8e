/**
 * Where a new task goes on the canvas: never on top of another task (a drop
 * is nudged to the nearest free spot), and for keyboard adds, inside the part
 * of the canvas the user sees.
 */
import { IPosition } from './types';

export interface ISize {
  width: number;
  height: number;
}

export interface IRect extends IPosition, ISize {}

/** A task node's size on the canvas (`.cl-TaskNode`), for tasks not measured yet. */
export const NODE_SIZE: ISize = { width: 180, height: 56 };

/** Space kept between two tasks. */
const MARGIN = 16;

function overlaps(a: IRect, b: IRect): boolean {
  return (
    a.x < b.x + b.width + MARGIN &&
    b.x < a.x + a.width + MARGIN &&
    a.y < b.y + b.height + MARGIN &&
    b.y < a.y + a.height + MARGIN
  );
}

function contains(outer: IRect, inner: IRect): boolean {
  return (
    inner.x >= outer.x &&
    inner.y >= outer.y &&
    inner.x + inner.width <= outer.x + outer.width &&
    inner.y + inner.height <= outer.y + outer.height
  );
}

/**
 * `wanted` if a node of `size` placed there overlaps none of `taken`, else the
 * nearest free spot on rings of growing distance around it (below and to the
 * right first, so a row of drops reads naturally).  With `within`, spots
 * inside it come first; outside it only when it has no free room.
 */
export function freeSpot(wanted: IPosition, taken: IRect[], size: ISize = NODE_SIZE, within?: IRect): IPosition {
  if (within) {
    const inside = search(wanted, taken, size, p => contains(within, p));
    if (inside) {
      return inside;
    }
  }
  return search(wanted, taken, size, () => true) ?? { x: Math.round(wanted.x), y: Math.round(wanted.y) };
}

function search(wanted: IPosition, taken: IRect[], size: ISize, allowed: (r: IRect) => boolean): IPosition | null {
  const at = (p: IPosition) => ({ x: Math.round(p.x), y: Math.round(p.y), ...size });
  const free = (p: IPosition) => allowed(at(p)) && !taken.some(t => overlaps(at(p), t));
  const spot = (p: IPosition) => ({ x: at(p).x, y: at(p).y });
  if (free(wanted)) {
    return spot(wanted);
  }
  const stepX = size.width + MARGIN;
  const stepY = size.height + MARGIN;
  for (let ring = 1; ring <= 50; ring++) {
    const candidates: IPosition[] = [];
    for (let dy = -ring; dy <= ring; dy++) {
      for (let dx = -ring; dx <= ring; dx++) {
        if (Math.max(Math.abs(dx), Math.abs(dy)) === ring) {
          candidates.push({ x: wanted.x + dx * stepX, y: wanted.y + dy * stepY });
        }
      }
    }
    const dist = (p: IPosition) => Math.hypot((p.x - wanted.x) / stepX, (p.y - wanted.y) / stepY);
    // nearest first; ties: below before above, right before left
    candidates.sort((a, b) => dist(a) - dist(b) || b.y - a.y || b.x - a.x);
    const found = candidates.find(free);
    if (found) {
      return spot(found);
    }
  }
  return null;
}

/**
 * The top-left corner for a node centred in `view` (the visible part of the
 * canvas in flow coordinates), nudged off other tasks to the nearest free
 * spot inside the view (outside only when the view is full).
 */
export function visibleSpot(view: IRect, taken: IRect[], size: ISize = NODE_SIZE): IPosition {
  const centre = { x: view.x + (view.width - size.width) / 2, y: view.y + (view.height - size.height) / 2 };
  return freeSpot(centre, taken, size, view);
}
