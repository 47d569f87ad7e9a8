import { describe, expect, it } from 'vitest';
import { plantCompliance, plantHealth } from './plant-status.ts';
import type { LatestReading } from './routes/latest.ts';
import { registryPlant } from './test-support.ts';

const NOW = 1_700_000_000_000;
const STALE = 300_000;
const reading = (meter: string, ago: number, quality: LatestReading['quality'] = 'good'): LatestReading => ({ meter, quantity: 'cod', value: 1, unit: 'mg/L', ts: NOW - ago, quality });
const all = (ago: number) => ['outfall-1-flow', 'outfall-1-cod', 'outfall-1-nh3n', 'main-power'].map((m) => reading(m, ago));

describe('plant status', () => {
  it('is ok when every meter reported recently with good quality', () => {
    expect(plantHealth(registryPlant, all(10_000), NOW, STALE)).toEqual({ status: 'ok', lastTs: NOW - 10_000, meters: { total: 4, reporting: 4, online: 4, stale: 0, notGood: 0 } });
  });

  it('is degraded when a meter is silent or its last reading is not good', () => {
    expect(plantHealth(registryPlant, all(10_000).slice(1), NOW, STALE).status).toBe('degraded');
    expect(plantHealth(registryPlant, [...all(10_000).slice(1), reading('outfall-1-flow', STALE + 1)], NOW, STALE).meters).toMatchObject({ stale: 1, online: 3 });
    // a meter that never reported is not online either
    expect(plantHealth(registryPlant, [reading('outfall-1-cod', 1000)], NOW, STALE).meters).toMatchObject({ total: 4, reporting: 1, online: 1, stale: 3 });
    expect(plantHealth(registryPlant, [...all(10_000).slice(1), reading('outfall-1-flow', 1000, 'uncertain')], NOW, STALE)).toMatchObject({ status: 'degraded', meters: { notGood: 1 } });
  });

  it('is offline when even the newest reading is older than the bound, and no-data without any', () => {
    expect(plantHealth(registryPlant, all(STALE + 1), NOW, STALE).status).toBe('offline');
    expect(plantHealth(registryPlant, [], NOW, STALE)).toMatchObject({ status: 'no-data', lastTs: null });
  });
});

describe('plant compliance, apart from data health', () => {
  it('is the worst open severity whatever the data health: a plant with data all good and a major exceedance is not "none"', () => {
    expect(plantCompliance('major', 'ok')).toBe('major');
    expect(plantCompliance('critical', 'offline')).toBe('critical');
    expect(plantCompliance(null, 'ok')).toBe('none');
    expect(plantCompliance(null, 'degraded')).toBe('none');
  });

  it('is unknown for a silent plant without open alerts: nothing could be raised for it', () => {
    expect(plantCompliance(null, 'offline')).toBe('unknown');
    expect(plantCompliance(null, 'no-data')).toBe('unknown');
  });
});
