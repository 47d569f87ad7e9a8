import { describe, expect, it } from 'vitest';
import { IntervalAggregator } from './aggregate.ts';

/** 2024-05-01 08:00 China Standard Time. */
const T0 = Date.UTC(2024, 4, 1, 0, 0, 0);
const MIN = 60_000;
const HOUR = 3_600_000;

const aggregator = (latenessMs = 0) => new IntervalAggregator({ kinds: ['minute', 'hour', 'day'], latenessMs, utcOffsetMinutes: 480 });

describe('IntervalAggregator', () => {
  it('closes a minute once event time passes its end, with Avg/Min/Max of its good readings, Cou of flow and load', () => {
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
    // Flow held from sample to sample, the first from the minute's start: 100 L/s × 50 s + 200 L/s × 10 s = 7 m3.
    // COD at each flow sample: 10 mg/L at 0:10, 20 mg/L at 0:50 -> 5 m3 × 10 g/m3 + 2 m3 × 20 g/m3 = 90 g = 0.09 kg.
    expect(minute!.pollutants).toEqual([
      { code: 'w00000', avg: 150, min: 100, max: 200, cou: 7, flag: 'N', count: 2 },
      { code: 'w01018', avg: 15, min: 10, max: 20, cou: 0.09, flag: 'N', count: 2 },
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

  it('computes flue-gas loads in kg from a00000 and sums the minutes into the hour', () => {
    const agg = new IntervalAggregator({ kinds: ['minute', 'hour'], latenessMs: 0, utcOffsetMinutes: 480 });
    // Minute 0: 50 m3/s for 60 s = 3000 m3 at 200 mg/m3 SO2 = 600,000 mg = 0.6 kg; O2 has no Cou.
    agg.add('a00000', 50, 'good', T0);
    agg.add('a21026', 200, 'good', T0);
    agg.add('a19001', 9, 'good', T0);
    // Minute 1: 40 m3/s for 30 s (1200 m3) at 100 mg/m3, then 60 m3/s for 30 s (1800 m3) at 300 mg/m3:
    // 3000 m3 and 0.12 + 0.54 = 0.66 kg.
    agg.add('a00000', 40, 'good', T0 + MIN);
    agg.add('a21026', 100, 'good', T0 + MIN);
    agg.add('a00000', 60, 'good', T0 + MIN + 30_000);
    agg.add('a21026', 300, 'good', T0 + MIN + 30_000);
    agg.add('a19001', 9, 'good', T0 + HOUR);
    const closed = agg.advance();
    const cou = (cn: string, start: number, code: string): number | undefined => closed.find((c) => c.cn === cn && c.start === start)?.pollutants.find((p) => p.code === code)?.cou;
    expect(closed.filter((c) => c.cn === '2051').map((c) => c.start)).toEqual([T0, T0 + MIN]);
    expect(cou('2051', T0, 'a00000')).toBeCloseTo(3000, 9);
    expect(cou('2051', T0, 'a21026')).toBeCloseTo(0.6, 9);
    expect(cou('2051', T0, 'a19001')).toBeUndefined();
    expect(cou('2051', T0 + MIN, 'a00000')).toBeCloseTo(3000, 9);
    expect(cou('2051', T0 + MIN, 'a21026')).toBeCloseTo(0.66, 9);
    // The hour: the sum of its minutes.
    expect(cou('2061', T0, 'a00000')).toBeCloseTo(6000, 9);
    expect(cou('2061', T0, 'a21026')).toBeCloseTo(1.26, 9);
  });

  it('gives a trace metal in ug/L its Cou in g, and no load without a flow sample in the minute', () => {
    const agg = new IntervalAggregator({ kinds: ['minute'], latenessMs: 0, utcOffsetMinutes: 480 });
    // 20 L/s for 60 s = 1.2 m3 at 5 ug/L Hg = 6 mg = 0.006 g.
    agg.add('w00000', 20, 'good', T0);
    agg.add('w20111', 5, 'good', T0 + 20_000);
    agg.add('w20111', 5, 'good', T0 + MIN);
    const [first] = agg.advance();
    expect(first!.pollutants.find((p) => p.code === 'w20111')!.cou).toBeCloseTo(0.006, 12);
    agg.add('w00000', 20, 'good', T0 + 2 * MIN);
    const [second] = agg.advance();
    expect(second!.pollutants.find((p) => p.code === 'w20111')).toEqual({ code: 'w20111', avg: 5, min: 5, max: 5, flag: 'N', count: 1 });
  });

  it('with the station codes given, sends a minute without readings empty with flag B, and a missing code as B', () => {
    const agg = new IntervalAggregator({ kinds: ['minute'], latenessMs: 0, utcOffsetMinutes: 480, codes: ['w01018', 'w00000'] });
    agg.add('w01018', 10, 'good', T0);
    agg.add('w01018', 30, 'good', T0 + 2 * MIN);
    agg.add('w00000', 5, 'good', T0 + 3 * MIN);
    const closed = agg.advance();
    expect(closed.map((c) => c.start)).toEqual([T0, T0 + MIN, T0 + 2 * MIN]);
    expect(closed[0]!.pollutants).toEqual([
      { code: 'w00000', avg: null, min: null, max: null, flag: 'B', count: 0 },
      { code: 'w01018', avg: 10, min: 10, max: 10, flag: 'N', count: 1 },
    ]);
    expect(closed[1]!.pollutants.map((p) => [p.code, p.flag, p.avg])).toEqual([
      ['w00000', 'B', null],
      ['w01018', 'B', null],
    ]);
    expect(closed[2]!.pollutants.find((p) => p.code === 'w01018')!.avg).toBe(30);
  });

  it('bounds the empty intervals of one long gap and counts the rest', () => {
    const agg = new IntervalAggregator({ kinds: ['minute'], latenessMs: 0, utcOffsetMinutes: 480, codes: ['w01018'], maxEmptyPerGap: 3 });
    agg.add('w01018', 1, 'good', T0);
    agg.add('w01018', 2, 'good', T0 + 10 * MIN);
    agg.add('w01018', 3, 'good', T0 + 11 * MIN);
    const closed = agg.advance();
    expect(closed.map((c) => (c.start - T0) / MIN)).toEqual([0, 1, 2, 3, 10]);
    expect(agg.skippedEmpty).toBe(6);
    expect(agg.closed.minute).toBe(T0 + 11 * MIN);
  });

  it('restores its open intervals from a snapshot: a restart mid-interval gives the interval an uninterrupted run would', () => {
    const options = { kinds: ['minute', 'hour'] as const, latenessMs: 0, utcOffsetMinutes: 480, codes: ['w00000', 'w01018'] };
    const feed = (agg: IntervalAggregator, from: number, to: number): void => {
      for (let k = from; k < to; k++) {
        agg.add('w00000', 10 + k, 'good', T0 + k * 10_000);
        agg.add('w01018', 40 + 3 * k, 'good', T0 + k * 10_000);
      }
    };
    const uninterrupted = new IntervalAggregator(options);
    feed(uninterrupted, 0, 13);
    const expected = uninterrupted.advance();

    const before = new IntervalAggregator(options);
    feed(before, 0, 4); // 0:00 to 0:30 of the first minute
    const saved = JSON.parse(JSON.stringify(before.snapshot())) as ReturnType<IntervalAggregator['snapshot']>;
    const after = new IntervalAggregator({ ...options, state: saved });
    feed(after, 4, 13);
    const closed = after.advance();
    expect(closed.length).toBe(2);
    expect(closed).toEqual(expected);
    expect(closed[0]!.pollutants.find((p) => p.code === 'w01018')!.count).toBe(6);
  });
});
