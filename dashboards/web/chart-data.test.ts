import { describe, expect, it } from 'vitest';
import { BucketSeries, chartEvery, chooseEvery, CounterSeries, everyParam, limitValues, RANGE_PRESETS, valueRange } from './chart-data.js';

const MIN = 60_000;
const T0 = 1_700_000_000_000; // a multiple of 5 s
const series = () => new BucketSeries({ everyMs: 5000, windowMs: 30 * MIN, maxPoints: 400 });

describe('a chart\'s bucket series', () => {
  it('folds live readings into the running mean of their bucket, as GET /series averages them', () => {
    const s = series();
    for (const [dt, v] of [[0, 10], [1000, 20], [4999, 30], [5000, 7]] as const) s.addReading(T0 + dt, v);
    expect(s.points.map(([t, mean]) => [t - T0, mean])).toEqual([[0, 20], [5000, 7]]);
  });

  it('takes history without overwriting a bucket the live stream already started, and keeps buckets in time order', () => {
    const s = series();
    s.addReading(T0 + 10_000, 50);
    s.addHistory([[T0, 1], [T0 + 5000, 2], [T0 + 10_000, 3]], T0 + 10_000);
    expect(s.points.map(([t, mean]) => [t - T0, mean])).toEqual([[0, 1], [5000, 2], [10_000, 50]]);
    // a later reading in a history bucket moves its mean, counting the history mean as one reading
    s.addReading(T0 + 6000, 4, T0 + 10_000);
    expect(s.points[1]?.[1]).toBe(3);
  });

  it('ignores readings without a value', () => {
    const s = series();
    s.addReading(T0, null);
    s.addReading(T0, Number.NaN);
    expect(s.length).toBe(0);
  });

  it('keeps only the window and at most maxPoints buckets, so that a page open for days holds a bounded buffer', () => {
    const s = new BucketSeries({ everyMs: 1000, windowMs: 60_000, maxPoints: 50 });
    for (let i = 0; i < 10_000; i++) s.addReading(T0 + i * 1000, i, T0 + i * 1000);
    expect(s.length).toBe(50);
    expect(s.points[0]?.[0]).toBe(T0 + 9_950_000);
    s.trim(T0 + 10_000_000 + 120_000);
    expect(s.length).toBe(0);
  });

  it('breaks the line where the meter was silent instead of bridging the gap', () => {
    const s = series();
    for (const dt of [0, 5000, 10_000, 60_000, 65_000]) s.addReading(T0 + dt, 1, T0 + 65_000);
    const [xs, ys] = s.aligned(3);
    expect(ys).toEqual([1, 1, 1, null, 1, 1]);
    expect(xs[3]).toBe(T0 + 15_000);
    expect(xs).toEqual([...xs].sort((a, b) => a - b));
  });
});

describe('a chart\'s value range', () => {
  it('takes in a limit near the data, so that the limit line is drawn', () => {
    const r = valueRange([55, 60, 65], [90]);
    expect(r.shown).toEqual([90]);
    expect(r.min).toBeLessThan(55);
    expect(r.max).toBeGreaterThan(90);
  });

  it('takes in both pH bounds around neutral data', () => {
    const r = valueRange([7.1, 7.4], limitValues({ min: 6, max: 9 }));
    expect(r.shown.sort()).toEqual([6, 9]);
    expect(r.min).toBeLessThan(6);
    expect(r.max).toBeGreaterThan(9);
  });

  it('leaves out a limit far above the data, which would flatten the line to the bottom', () => {
    const r = valueRange([20, 30], [400]);
    expect(r.hidden).toEqual([400]);
    expect(r.max).toBeLessThan(40);
  });

  it('does not go below zero for data that does not, and has a range for flat data and for none', () => {
    expect(valueRange([0.02, 1]).min).toBe(0);
    const flat = valueRange([5, 5]);
    expect(flat.max).toBeGreaterThan(flat.min);
    expect(valueRange([-10, -5]).min).toBeLessThan(-10);
    const empty = valueRange([], [8]);
    expect([empty.min, empty.shown]).toEqual([0, [8]]);
    expect(empty.max).toBeGreaterThan(8);
  });

  it('reads the bounds a limit has', () => {
    expect(limitValues({ max: 90 })).toEqual([90]);
    expect(limitValues({ min: 6, max: 9 })).toEqual([9, 6]);
    expect(limitValues(undefined)).toEqual([]);
  });
});

