import { describe, expect, it } from 'vitest';
import { encodeBatch, encodeBatchAround, PAYLOAD_VERSION, type Reading, type ReadingBatch } from '../core/reading.ts';
import { chunkReadings, mqttClientOptions, splitByPlant } from './publisher.ts';
import { decodeSpoolRecord, encodeSpoolRecord } from './spool-record.ts';
import { topics } from '../bus/topics.ts';

const reading = (plant: string, meter: string, value: number): Reading => ({ plant, meter, quantity: 'cod', unit: 'mg/L', value, ts: 1_700_000_000_000, quality: 'good' });

describe('publisher', () => {
  it('splits a scan into one batch per plant, keeping scan order and dropping the plant from each reading', () => {
    const byPlant = splitByPlant([reading('a', 'm1', 1), reading('b', 'm1', 2), reading('a', 'm2', 3)]);
    expect([...byPlant.keys()]).toEqual(['a', 'b']);
    expect(byPlant.get('a')!.map((r) => [r.meter, r.value])).toEqual([['m1', 1], ['m2', 3]]);
    expect(byPlant.get('a')![0]).not.toHaveProperty('plant');
  });

  it('assembles a batch around readings already in JSON byte for byte as core encodes the whole batch', () => {
    const readings = splitByPlant([reading('paper-01', 'm1', 1.5), { ...reading('paper-01', 'm2', 0), value: null, quality: 'bad' }]).get('paper-01')!;
    const batch: ReadingBatch = { v: PAYLOAD_VERSION, gateway: 'gw-1', plant: 'paper-01', seq: 41, sentAt: 1_700_000_000_123, readings };
    expect(encodeBatchAround({ gateway: 'gw-1', plant: 'paper-01', seq: 41, sentAt: 1_700_000_000_123 }, JSON.stringify(readings))).toBe(encodeBatch(batch).toString('utf8'));
    const withPlantSeq: ReadingBatch = { v: PAYLOAD_VERSION, gateway: 'gw-1', plant: 'paper-01', seq: 41, plantSeq: 12, sentAt: 1_700_000_000_123, readings };
    expect(encodeBatchAround({ gateway: 'gw-1', plant: 'paper-01', seq: 41, plantSeq: 12, sentAt: 1_700_000_000_123 }, JSON.stringify(readings))).toBe(encodeBatch(withPlantSeq).toString('utf8'));
  });

  it('splits a large scan of one plant into batches of at most maxReadingsPerBatch, in scan order', () => {
    const readings = splitByPlant(Array.from({ length: 2_501 }, (_, i) => reading('a', `m${i}`, i))).get('a')!;
    const chunks = chunkReadings(readings, 1_000);
    expect(chunks.map((c) => c.length)).toEqual([1_000, 1_000, 501]);
    expect(chunks.flat().map((r) => r.value)).toEqual(readings.map((r) => r.value));
    expect(chunkReadings(readings.slice(0, 3), 1_000)).toEqual([readings.slice(0, 3)]);
  });

  it('spools exactly the payload core encodes for the batch', () => {
    const readings = splitByPlant([reading('a', 'm1', 1.5), { ...reading('a', 'm2', 0), value: null, quality: 'bad', unit: 'm³/h' }]).get('a')!;
    const batch: ReadingBatch = { v: PAYLOAD_VERSION, gateway: 'gw-1', plant: 'a', seq: 7, sentAt: 1_700_000_000_500, readings };
    const record = decodeSpoolRecord(encodeSpoolRecord({ topic: topics.readings('a', 'gw-1'), readings: 2, payload: encodeBatch(batch).toString('utf8') }));
    expect(record.payload.equals(encodeBatch(batch))).toBe(true);
    expect(record).toMatchObject({ topic: topics.readings('a', 'gw-1'), readings: 2 });
  });

  it('connects with an `offline` retained last will on the gateway’s status topic', () => {
    const options = mqttClientOptions('gw-1', { url: 'mqtt://127.0.0.1:1883', protocolVersion: 4 });
    expect(options.will).toMatchObject({ topic: topics.status('gw-1'), qos: 1, retain: true });
    expect(String(options.will?.payload)).toBe('offline');
    expect(options.clientId).toBe('cleanstream-gw-1');
  });
});
