/** Text for times and durations in the pipeline views. */

export function duration(start: string | null, end: string | null, now = Date.now()): string {
  if (!start) {
    return '';
  }
  const s = Date.parse(start);
  const e = end ? Date.parse(end) : now;
  if (Number.isNaN(s) || Number.isNaN(e)) {
    return '';
  }
  const secs = Math.max(0, Math.round((e - s) / 1000));
  if (secs < 60) {
    return `${secs}s`;
  }
  const m = Math.floor(secs / 60);
  if (m < 60) {
    return `${m}m ${secs % 60}s`;
  }
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) {
    return '';
  }
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) {
    return iso;
  }
  return d.toLocaleString(undefined, {
    weekday: 'short',
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit'
  });
}

/** 1.5G, 512M… (binary units, like the resource forms). */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) {
    return '';
  }
  const units = ['', 'K', 'M', 'G', 'T'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1).replace(/\.0$/, '')}${units[i]}`;
}
