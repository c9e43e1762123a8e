/** Log directory and start-time texts of the TensorBoard section, the board a tab shows — pure. */
import { IBoard } from './client';

/** A log directory as the API wants it: relative to the server root, no leading './' or '/'. */
export function normaliseLogdir(path: string): string {
  let p = path.trim().replace(/\\/g, '/');
  while (p.startsWith('./')) {
    p = p.slice(2);
  }
  p = p.replace(/^\/+/, '').replace(/\/+$/, '');
  return p || '.';
}

/** "3 min ago" style text for a board's start time. */
export function startedText(iso: string, now: Date = new Date()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) {
    return '';
  }
  const s = Math.max(0, Math.round((now.getTime() - t) / 1000));
  if (s < 60) {
    return 'just now';
  }
  const m = Math.round(s / 60);
  if (m < 60) {
    return `${m} min ago`;
  }
  const h = Math.round(m / 60);
  if (h < 48) {
    return `${h} h ago`;
  }
  return `${Math.round(h / 24)} days ago`;
}

/**
 * The running board a tab shows: the one with its id, else one on the same
 * log directory (started again elsewhere); null when none runs.
 */
export function findBoard(boards: IBoard[], wanted: Pick<IBoard, 'id' | 'logdir'>): IBoard | null {
  const live = boards.filter(b => b.running !== false);
  return live.find(b => b.id === wanted.id) ?? live.find(b => b.logdir === wanted.logdir) ?? null;
}