describe('a counter\'s chart: the amount counted per bucket', () => {
  const counter = () => new CounterSeries({ everyMs: 5000, windowMs: 30 * MIN, maxPoints: 400 });

  it('counts live readings on from the last reading history gave, into their buckets', () => {
    const s = counter();
    s.addHistory([[T0 - 5000, 600]], T0, [T0 - 1000, 527_640_600]);
    // a reading history already counted adds nothing
    s.addReading(T0 - 1000, 527_640_600, T0);
    for (const [dt, v] of [[0, 527_640_610], [1000, 527_640_625], [5000, 527_640_640]] as const) s.addReading(T0 + dt, v, T0 + dt);
    expect(s.points.map(([t, amount]) => [t - T0, amount])).toEqual([[-5000, 600], [0, 25], [5000, 15]]);
  });

  it('counts live readings that came before history once history says where to count from, and none twice', () => {
    const s = counter();
    // the stream is opened before history is asked for: these readings reach the page first
    s.addReading(T0 + 1000, 1010, T0 + 1000);
    s.addReading(T0 + 2000, 1020, T0 + 2000);
    expect(s.length).toBe(0);
    // history's query ran after the first of them: its last reading is that one, its bucket holds 10 since the one before
    s.addHistory([[T0 - 5000, 50], [T0, 10]], T0 + 2000, [T0 + 1000, 1010]);
    expect(s.points.map(([t, amount]) => [t - T0, amount])).toEqual([[-5000, 50], [0, 20]]);
  });

  it('counts a drop as a reset from zero, never a negative amount', () => {
    const s = counter();
    s.addHistory([], T0);
    s.addReading(T0, 9_999_990);
    s.addReading(T0 + 5000, 9_999_998);
    s.addReading(T0 + 10_000, 4);
    expect(s.points.map(([, amount]) => amount)).toEqual([8, 4]);
  });

  it('leaves the bucket after a silence unknown: a gap with no bar, not zero and not the silence\'s amount', () => {
    const s = counter();
    s.addHistory([], T0);
    s.addReading(T0, 100);
    s.addReading(T0 + 5000, 110);
    s.addReading(T0 + 20_000, 170);
    s.addReading(T0 + 21_000, 172);
    s.addReading(T0 + 25_000, 180);
    expect(s.points.map(([t, amount]) => [t - T0, amount])).toEqual([[5000, 10], [25_000, 8]]);
    const [xs, ys] = s.aligned();
    expect(xs.map((t) => t - T0)).toEqual([5000, 10_000, 15_000, 20_000, 25_000, 30_000]);
    expect(ys).toEqual([10, null, null, null, 8, null]);
  });
});

describe('the charts\' range', () => {
  it('keeps every preset window to a few hundred round buckets', () => {
    expect(RANGE_PRESETS.map((r) => [r.id, everyParam(chooseEvery(r.ms)), r.ms / chooseEvery(r.ms)])).toEqual([
      ['15m', '5s', 180],
      ['1h', '10s', 360],
      ['6h', '1m', 360],
      ['24h', '5m', 288],
      ['7d', '30m', 336],
    ]);
    // a custom month: 2-hour buckets
    expect(everyParam(chooseEvery(30 * 86_400_000))).toBe('2h');
  });

  it('gives a counter fewer, wider bars: at most 60, each an amount people read per interval', () => {
    expect(RANGE_PRESETS.map((r) => everyParam(chartEvery(r.ms, true)))).toEqual(['15s', '1m', '10m', '30m', '3h']);
    expect(chartEvery(3_600_000, false)).toBe(10_000);
  });
});
