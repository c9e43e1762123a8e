import { CronError, nextTimes, parseCron } from '../pipelines/cron';

const iso = (ds: Date[]) => ds.map(d => d.toISOString().slice(0, 16));
const FROM = new Date('2026-11-22T08:30:00Z'); // a Sunday

describe('cron preview', () => {
  it('parses lists, ranges, steps and names', () => {
    const c = parseCron('*/15 9-17/4 1,15 jan-mar MON-FRI');
    expect(c.minutes).toEqual([0, 15, 30, 45]);
    expect(c.hours).toEqual([9, 13, 17]);
    expect([...c.days]).toEqual([1, 15]);
    expect([...c.months]).toEqual([1, 2, 3]);
    expect([...c.weekdays].sort()).toEqual([1, 2, 3, 4, 5]);
    expect(parseCron('0 0 * * 7').weekdays.has(0)).toBe(true);
    expect(parseCron('5/20 * * * *').minutes).toEqual([5, 25, 45]);
  });

  it('refuses bad expressions with the field named', () => {
    expect(() => parseCron('* * * *')).toThrow(/4 fields, not 5/);
    expect(() => parseCron('')).toThrow(/0 fields/);
    expect(() => parseCron('61 * * * *')).toThrow(/minute: 61 is outside 0-59/);
    expect(() => parseCron('* 5-2 * * *')).toThrow(/hour: range '5-2' goes backwards/);
    expect(() => parseCron('*/0 * * * *')).toThrow(CronError);
    expect(() => parseCron('* * * foo *')).toThrow(/month: 'foo' is not a number/);
    expect(() => parseCron('1,,2 * * * *')).toThrow(/empty list item/);
  });

  it('lists the next daily times', () => {
    expect(iso(nextTimes('0 2 * * *', FROM))).toEqual([
      '2026-11-23T02:00',
      '2026-11-24T02:00',
      '2026-11-25T02:00',
      '2026-11-26T02:00',
      '2026-11-27T02:00'
    ]);
  });

  it('steps within the hour, strictly after now', () => {
    expect(iso(nextTimes('*/15 * * * *', FROM, 3))).toEqual([
      '2026-11-22T08:45',
      '2026-11-22T09:00',
      '2026-11-22T09:15'
    ]);
  });

  it('uses weekdays and OR-s the two day fields when both are set', () => {
    expect(iso(nextTimes('30 9 * * mon-fri', FROM, 2))).toEqual(['2026-11-23T09:30', '2026-11-24T09:30']);
    // 1st of the month or a Friday
    expect(iso(nextTimes('0 0 1 * fri', FROM, 3))).toEqual([
      '2026-11-27T00:00',
      '2026-12-01T00:00',
      '2026-12-04T00:00'
    ]);
  });

  it('finds rare dates (29 February)', () => {
    expect(iso(nextTimes('0 12 29 2 *', FROM, 1))).toEqual(['2028-02-29T12:00']);
  });

  it('works in other time zones, across daylight saving time', () => {
    // 02:00 in Shanghai (UTC+8) is 18:00 UTC the day before
    expect(iso(nextTimes('0 2 * * *', FROM, 1, 'Asia/Shanghai'))).toEqual(['2026-11-22T18:00']);
    // New York: 09:00 is 14:00 UTC in winter, 13:00 UTC in summer
    expect(iso(nextTimes('0 9 1 * *', new Date('2027-02-15T00:00:00Z'), 2, 'America/New_York'))).toEqual([
      '2027-03-01T14:00',
      '2027-04-01T13:00'
    ]);
    expect(() => nextTimes('0 2 * * *', FROM, 1, 'Mars/Base')).toThrow(/not a time zone/);
  });
});
