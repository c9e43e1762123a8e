/** Expiry texts of the "This server" section — pure. */

/** "in 2 days 3 h", "in 45 min", "expired"; '' without an expiry. */
export function expiresText(iso: string | null, now: Date = new Date()): string {
  if (!iso) {
    return '';
  }
  const t = Date.parse(iso);
  if (Number.isNaN(t)) {
    return '';
  }
  const mins = Math.floor((t - now.getTime()) / 60000);
  if (mins <= 0) {
    return 'expired';
  }
  if (mins < 60) {
    return `in ${mins} min`;
  }
  const hours = Math.floor(mins / 60);
  if (hours < 24) {
    return `in ${hours} h ${mins % 60} min`;
  }
  const days = Math.floor(hours / 24);
  return `in ${days} day${days === 1 ? '' : 's'} ${hours % 24} h`;
}

/** Is the expiry close enough to warn (under `hours`, default 12)? */
export function expiresSoon(iso: string | null, now: Date = new Date(), hours = 12): boolean {
  if (!iso) {
    return false;
  }
  const t = Date.parse(iso);
  return !Number.isNaN(t) && t - now.getTime() < hours * 3600 * 1000;
}
