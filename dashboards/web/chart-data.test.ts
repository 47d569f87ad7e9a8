import { describe, expect, it } from 'vitest';
import { BucketSeries, limitValues, valueRange } from './chart-data.js';

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
