/**
 * A client-side preview of a 5-field cron schedule (minute hour day-of-month
 * month day-of-week; lists, ranges, steps, month and day names; 7 = Sunday;
 * when both day fields are restricted a day matching either runs, as in
 * cron and croniter).  The server (croniter) stays the authority; this only
 * lets the editor show the next run times while the user types.
 */

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface IFieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  namesFrom?: number;
}

const FIELDS: IFieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, namesFrom: 1 },
  { name: 'day of week', min: 0, max: 7, names: DAYS, namesFrom: 0 }
];

export interface ICron {
  minutes: number[];
  hours: number[];
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  /** true when the field was '*' (or '*' with a step covering everything) */
  anyDay: boolean;
  anyWeekday: boolean;
}

export class CronError extends Error {}

function value(token: string, f: IFieldSpec): number {
  const t = token.toLowerCase();
  if (f.names) {
    const i = f.names.indexOf(t);
    if (i >= 0) {
      return i + (f.namesFrom ?? 0);
    }
  }
  if (!/^\d+$/.test(t)) {
    throw new CronError(`${f.name}: '${token}' is not a number`);
  }
  const n = parseInt(t, 10);
  if (n < f.min || n > f.max) {
    throw new CronError(`${f.name}: ${n} is outside ${f.min}-${f.max}`);
  }
  return n;
}

function parseField(text: string, f: IFieldSpec): { values: Set<number>; star: boolean } {
  const values = new Set<number>();
  let star = false;
  for (const part of text.split(',')) {
    if (!part) {
      throw new CronError(`${f.name}: empty list item in '${text}'`);
    }
    const [range, stepText, extra] = part.split('/');
    if (extra !== undefined) {
      throw new CronError(`${f.name}: '${part}' has two steps`);
    }
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || parseInt(stepText, 10) === 0) {
        throw new CronError(`${f.name}: step '${stepText}' is not a positive number`);
      }
      step = parseInt(stepText, 10);
    }
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = f.min;
      hi = f.max === 7 ? 6 : f.max;
      if (step === 1) {
        star = true;
      }
    } else if (range.includes('-')) {
      const [a, b] = range.split('-');
      lo = value(a, f);
      hi = value(b, f);
      if (lo > hi) {
        throw new CronError(`${f.name}: range '${range}' goes backwards`);
      }
    } else {
      lo = value(range, f);
      hi = stepText !== undefined ? (f.max === 7 ? 6 : f.max) : lo;
    }
    for (let v = lo; v <= hi; v += step) {
      values.add(f.max === 7 && v === 7 ? 0 : v);
    }
  }
  return { values, star };
}

export function parseCron(expr: string): ICron {
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5 || !parts[0]) {
    throw new CronError(
      `'${expr.trim()}' has ${parts[0] ? parts.length : 0} fields, not 5 (minute hour day-of-month month day-of-week)`
    );
  }
  const [mi, h, dom, mon, dow] = parts.map((p, i) => parseField(p, FIELDS[i]));
  return {
    minutes: [...mi.values].sort((a, b) => a - b),
    hours: [...h.values].sort((a, b) => a - b),
    days: dom.values,
    months: mon.values,
    weekdays: dow.values,
    anyDay: dom.star,
    anyWeekday: dow.star
  };
}

/** Offset (ms) of `timeZone` from UTC at instant `t`. */
function tzOffset(t: number, timeZone: string): number {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric'
  });
  const p: Record<string, number> = {};
  for (const part of fmt.formatToParts(new Date(t))) {
    if (part.type !== 'literal') {
      p[part.type] = parseInt(part.value, 10);
    }
  }
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wall - Math.floor(t / 1000) * 1000;
}

function dayMatches(c: ICron, y: number, m: number, d: number): boolean {
  if (!c.months.has(m + 1)) {
    return false;
  }
  const dow = new Date(Date.UTC(y, m, d)).getUTCDay();
  const domOk = c.days.has(d);
  const dowOk = c.weekdays.has(dow);
  if (c.anyDay && c.anyWeekday) {
    return true;
  }
  if (c.anyDay) {
    return dowOk;
  }
  if (c.anyWeekday) {
    return domOk;
  }
  return domOk || dowOk;
}

/**
 * The next `count` times (as Dates) after `from` when `expr` fires in
 * `timeZone` (IANA name, default UTC).  Throws CronError for a bad expression.
 */
export function nextTimes(expr: string, from: Date, count = 5, timeZone = 'UTC'): Date[] {
  const c = parseCron(expr);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new CronError(`'${timeZone}' is not a time zone`);
  }
  const out: Date[] = [];
  const start = from.getTime();
  // walk wall-clock days in the zone, starting the day before (offsets)
  const wallNow = start + tzOffset(start, timeZone);
  const d0 = new Date(wallNow);
  const y = d0.getUTCFullYear();
  const m = d0.getUTCMonth();
  const d = d0.getUTCDate() - 1;
  for (let i = 0; i < 366 * 5 && out.length < count; i++) {
    const day = new Date(Date.UTC(y, m, d + i));
    const [yy, mm, dd] = [day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate()];
    if (!dayMatches(c, yy, mm, dd)) {
      continue;
    }
    for (const h of c.hours) {
      for (const mi of c.minutes) {
        const wall = Date.UTC(yy, mm, dd, h, mi);
        // convert wall time to an instant with the offset around that time
        let t = wall - tzOffset(wall, timeZone);
        t = wall - tzOffset(t, timeZone);
        if (t > start && out.length < count) {
          if (!out.some(x => x.getTime() === t)) {
            out.push(new Date(t));
          }
        }
      }
    }
  }
  return out.sort((a, b) => a.getTime() - b.getTime()).slice(0, count);
}
