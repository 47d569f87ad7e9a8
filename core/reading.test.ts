import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_AGE_MS, DEFAULT_MAX_FUTURE_SKEW_MS, decodeBatch, encodeBatch, type BatchReading, type ReadingBatch, type TimestampPolicy } from './reading.ts';
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

describe('values that cannot be true', () => {
  const one = (reading: Partial<BatchReading>): BatchReading => decodeBatch(JSON.stringify({ ...valid, readings: [{ ...valid.readings[0], ...reading }] })).readings[0]!;

  it('turns a value outside the physical range into a bad reading without a value, keeping the value as sent', () => {
    expect(one({ value: 1e308 })).toMatchObject({ value: null, quality: 'bad', reason: 'out_of_range', rejectedValue: 1e308 });
    expect(one({ value: -0.5 })).toMatchObject({ value: null, quality: 'bad', reason: 'out_of_range' });
    expect(one({ quantity: 'ph', unit: 'pH', value: -327.68 })).toMatchObject({ value: null, quality: 'bad', reason: 'out_of_range', rejectedValue: -327.68 });
    expect(one({ quantity: 'ph', unit: 'pH', value: 14.2, quality: 'uncertain' })).toMatchObject({ value: null, quality: 'bad', reason: 'out_of_range' });
  });

  it('compares in the canonical unit: 30 L/s of wastewater is 108 m3/h, 30 m3/s is beyond any outfall', () => {
    expect(one({ meter: 'f', quantity: 'wastewater_flow', unit: 'L/s', value: 30 })).toMatchObject({ value: 30, quality: 'good' });
    expect(one({ meter: 'f', quantity: 'wastewater_flow', unit: 'm3/s', value: 30 })).toMatchObject({ value: null, reason: 'out_of_range' });
  });

  it('keeps the bounds themselves and negative power (export to the grid) as measurements', () => {
    expect(one({ quantity: 'ph', unit: 'pH', value: 14 })).toMatchObject({ value: 14, quality: 'good' });
    expect(one({ value: 0 })).toMatchObject({ value: 0, quality: 'good' });
    expect(one({ meter: 'p', quantity: 'active_power', unit: 'kW', value: -250 })).toMatchObject({ value: -250, quality: 'good' });
    expect(one({}).reason).toBeUndefined();
  });

  it('still rejects a value that is no number at all, or overflows on conversion', () => {
    expect(reasonOf('{"v":1,"gateway":"g","plant":"p","seq":0,"sentAt":1,"readings":[{"meter":"m","quantity":"cod","unit":"mg/L","value":1e999,"ts":1,"quality":"good"}]}')).toBe('bad_value');
    expect(reasonOf({ ...valid, readings: [{ ...valid.readings[1], value: 1e306, unit: 'm3/s' }] })).toBe('bad_value');
  });

  it('passes a sender\'s reason for a reading that is not good, and refuses one on a good reading or one that is not a short code', () => {
    expect(one({ value: null, quality: 'bad', reason: 'no_value' })).toMatchObject({ value: null, quality: 'bad', reason: 'no_value' });
    expect(reasonOf({ ...valid, readings: [{ ...valid.readings[0], reason: 'no_value' }] })).toBe('bad_reading');
    expect(reasonOf({ ...valid, readings: [{ ...valid.readings[2], reason: 'x'.repeat(1000) }] })).toBe('bad_reading');
    expect(reasonOf({ ...valid, readings: [{ ...valid.readings[2], rejectedValue: 5 }] })).toBe('bad_reading');
  });
});

describe('timestamps against the consumer\'s clock', () => {
  const now = Date.UTC(2026, 11, 7, 12);
  const policy: TimestampPolicy = { now, maxFutureSkewMs: DEFAULT_MAX_FUTURE_SKEW_MS, maxAgeMs: DEFAULT_MAX_AGE_MS };
  const at = (ts: number, p: TimestampPolicy = policy): string => {
    try {
      decodeBatch(JSON.stringify({ ...valid, readings: [{ ...valid.readings[0], ts }] }), p);
      return 'accepted';
    } catch (err) {
      return (err as PayloadError).reason;
    }
  };

  it('accepts the present, a few minutes of clock skew and a month of store-and-forward backlog', () => {
    expect(at(now)).toBe('accepted');
    expect(at(now + DEFAULT_MAX_FUTURE_SKEW_MS)).toBe('accepted');
    expect(at(now - 29 * 24 * 3600_000)).toBe('accepted');
  });

  it('refuses a reading from the future (year 2200) and ones older than the age limit or from a reset clock (ts = 1)', () => {
    expect(at(Date.UTC(2200, 0, 1))).toBe('ts_in_future');
    expect(at(now + DEFAULT_MAX_FUTURE_SKEW_MS + 1)).toBe('ts_in_future');
    expect(at(now - 31 * 24 * 3600_000)).toBe('ts_too_old');
    expect(at(1)).toBe('ts_too_old');
  });

  it('with no age limit (backfill) accepts history, but never a clock reset to 1970 or 2000', () => {
    const backfill = { ...policy, maxAgeMs: undefined };
    expect(at(Date.UTC(2024, 5, 3), backfill)).toBe('accepted');
    expect(at(1, backfill)).toBe('ts_too_old');
    expect(at(Date.UTC(2000, 0, 1, 6), backfill)).toBe('ts_too_old');
    expect(at(Date.UTC(2200, 0, 1), backfill)).toBe('ts_in_future');
  });
});

describe('error details', () => {
  it('never repeat a large quantity, unit or version either', () => {
    const huge = 'q'.repeat(1_000_000);
    const detail = (payload: unknown): string => {
      try {
        decodeBatch(JSON.stringify(payload));
      } catch (err) {
        return (err as PayloadError).message;
      }
      return 'accepted';
    };
    for (const payload of [
      { ...valid, v: huge },
      { ...valid, readings: [{ ...valid.readings[0], quantity: huge }] },
      { ...valid, readings: [{ ...valid.readings[0], unit: huge }] },
      { ...valid, readings: [{ ...valid.readings[2], reason: huge }] },
    ]) {
      expect(detail(payload).length).toBeLessThan(200);
    }
  });

  it('never repeat a large input: a 1 MB meter id is named by its start and length', () => {
    const id = 'm'.repeat(1024 * 1024);
    try {
      decodeBatch(JSON.stringify({ ...valid, readings: [{ ...valid.readings[0], meter: id }] }));
      expect.unreachable();
    } catch (err) {
      expect((err as PayloadError).reason).toBe('bad_id');
      expect((err as PayloadError).message.length).toBeLessThan(200);
      expect((err as PayloadError).message).toContain('(1,048,576 characters)');
    }
  });

});
