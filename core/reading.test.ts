import { describe, expect, it } from 'vitest';
import { decodeBatch, encodeBatch, type ReadingBatch } from './reading.ts';
import { PayloadError } from './errors.ts';

const valid: ReadingBatch = {
  v: 1,
  gateway: 'gw-1',
  plant: 'paper-01',
  seq: 7,
  sentAt: 1_700_000_000_500,
  readings: [
    { meter: 'outfall-1-cod', quantity: 'cod', value: 45.2, unit: 'mg/L', ts: 1_700_000_000_000, quality: 'good' },
    { meter: 'outfall-1-flow', quantity: 'wastewater_flow', value: 12.5, unit: 'L/s', ts: 1_700_000_000_000, quality: 'uncertain' },
    { meter: 'stack-1-cems', quantity: 'so2', value: null, unit: 'mg/m3', ts: 1_700_000_000_000, quality: 'bad' },
  ],
};

function reasonOf(payload: unknown): string {
  try {
    decodeBatch(typeof payload === 'string' ? payload : JSON.stringify(payload));
  } catch (err) {
    expect(err).toBeInstanceOf(PayloadError);
    return (err as PayloadError).reason;
  }
  return 'accepted';
}

describe('the readings payload', () => {
  it('round-trips a gateway batch, including a value-less bad reading', () => {
    expect(decodeBatch(encodeBatch(valid))).toEqual(valid);
    expect(decodeBatch(encodeBatch({ ...valid, plantSeq: 3 }))).toEqual({ ...valid, plantSeq: 3 });
  });

  it('names the first problem with a stable reason', () => {
    const withReading = (patch: Record<string, unknown>) => ({ ...valid, readings: [{ ...valid.readings[0], ...patch }] });
    expect(reasonOf('{not json')).toBe('not_json');
    expect(reasonOf([1, 2])).toBe('bad_envelope');
    expect(reasonOf({ ...valid, v: 2 })).toBe('unsupported_version');
    expect(reasonOf({ ...valid, plant: 'Paper Mill' })).toBe('bad_id');
    expect(reasonOf({ ...valid, readings: {} })).toBe('bad_envelope');
    expect(reasonOf({ ...valid, plantSeq: -1 })).toBe('bad_envelope');
    expect(reasonOf({ ...valid, plantSeq: '3' })).toBe('bad_envelope');
    expect(reasonOf(withReading({ quantity: 'colour' }))).toBe('unknown_quantity');
    expect(reasonOf(withReading({ unit: 'L/s' }))).toBe('bad_unit');
    expect(reasonOf(withReading({ value: null }))).toBe('bad_value');
    expect(reasonOf(withReading({ value: '45' }))).toBe('bad_value');
    expect(reasonOf(withReading({ ts: 1.5 }))).toBe('bad_timestamp');
    expect(reasonOf(withReading({ quality: 'ok' }))).toBe('bad_reading');
    expect(reasonOf(valid)).toBe('accepted');
  });

  it('says which reading is wrong', () => {
    const bad = { ...valid, readings: [valid.readings[0], { ...valid.readings[1], unit: 'kg' }] };
    expect(() => decodeBatch(JSON.stringify(bad))).toThrow(/readings\[1\]\.unit "kg" is not a unit of wastewater_flow/);
  });
});
