import { describe, expect, it } from 'vitest';
import { quantityDef, type QuantityId } from '../core/catalog.ts';
import { CleanstreamError } from '../core/errors.ts';
import { INDUSTRIES, type Industry, type Plant } from '../core/plants.ts';
import { createPlantModel, createRegistryModels, COUNTER_ORIGIN_MS } from './model.ts';
import { demoPlants } from '../test/harness/plants.ts';

const registry = demoPlants();
const points = registry.plants.flatMap((plant) => plant.meters.flatMap((meter) => meter.quantities.map((quantity) => ({ plant, meter: meter.id, quantity }))));

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Tuesday 2026-03-03 00:00 China Standard Time. */
const TUESDAY = Date.UTC(2026, 2, 2, 16);

function series(plant: Plant, meter: string, quantity: QuantityId, from: number, step: number, count: number, seed = 7): number[] {
  const model = createPlantModel(plant, seed);
  return Array.from({ length: count }, (_, i) => model.sample(meter, quantity, from + i * step).value);
}

const plant = (id: string): Plant => {
  const p = registry.plant(id);
  if (!p) throw new Error(`demo registry lacks ${id}`);
  return p;
};

const share = (values: number[], lo: number, hi: number): number => values.filter((v) => v >= lo && v <= hi).length / values.length;

describe('plant model determinism', () => {
  it('gives identical values for the same seed, plant and time, whatever was sampled before', () => {
    const a = createRegistryModels(registry, 1234);
    const b = createRegistryModels(registry, 1234);
    const times = [TUESDAY, TUESDAY + 17 * HOUR + 123, TUESDAY + 5 * DAY + 999];
    for (const { plant: p, meter, quantity } of points) {
      // b samples in reverse order: values must not depend on call history
      const forward = times.map((t) => a.get(p.id)?.sample(meter, quantity, t));
      const backward = [...times].reverse().map((t) => b.get(p.id)?.sample(meter, quantity, t)).reverse();
      expect(backward).toEqual(forward);
    }
  });

  it('gives different values for a different seed', () => {
    const a = createRegistryModels(registry, 1);
    const b = createRegistryModels(registry, 2);
    const differing = points.filter(({ plant: p, meter, quantity }) => a.get(p.id)?.sample(meter, quantity, TUESDAY).value !== b.get(p.id)?.sample(meter, quantity, TUESDAY).value);
    expect(differing.length).toBe(points.length);
  });

  it('reports good quality and finite values inside the catalog range for every demo point over a week', () => {
    const models = createRegistryModels(registry, 99);
    for (const { plant: p, meter, quantity } of points) {
      const [lo, hi] = quantityDef(quantity).range;
      for (let t = TUESDAY; t < TUESDAY + 7 * DAY; t += 37 * MINUTE) {
        const s = models.get(p.id)?.sample(meter, quantity, t);
        expect(s?.quality).toBe('good');
        expect(Number.isFinite(s?.value)).toBe(true);
        expect(s?.value).toBeGreaterThanOrEqual(lo);
        expect(s?.value).toBeLessThanOrEqual(hi);
      }
    }
  });

  it('refuses a meter or quantity the plant does not have, naming it', () => {
    const model = createPlantModel(plant('paper-01'), 1);
    expect(() => model.sample('no-such-meter', 'cod', TUESDAY)).toThrow(CleanstreamError);
    expect(() => model.sample('outfall-1-cod', 'so2', TUESDAY)).toThrow(/outfall-1-cod measuring so2/);
  });
});

