/**
 * Rules read readings from MQTT with core's decoder, as ingest does: a value outside its quantity's physical range
 * arrives as a bad reading without a value, so it never raises a limit alert and never counts as good.
 */
import { describe, expect, it } from 'vitest';
import { decodeBatch, encodeBatch, type BatchReading } from '../core/reading.ts';
import { harness, MIN, T0 } from './test-support.ts';

const RULES = [
  { id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: { max: 100 } },
  { id: 'cod-quality', kind: 'quality', severity: 'minor', selector: { quantity: 'cod' }, count: 'bad', windowMs: 10 * MIN, resolutionMs: MIN, maxShare: 0.2, minSamples: 3 },
];

function judge(values: number[]): string[] {
  const h = harness(RULES);
  const readings: BatchReading[] = values.map((value, i) => ({ meter: 'outfall-1-cod', quantity: 'cod', value, unit: 'mg/L', ts: T0 + i * MIN, quality: 'good' }));
  h.clock.now = T0 + values.length * MIN;
  h.engine.ingestBatch(decodeBatch(encodeBatch({ v: 1, gateway: 'gw-test', plant: 'paper-01', seq: 0, sentAt: h.clock.now, readings })));
  return h.feed([{ tick: T0 + 60 * MIN }]).concat(h.lines()).filter((l, i, all) => all.indexOf(l) === i);
}

describe('rules and values that cannot be true', () => {
  it('raise no limit alert for COD 1e308 (out of range), only the quality rule sees a bad reading', () => {
    const lines = judge([50, 1e308, 60]);
    expect(lines.filter((l) => l.includes('cod-limit'))).toEqual([]);
    expect(lines.some((l) => l.startsWith('raised cod-quality'))).toBe(true);
  });

  it('still raise the limit alert for a real exceedance within the physical range', () => {
    expect(judge([50, 150, 60]).some((l) => l.startsWith('raised cod-limit'))).toBe(true);
  });
});
