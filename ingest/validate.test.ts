import { describe, expect, it } from 'vitest';
import { topics } from '../bus/topics.ts';
import { validateMessage, type Accepted, type Rejected } from './validate.ts';
import { paperMillPlants } from '../test/harness/plants.ts';

const registry = paperMillPlants([{ id: 'outfall-1-cod', location: 'outfall-1', quantities: ['cod'] }]);


const TOPIC = topics.readings('paper-01', 'gw-1');

function payload(overrides: Record<string, unknown> = {}, reading: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: 1,
      gateway: 'gw-1',
      plant: 'paper-01',
      seq: 1,
      sentAt: 1_700_000_000_000,
      readings: [{ meter: 'outfall-1-cod', quantity: 'cod', value: 80, unit: 'mg/L', ts: 1_700_000_000_000, quality: 'good', ...reading }],
      ...overrides,
    }),
  );
}

function rejection(topic: string, body: Buffer, withRegistry = true): Rejected {
  const result = validateMessage(topic, body, withRegistry ? registry : undefined);
  if (result.ok) throw new Error('expected a rejection');
  return result;
}

describe('validateMessage', () => {
  it('accepts a well-formed batch on its own topic', () => {
    const result = validateMessage(TOPIC, payload(), registry) as Accepted;
    expect(result.ok).toBe(true);
    expect(result.topic).toEqual({ plant: 'paper-01', gateway: 'gw-1' });
    expect(result.batch.readings).toHaveLength(1);
  });

  it.each([
    ['not_json', TOPIC, Buffer.from('{"v":1,')],
    ['bad_envelope', TOPIC, Buffer.from('[1,2]')],
    ['unsupported_version', TOPIC, payload({ v: 2 })],
    ['unknown_quantity', TOPIC, payload({}, { quantity: 'unobtainium' })],
    ['bad_unit', TOPIC, payload({}, { unit: 'L/s' })],
    ['bad_value', TOPIC, payload({}, { value: 'high' })],
    ['bad_timestamp', TOPIC, payload({}, { ts: 1.5 })],
    ['bad_timestamp', TOPIC, payload({}, { ts: 9_300_000_000_000 })],
    ['bad_topic', 'cleanstream/v1/readings/paper-01', payload()],
    ['bad_topic', 'somewhere/else', payload()],
    ['topic_mismatch', topics.readings('paper-01', 'gw-2'), payload()],
    ['topic_mismatch', topics.readings('dyeing-01', 'gw-1'), payload()],
    ['unknown_plant', topics.readings('steel-99', 'gw-1'), payload({ plant: 'steel-99' })],
    ['unknown_meter', TOPIC, payload({}, { meter: 'outfall-9-cod' })],
    ['unknown_meter', TOPIC, payload({}, { quantity: 'nh3n' })],
  ])('rejects with reason %s', (reason, topic, body) => {
    const result = rejection(topic, body);
    expect(result.reason).toBe(reason);
    expect(result.detail.length).toBeGreaterThan(0);
  });

  it('refuses readings from the future or older than the age limit, against the clock it is given', () => {
    const now = 1_700_000_000_000;
    const policy = { now, maxFutureSkewMs: 300_000, maxAgeMs: 30 * 86_400_000 };
    expect(validateMessage(TOPIC, payload({}, { ts: Date.UTC(2200, 0, 1) }), registry, policy)).toMatchObject({ ok: false, reason: 'ts_in_future', readingIndex: 0 });
    expect(validateMessage(TOPIC, payload({}, { ts: 1 }), registry, policy)).toMatchObject({ ok: false, reason: 'ts_too_old', readingIndex: 0 });
    expect(validateMessage(TOPIC, payload({}, { ts: now - 31 * 86_400_000 }), registry, policy)).toMatchObject({ ok: false, reason: 'ts_too_old' });
    expect(validateMessage(TOPIC, payload({}, { ts: now - 31 * 86_400_000 }), registry, { ...policy, maxAgeMs: undefined }).ok).toBe(true);
    expect(validateMessage(TOPIC, payload({}, { ts: now + 60_000 }), registry, policy).ok).toBe(true);
  });

  it('accepts a value outside the physical range as a bad reading without a value', () => {
    const result = validateMessage(TOPIC, payload({}, { value: 1e308 }), registry) as Accepted;
    expect(result.batch.readings[0]).toMatchObject({ value: null, quality: 'bad', reason: 'out_of_range', rejectedValue: 1e308 });
  });

  it('never repeats a large input in the detail', () => {
    const result = rejection(`cleanstream/v1/readings/${'p'.repeat(100_000)}`, payload());
    expect(result.reason).toBe('bad_topic');
    expect(result.detail.length).toBeLessThan(200);
  });

  it('rejects a value that overflows when converted to the canonical unit', () => {
    const result = validateMessage(topics.readings('paper-01', 'gw-1'), payload({}, { meter: 'f', quantity: 'wastewater_flow', unit: 'm3/s', value: 1e306 }));
    expect(result).toMatchObject({ ok: false, reason: 'bad_value', readingIndex: 0 });
  });

  it('rejects the whole message for one bad reading and names the first one at fault', () => {
    const body = Buffer.from(
      JSON.stringify({
        v: 1,
        gateway: 'gw-1',
        plant: 'paper-01',
        seq: 1,
        sentAt: 1,
        readings: [
          { meter: 'outfall-1-cod', quantity: 'cod', value: 80, unit: 'mg/L', ts: 1, quality: 'good' },
          { meter: 'outfall-1-cod', quantity: 'cod', value: 81, unit: 'kg', ts: 2, quality: 'good' },
          { meter: 'outfall-1-cod', quantity: 'bogus', value: 82, unit: 'mg/L', ts: 3, quality: 'good' },
        ],
      }),
    );
    expect(rejection(TOPIC, body)).toMatchObject({ reason: 'bad_unit', readingIndex: 1 });
  });

  it('without a registry, accepts any plant and meter', () => {
    const result = validateMessage(topics.readings('steel-99', 'gw-1'), payload({ plant: 'steel-99' }, { meter: 'anything' }));
    expect(result.ok).toBe(true);
  });

  it('never throws, whatever the payload', () => {
    const samples = [Buffer.alloc(0), Buffer.from([0xff, 0xfe, 0x00]), Buffer.from('null'), Buffer.from('{"v":1,"readings":null}'), Buffer.from('"x"'), Buffer.from('1e999')];
    for (const body of samples) expect(validateMessage(TOPIC, body, registry).ok).toBe(false);
  });
});
