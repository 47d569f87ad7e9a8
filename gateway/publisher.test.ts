import { describe, expect, it } from 'vitest';
import type { Reading } from '../core/reading.ts';
import { mqttClientOptions, splitByPlant } from './publisher.ts';
import { topics } from '../core/topics.ts';

const reading = (plant: string, meter: string, value: number): Reading => ({ plant, meter, quantity: 'cod', unit: 'mg/L', value, ts: 1_700_000_000_000, quality: 'good' });

describe('publisher', () => {
  it('splits a scan into one batch per plant, keeping scan order and dropping the plant from each reading', () => {
    const byPlant = splitByPlant([reading('a', 'm1', 1), reading('b', 'm1', 2), reading('a', 'm2', 3)]);
    expect([...byPlant.keys()]).toEqual(['a', 'b']);
    expect(byPlant.get('a')!.map((r) => [r.meter, r.value])).toEqual([['m1', 1], ['m2', 3]]);
    expect(byPlant.get('a')![0]).not.toHaveProperty('plant');
  });

  it('connects with an `offline` retained last will on the gateway’s status topic', () => {
    const options = mqttClientOptions('gw-1', { url: 'mqtt://127.0.0.1:1883', protocolVersion: 4 });
    expect(options.will).toMatchObject({ topic: topics.status('gw-1'), qos: 1, retain: true });
    expect(String(options.will?.payload)).toBe('offline');
    expect(options.clientId).toBe('cleanstream-gw-1');
  });
});