describe('realistic ranges', () => {
  const week = (id: string, meter: string, q: QuantityId) => series(plant(id), meter, q, TUESDAY, 5 * MINUTE, 7 * 288);

  it('keeps paper mill effluent mostly at COD 40-80, NH3-N 2-6, pH 6.8-7.8 and always under the GB 3544 limits', () => {
    const cod = week('paper-01', 'outfall-1-cod', 'cod');
    const nh3n = week('paper-01', 'outfall-1-nh3n', 'nh3n');
    const ph = week('paper-01', 'outfall-1-ph', 'ph');
    expect(Math.max(...cod)).toBeLessThan(90);
    expect(share(cod, 40, 80)).toBeGreaterThan(0.9);
    expect(Math.max(...nh3n)).toBeLessThan(8);
    expect(share(nh3n, 2, 6)).toBeGreaterThan(0.9);
    expect(share(ph, 6.8, 7.8)).toBeGreaterThan(0.9);
    expect(Math.min(...ph)).toBeGreaterThan(6);
    expect(Math.max(...ph)).toBeLessThan(9);
  });

  it('keeps every stack under ultra-low-emission-range values with O2 typical of its firing', () => {
    for (const id of ['paper-01', 'dyeing-01', 'steel-01']) {
      expect(Math.max(...week(id, 'stack-1-cems', 'so2'))).toBeLessThan(35);
      expect(Math.max(...week(id, 'stack-1-cems', 'nox'))).toBeLessThan(50);
      expect(Math.max(...week(id, 'stack-1-cems', 'particulate'))).toBeLessThan(10);
    }
    expect(share(week('paper-01', 'stack-1-cems', 'o2'), 6, 10)).toBeGreaterThan(0.9);
    // sinter flue gas is lean
    expect(share(week('steel-01', 'stack-1-cems', 'o2'), 13, 18)).toBe(1);
  });

  it('scales flows to plant size: the paper mill discharges far more than the dyeing works', () => {
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const paper = mean(week('paper-01', 'outfall-1-flow', 'wastewater_flow'));
    const dyeing = mean(week('dyeing-01', 'outfall-1-flow', 'wastewater_flow'));
    expect(paper).toBeGreaterThan(500);
    expect(paper).toBeLessThan(1500);
    expect(dyeing).toBeGreaterThan(80);
    expect(dyeing).toBeLessThan(350);
  });

  it('follows shifts: the dyeing works runs lower at night and at weekends', () => {
    const model = createPlantModel(plant('dyeing-01'), 5);
    const meanOver = (from: number, hours: number) => {
      let sum = 0;
      for (let i = 0; i < hours * 12; i++) sum += model.sample('main-power', 'active_power', from + i * 5 * MINUTE).value;
      return sum / (hours * 12);
    };
    const weekdayDay = meanOver(TUESDAY + 9 * HOUR, 6);
    const weekdayNight = meanOver(TUESDAY + 1 * HOUR, 6);
    const saturdayDay = meanOver(TUESDAY + 4 * DAY + 9 * HOUR, 6);
    expect(weekdayNight).toBeLessThan(weekdayDay * 0.85);
    expect(saturdayDay).toBeLessThan(weekdayDay * 0.9);
  });
});

describe('counters', () => {
  it('only increase over a day sampled each minute, at the rate their flow and power gauges show', () => {
    for (const id of ['paper-01', 'dyeing-01', 'steel-01']) {
      const volume = series(plant(id), 'outfall-1-flow', 'wastewater_volume', TUESDAY, MINUTE, 24 * 60 + 1);
      const flow = series(plant(id), 'outfall-1-flow', 'wastewater_flow', TUESDAY, MINUTE, 24 * 60 + 1);
      const energy = series(plant(id), 'main-power', 'active_energy', TUESDAY, MINUTE, 24 * 60 + 1);
      const power = series(plant(id), 'main-power', 'active_power', TUESDAY, MINUTE, 24 * 60 + 1);
      for (let i = 1; i < volume.length; i++) {
        expect(volume[i]).toBeGreaterThan(volume[i - 1] as number);
        expect(energy[i]).toBeGreaterThan(energy[i - 1] as number);
      }
      // a day's total equals the mean rate times 24 h, to within the gauge's measurement noise
      const meanFlow = flow.reduce((a, b) => a + b, 0) / flow.length;
      const meanPower = power.reduce((a, b) => a + b, 0) / power.length;
      expect(((volume.at(-1) as number) - (volume[0] as number)) / 24).toBeCloseTo(meanFlow, -1);
      expect(((energy.at(-1) as number) - (energy[0] as number)) / 24 / meanPower).toBeCloseTo(1, 2);
    }
  });

  it('increase for every industry profile, second by second and across a whole week', () => {
    for (const industry of INDUSTRIES as readonly Industry[]) {
      const synthetic: Plant = {
        id: `x-${industry}`,
        name: { en: industry, zh: industry },
        region: 'r',
        industry,
        outfalls: [{ id: 'o' }],
        stacks: [],
        meters: [
          { id: 'flow', location: 'o', quantities: ['wastewater_volume'] },
          { id: 'power', location: 'site', quantities: ['active_energy'] },
        ],
      };
      for (const [meter, q] of [['flow', 'wastewater_volume'], ['power', 'active_energy']] as const) {
        for (const [step, count] of [[10 * MINUTE, 7 * 144], [1000, 300]] as const) {
          const v = series(synthetic, meter, q, TUESDAY, step, count, 3);
          for (let i = 1; i < v.length; i++) expect(v[i], `${industry} ${q} at step ${i}`).toBeGreaterThan(v[i - 1] as number);
        }
      }
    }
  });

  it('hold their commissioning value before the counter origin', () => {
    const v = series(plant('paper-01'), 'main-power', 'active_energy', COUNTER_ORIGIN_MS - DAY, HOUR, 25);
    expect(new Set(v).size).toBe(1);
    expect(createPlantModel(plant('paper-01'), 7).sample('main-power', 'active_energy', COUNTER_ORIGIN_MS + HOUR).value).toBeGreaterThan(v[0] as number);
  });
});
