import { describe, expect, it } from 'vitest';
import { IntervalAggregator } from './aggregate.ts';

/** 2024-05-01 08:00 China Standard Time. */
const T0 = Date.UTC(2024, 4, 1, 0, 0, 0);
const MIN = 60_000;
const HOUR = 3_600_000;

const aggregator = (latenessMs = 0) => new IntervalAggregator({ kinds: ['minute', 'hour', 'day'], latenessMs, utcOffsetMinutes: 480 });

describe('IntervalAggregator', () => {
  it('closes a minute once event time passes its end, with Avg/Min/Max of its good readings and Cou for flow', () => {
    const agg = aggregator();
    agg.add('w01018', 10, 'good', T0);
    agg.add('w01018', 20, 'good', T0 + 30_000);
    agg.add('w01018', 500, 'uncertain', T0 + 40_000);
    agg.add('w00000', 100, 'good', T0 + 10_000);
    agg.add('w00000', 200, 'good', T0 + 50_000);
    expect(agg.advance()).toEqual([]);
    agg.add('w01018', 1, 'good', T0 + MIN);
    const [minute, ...rest] = agg.advance();
    expect(rest).toEqual([]);
    expect(minute).toMatchObject({ kind: 'minute', cn: '2051', start: T0, end: T0 + MIN });
    expect(minute!.pollutants).toEqual([
      { code: 'w00000', avg: 150, min: 100, max: 200, cou: 9, flag: 'N', count: 2 },
      { code: 'w01018', avg: 15, min: 10, max: 20, flag: 'N', count: 2 },
    ]);
  });

  it('flags an interval of only uncertain readings M and one without usable values D', () => {
    const agg = aggregator();
    agg.add('w01018', 30, 'uncertain', T0);
    agg.add('w21003', null, 'bad', T0);
    agg.add('w01001', 7, 'bad', T0);
    agg.add('w01018', 1, 'good', T0 + MIN);
    const [minute] = agg.advance();
    expect(minute!.pollutants).toEqual([
      { code: 'w01001', avg: null, min: null, max: null, flag: 'D', count: 0 },
      { code: 'w01018', avg: 30, min: 30, max: 30, flag: 'M', count: 1 },
      { code: 'w21003', avg: null, min: null, max: null, flag: 'D', count: 0 },
    ]);
  });

  it('aligns hours and days to China Standard Time and closes minute, hour, day in that order', () => {
    const agg = aggregator();
    // 23:59 CST on 1 May, then 00:00 CST on 2 May.
    const lastMinute = T0 + 16 * HOUR - MIN;
    agg.add('w01018', 5, 'good', lastMinute);
    agg.add('w01018', 7, 'good', lastMinute + MIN);
    const closed = agg.advance();
    expect(closed.map((c) => [c.cn, c.start])).toEqual([
      ['2051', lastMinute],
      ['2061', T0 + 15 * HOUR],
      ['2031', T0 - 8 * HOUR],
    ]);
    expect(closed[2]!.pollutants[0]).toMatchObject({ avg: 5, count: 1 });
  });

  it('waits the allowed lateness, then counts readings for closed intervals as late instead of resending', () => {
    const agg = aggregator(30_000);
    agg.add('w01018', 10, 'good', T0);
    agg.add('w01018', 10, 'good', T0 + MIN + 10_000);
    expect(agg.advance()).toEqual([]);
    agg.add('w01018', 20, 'good', T0 + 50_000); // late but within the lateness: still counted
    agg.add('w01018', 10, 'good', T0 + MIN + 30_000);
    const [minute] = agg.advance();
    expect(minute!.pollutants[0]).toMatchObject({ avg: 15, count: 2 });
    expect(agg.add('w01018', 99, 'good', T0 + 1000)).toBe(true); // the hour and day are still open
    expect(agg.closed.minute).toBe(T0 + MIN);
    const restarted = new IntervalAggregator({ kinds: ['minute'], latenessMs: 0, utcOffsetMinutes: 480, closedUpTo: agg.closed });
    expect(restarted.add('w01018', 99, 'good', T0 + 1000)).toBe(false);
    expect(restarted.late).toBe(1);
  });

  it('keeps the newest value per code for real-time data', () => {
    const agg = aggregator();
    agg.add('w01018', 10, 'good', T0 + 5000);
    agg.add('w01018', 11, 'uncertain', T0 + 1000);
    expect(agg.latest().get('w01018')).toEqual({ value: 10, quality: 'good', ts: T0 + 5000 });
  });
});
