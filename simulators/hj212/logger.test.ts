import { describe, expect, it } from 'vitest';
import { paperMillPlants } from '../../test/harness/plants.ts';
import { createPlantModel } from '../model.ts';
import { modelValueFunction, packetValues } from './logger.ts';

const T0 = Date.UTC(2024, 4, 1, 0, 0, 0);

describe('simulated HJ 212 logger values', () => {
  it('sends Avg/Min/Max of its samples over the interval, and Cou = mean flow × interval for flow codes', () => {
    const ramp = (_code: string, t: number): number => 100 + (t - T0) / 10_000; // L/s, +1 every 10 s
    expect(packetValues('2051', 'w00000', T0, 60_000, ramp, 6, 3)).toEqual({ Avg: 102.5, Min: 100, Max: 105, Cou: 6.15 });
    expect(packetValues('2051', 'w01018', T0, 60_000, ramp, 6, 3)).toEqual({ Avg: 102.5, Min: 100, Max: 105 });
    expect(packetValues('2011', 'w01018', T0 + 30_000, 30_000, ramp, 6, 3)).toEqual({ Rtd: 103 });
  });

  it('converts a registry plant model from canonical units to the HJ 212 unit of each code', () => {
    const registry = paperMillPlants();
    const model = createPlantModel(registry.plant('paper-01')!, 3);
    const value = modelValueFunction(model, { w00000: 'outfall-1-flow', w01018: 'outfall-1-cod' });
    expect(value('w00000', T0)).toBeCloseTo(model.sample('outfall-1-flow', 'wastewater_flow', T0).value / 3.6, 9); // m3/h -> L/s
    expect(value('w01018', T0)).toBe(model.sample('outfall-1-cod', 'cod', T0).value);
    expect(() => value('w21003', T0)).toThrow(/w21003/);
  });
});
