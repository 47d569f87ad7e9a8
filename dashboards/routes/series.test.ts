import { describe, expect, it } from 'vitest';
import { HttpError } from '../auth.ts';
import { latestStatement } from './latest.ts';
import { counterIncreases, counterStatement, MAX_POINTS, parseEvery, resolveWindow, seriesStatement } from './series.ts';
import { quoteIdentifier, quoteStringLiteral } from '../../influxdb/schema.ts';

const NOW = 1_700_000_000_000;

function statusOf(fn: () => unknown): number | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as HttpError).statusCode;
  }
}

describe('series window', () => {
  it('parses bucket widths', () => {
    expect([parseEvery('500ms'), parseEvery('10s'), parseEvery('5m'), parseEvery('1h'), parseEvery('1d')]).toEqual([500, 10_000, 300_000, 3_600_000, 86_400_000]);
    expect([parseEvery('0s'), parseEvery('1w'), parseEvery('1.5h'), parseEvery('10s;DROP')]).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('defaults to the last hour in about 120 whole-second buckets', () => {
    expect(resolveWindow({}, NOW)).toEqual({ from: NOW - 3_600_000, to: NOW, everyMs: 30_000 });
  });

  it('refuses more than the bounded number of buckets, and an empty or inverted window', () => {
    expect(statusOf(() => resolveWindow({ from: NOW - MAX_POINTS * 1000, to: NOW, every: '1s' }, NOW))).toBeUndefined();
    expect(statusOf(() => resolveWindow({ from: NOW - MAX_POINTS * 1000 - 1, to: NOW, every: '1s' }, NOW))).toBe(400);
    expect(statusOf(() => resolveWindow({ from: NOW, to: NOW }, NOW))).toBe(400);
    expect(statusOf(() => resolveWindow({ from: NOW + 1, to: NOW }, NOW))).toBe(400);
  });

  it('refuses times before 2000 or more than a day ahead, and buckets under 1 s or wider than the window, naming the field', () => {
    const fieldOf = (fn: () => unknown): unknown => {
      try {
        fn();
        return undefined;
      } catch (err) {
        return (err as HttpError).context.field;
      }
    };
    expect(fieldOf(() => resolveWindow({ to: Number('9223372036854775807') }, NOW))).toBe('to');
    expect(fieldOf(() => resolveWindow({ to: NOW + 86_400_001 }, NOW))).toBe('to');
    expect(fieldOf(() => resolveWindow({ from: Date.UTC(1999, 11, 31) }, NOW))).toBe('from');
    expect(fieldOf(() => resolveWindow({ every: '999999999d' }, NOW))).toBe('every');
    expect(fieldOf(() => resolveWindow({ every: '500ms' }, NOW))).toBe('every');
    expect(fieldOf(() => resolveWindow({ from: NOW - 60_000, to: NOW, every: '2m' }, NOW))).toBe('every');
    expect(resolveWindow({ from: NOW - 60_000, to: NOW + 86_400_000, every: '1h' }, NOW).everyMs).toBe(3_600_000);
  });
});

describe('InfluxQL built on the server', () => {
  it('quotes identifiers and strings so that a value cannot end them', () => {
    expect(quoteIdentifier('a"b\\')).toBe('"a\\"b\\\\"');
    expect(quoteStringLiteral("x' OR '1'='1")).toBe("'x\\' OR \\'1\\'=\\'1'");
  });

  it('selects the mean per bucket of one quantity of one plant\'s meters in the window', () => {
    expect(seriesStatement({ plant: 'paper-01', quantity: 'cod', meters: ['m1', 'm2'], from: 1000, to: 61_000, everyMs: 60_000 })).toBe(
      `SELECT mean("cod") AS "value" FROM "water" WHERE "plant" = 'paper-01' AND ("meter" = 'm1' OR "meter" = 'm2') AND time >= 1000ms AND time < 61000ms GROUP BY time(60000ms), "meter" fill(none)`,
    );
  });

  it('selects the last reading by its quality, with the value at that point, never one stamped in the future', () => {
    expect(latestStatement('paper-01', 'so2', ['stack-1-cems'])).toBe(
      `SELECT last("so2_quality") AS "quality", "so2" AS "value" FROM "emissions" WHERE "plant" = 'paper-01' AND ("meter" = 'stack-1-cems') AND time <= now() + 1m GROUP BY "meter"`,
    );
  });
});

describe('a counter as the amount counted per bucket (mode=increase)', () => {
  const M = 60_000;

  it('reads the last reading per bucket from the bucket before the window\'s first', () => {
    expect(counterStatement({ plant: 'paper-01', quantity: 'active_energy', meters: ['main-meter'], from: 10 * M + 5000, to: 20 * M, everyMs: M })).toBe(
      `SELECT last("active_energy") AS "value" FROM "energy" WHERE "plant" = 'paper-01' AND ("meter" = 'main-meter') AND time >= 540000ms AND time < 1200000ms GROUP BY time(60000ms), "meter" fill(none)`,
    );
  });

  it('counts each bucket from the previous bucket\'s last reading; the bucket before the window only counts from', () => {
    expect(counterIncreases([[9 * M, 527_640_000], [10 * M, 527_640_600], [11 * M, 527_641_800], [12 * M, 527_641_800]], M, 10 * M)).toEqual([
      [10 * M, 600],
      [11 * M, 1200],
      [12 * M, 0],
    ]);
  });

  it('counts a drop as a reset from zero, never a negative amount', () => {
    expect(counterIncreases([[0, 9_999_990], [M, 9_999_998], [2 * M, 12], [3 * M, 30]], M, 0)).toEqual([
      [M, 8],
      [2 * M, 12],
      [3 * M, 18],
    ]);
  });

  it('leaves out a bucket after one without readings: a gap, not zero and not the silence\'s whole amount in one bucket', () => {
    expect(counterIncreases([[0, 100], [M, 110], [4 * M, 170], [5 * M, 180]], M, 0)).toEqual([
      [M, 10],
      [5 * M, 10],
    ]);
  });
});

describe('alert history InfluxQL', () => {
  it('selects the transitions of the plants in scope, newest first, with filters quoted', async () => {
    const { historyStatement } = await import('./alerts.ts');
    expect(historyStatement({ plants: ['paper-01', 'steel-01'], from: 1, to: 2, limit: 10, severities: ['major'], id: "x'y" })).toBe(
      `SELECT "id", "state", "transition", "value", "limit", "count", "peak", "by", "comment", "plant", "rule", "meter", "severity" FROM "alerts" WHERE ("plant" = 'paper-01' OR "plant" = 'steel-01') AND time >= 1ms AND time < 2ms AND ("severity" = 'major') AND "id" = 'x\\'y' ORDER BY time DESC LIMIT 10`,
    );
  });
});
