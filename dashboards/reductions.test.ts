import { describe, expect, it } from 'vitest';
import { registryPlant } from './test-support.ts';
import { loadPairs, loadsCsv, monthlyLoads, monthOf, monthsBetween, monthStart, regionTotals, type LoadRow } from './reductions.ts';

const HOUR = 3_600_000;

describe('months in China Standard Time', () => {
  it('starts a month at midnight UTC+8 and places instants by that clock', () => {
    expect(monthStart('2024-03')).toBe(Date.parse('2024-02-29T16:00:00Z'));
    expect(monthOf(Date.parse('2024-03-31T16:30:00Z'))).toBe('2024-04');
    expect(monthOf(Date.parse('2024-03-31T15:59:59Z'))).toBe('2024-03');
    expect(monthsBetween('2023-11', '2024-02')).toEqual(['2023-11', '2023-12', '2024-01', '2024-02']);
  });

  it('refuses inverted, malformed and unbounded windows with 400', () => {
    const status = (fn: () => unknown) => {
      try {
        fn();
        return 200;
      } catch (err) {
        return (err as { statusCode: number }).statusCode;
      }
    };
    expect(status(() => monthsBetween('2024-03', '2024-02'))).toBe(400);
    expect(status(() => monthStart('2024-3'))).toBe(400);
    expect(status(() => monthsBetween('2020-01', '2024-01'))).toBe(400);
  });
});

describe('loads', () => {
  it('pairs each pollutant meter with the flow meter at the same outfall', () => {
    expect(loadPairs(registryPlant).map((p) => [p.pollutant, p.concentrationMeter, p.flowMeter])).toEqual([
      ['cod', 'outfall-1-cod', 'outfall-1-flow'],
      ['nh3n', 'outfall-1-nh3n', 'outfall-1-flow'],
    ]);
  });

  it('counts only hours with both a concentration and a flow: mg/L × m3/h × 1 h / 1000 = kg', () => {
    const t0 = monthStart('2024-03');
    const concentration = new Map([
      [t0, 100],
      [t0 + HOUR, 200],
      [t0 + 2 * HOUR, 300],
    ]);
    const flow = new Map([
      [t0, 50],
      [t0 + HOUR, 10],
    ]);
    expect(monthlyLoads(concentration, flow)).toEqual(new Map([['2024-03', { kg: 5 + 2, coveredHours: 2 }]]));
  });

  it('sums plants into regions and writes CSV', () => {
    const row = (plant: string, tonnes: number, previousTonnes: number | null): LoadRow => ({ month: '2024-03', region: 'hebei', plant, pollutant: 'cod', tonnes, coveredHours: 744, hours: 744, previousTonnes, change: null });
    const [total] = regionTotals([row('a', 1, 2), row('b', 2, 2)]);
    expect(total).toMatchObject({ plant: '*', tonnes: 3, previousTonnes: 4, change: -0.25 });
    expect(loadsCsv([total!])).toBe('month,region,plant,pollutant,tonnes,covered_hours,hours,previous_tonnes,change\r\n2024-03,hebei,*,cod,3,744,744,4,-0.25\r\n');
  });
});
