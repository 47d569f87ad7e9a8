import { describe, expect, it } from 'vitest';
import { plantRegistryFrom } from '../core/plants.ts';
import type { BatchReading } from '../core/reading.ts';
import { integrateInterval, LoadCalculator, loadLine } from './loads.ts';

const MIN = 60_000;
const registry = plantRegistryFrom('test', {
  plants: [
    {
      id: 'p1',
      name: { en: 'P1', zh: 'P1' },
      region: 'r',
      industry: 'chemicals',
      outfalls: [{ id: 'outfall-1' }, { id: 'outfall-2' }],
      meters: [
        { id: 'f1', location: 'outfall-1', quantities: ['wastewater_flow', 'wastewater_volume'] },
        { id: 'c1', location: 'outfall-1', quantities: ['cod', 'nh3n'] },
        { id: 'c2', location: 'outfall-2', quantities: ['cod'] },
        { id: 'power', location: 'site', quantities: ['active_power'] },
      ],
    },
  ],
});
const r = (meter: string, quantity: BatchReading['quantity'], value: number | null, ts: number, quality: BatchReading['quality'] = 'good'): BatchReading => ({ meter, quantity, value, unit: quantity === 'wastewater_flow' ? 'm3/h' : 'mg/L', ts, quality });
const asIs = (): number => 1;

describe('pollutant loads', () => {
  it('integrates piecewise-constant flow × the latest concentration over the interval', () => {
    // 36 m3/h for the first 30 s, 72 m3/h after: 0.3 + 0.6 = 0.9 m3; COD 100 then 200 mg/L: 30 g + 120 g.
    const load = integrateInterval(0, MIN, [[30_000, 72], [0, 36]], new Map([['cod', [[0, 100], [30_000, 200]]]]));
    expect(load?.volumeM3).toBeCloseTo(0.9, 12);
    expect(load?.kg.cod).toBeCloseTo(0.15, 12);
    expect(load?.kg.nh3n).toBeUndefined();
    expect(integrateInterval(0, MIN, [], new Map([['cod', [[0, 100]]]]))).toBeUndefined();
  });

  it('pairs meters by registry location, closes an interval once readings are graceMs past its end, and counts late readings', () => {
    const calc = new LoadCalculator(registry, { intervalMs: MIN, graceMs: 5_000, idleCloseMs: 60_000 });
    expect(calc.add('p1', [r('f1', 'wastewater_flow', 60, 0), r('c1', 'cod', 50, 0), r('c2', 'cod', 999, 0), r('power', 'active_power', 5, 0)], asIs)).toEqual([]);
    expect(calc.add('p1', [r('c1', 'nh3n', 4, 10_000), r('c1', 'cod', 7777, 20_000, 'bad')], asIs)).toEqual([]);
    expect(calc.add('p1', [r('f1', 'wastewater_flow', 60, 64_000)], asIs)).toEqual([]); // within grace
    const closed = calc.add('p1', [r('f1', 'wastewater_flow', 60, 65_000)], asIs);
    expect(closed).toHaveLength(1);
    expect(closed[0]).toMatchObject({ plant: 'p1', outfall: 'outfall-1', start: 0 });
    expect(closed[0]!.volumeM3).toBeCloseTo(1, 12); // 60 m3/h for a minute
    expect(closed[0]!.kg.cod).toBeCloseTo(0.05, 12);
    expect(closed[0]!.kg.nh3n).toBeCloseTo(0.004, 12);
    calc.add('p1', [r('c1', 'cod', 10, 59_000)], asIs);
    expect(calc.lateReadings).toBe(1);
    const rest = calc.closeAll();
    expect(rest.map((l) => l.start)).toEqual([MIN]);
    expect(loadLine(closed[0]!)).toMatch(/^loads,outfall=outfall-1,plant=p1 volume_m3=1(\.0+\d*)?,cod_kg=0\.05\d*,nh3n_kg=0\.004\d* 0$/);
  });

  it('closes the open intervals of an outfall that went silent (wall clock)', () => {
    const calc = new LoadCalculator(registry, { intervalMs: MIN, graceMs: 0, idleCloseMs: 1000 });
    calc.add('p1', [r('f1', 'wastewater_flow', 60, 0)], asIs, 10_000);
    expect(calc.closeIdle(10_500)).toEqual([]);
    expect(calc.closeIdle(11_000).map((l) => l.start)).toEqual([0]);
  });
});
