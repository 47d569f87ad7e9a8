import { describe, expect, it } from 'vitest';
import { registryPlant, testRegistry } from './test-support.ts';
import { pairedOutfalls, type LoadSums } from '../core/reduction-figure.ts';
import { monthOf, monthsBetween, monthStart, reductionRows, reductionsCsv, regionTotals, type ReductionRow } from './reductions.ts';

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

describe('reductions summed from loads', () => {
  it('pairs each pollutant with the outfalls where a flow meter measures it too', () => {
    expect(pairedOutfalls(registryPlant, 'cod')).toEqual(['outfall-1']);
    expect(pairedOutfalls(registryPlant, 'nh3n')).toEqual(['outfall-1']);
  });

  const NOW = monthStart('2024-04') + 10 * HOUR;
  const months = ['2024-02', '2024-03', '2024-04'];
  const sums = new Map<string, LoadSums>([
    // March: 2 t over 20,000 m3, 700 of its 744 hours
    ['paper-01\u0000outfall-1\u0000cod\u00002024-03', { kg: 2000, m3: 20_000, seconds: 700 * 3600 }],
    // April so far: 0.3 t over 5,000 m3 in 9.5 of its 10 hours
    ['paper-01\u0000outfall-1\u0000cod\u00002024-04', { kg: 300, m3: 5_000, seconds: 9.5 * 3600 }],
    ['paper-01\u0000outfall-1\u0000nh3n\u00002024-04', { kg: 10, m3: 2_000, seconds: 3600 }],
  ]);
  const baselineOf = (plant: string, pollutant: string) => (plant === 'paper-01' && pollutant === 'cod' ? 120 : undefined);
  const rows = reductionRows(testRegistry.plants, months, sums, baselineOf, NOW);
  const row = (pollutant: string, month: string) => rows.find((r) => r.pollutant === pollutant && r.month === month)!;

  it('reports what the covered time discharged against the baseline over the same volume, with its coverage', () => {
    // baseline 120 mg/L × 20,000 m3 = 2.4 t
    expect(row('cod', '2024-03')).toMatchObject({ dischargedTonnes: 2, baselineTonnes: 2.4, volumeM3: 20_000, coveredHours: 700, hours: 744, partial: false });
    expect(row('cod', '2024-03').reductionTonnes).toBeCloseTo(0.4, 12);
    expect(row('cod', '2024-03').coverage).toBeCloseTo(700 / 744, 12);
    // the month so far: 10 hours; 9.5 covered is 95 %
    expect(row('cod', '2024-04')).toMatchObject({ dischargedTonnes: 0.3, baselineTonnes: 0.6, reductionTonnes: 0.3, reductionShare: 0.5, coveredHours: 9.5, hours: 10, coverage: 0.95, partial: false });
  });

  it('marks a figure partial below 90 % coverage, and gives no figure for a month without data (null, not 0)', () => {
    expect(row('nh3n', '2024-04')).toMatchObject({ dischargedTonnes: 0.01, baselineTonnes: null, reductionTonnes: null, reductionShare: null, coverage: 0.1, partial: true });
    expect(row('cod', '2024-02')).toMatchObject({ dischargedTonnes: null, baselineTonnes: null, reductionTonnes: null, volumeM3: null, coveredHours: 0, coverage: 0, partial: true });
  });

  it('sums plants into regions, counting baselines of the plants that have one and every plant in the coverage, and writes CSV', () => {
    const plantRow = (plant: string, dischargedTonnes: number | null, baselineTonnes: number | null, coverage: number): ReductionRow => ({
      month: '2024-03', region: 'hebei', plant, pollutant: 'cod', dischargedTonnes, baselineTonnes,
      reductionTonnes: baselineTonnes === null || dischargedTonnes === null ? null : baselineTonnes - dischargedTonnes,
      reductionShare: null, volumeM3: dischargedTonnes === null ? null : 100, coveredHours: 744 * coverage, hours: 744, coverage, partial: coverage < 0.9,
    });
    const [total] = regionTotals([plantRow('a', 1, 4, 1), plantRow('b', 2, null, 1), plantRow('c', null, null, 0)]);
    expect(total).toMatchObject({ plant: '*', dischargedTonnes: 3, baselineTonnes: 4, reductionTonnes: 3, reductionShare: 0.75, volumeM3: 200, partial: true });
    expect(total!.coverage).toBeCloseTo(2 / 3, 12);
    expect(regionTotals([plantRow('c', null, null, 0)])[0]).toMatchObject({ dischargedTonnes: null, baselineTonnes: null, coverage: 0 });
    expect(reductionsCsv([total!, plantRow('c', null, null, 0)])).toBe(
      'month,region,plant,pollutant,discharged_t,baseline_t,reduction_t,reduction_share,volume_m3,covered_hours,hours,coverage,partial\r\n' +
        '2024-03,hebei,*,cod,3,4,3,0.75,200,496,744,0.6667,true\r\n' +
        '2024-03,hebei,c,cod,,,,,,0,744,0,true\r\n',
    );
  });
});
