import { describe, expect, it } from 'vitest';
import { registryPlant, testRegistry } from './test-support.ts';
import { loadPairs, monthlyLoads, monthOf, monthsBetween, monthStart, reductionRows, reductionsCsv, regionTotals, type MonthLoad, type ReductionRow, type RulesReduction } from './reductions.ts';

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
    expect(monthlyLoads(concentration, flow)).toEqual(new Map([['2024-03', { kg: 5 + 2, coveredHours: 2, volumeM3: 60 }]]));
  });

});

describe('reductions against baseline', () => {
  const NOW = monthStart('2024-04') + 10 * HOUR;
  const months = ['2024-03', '2024-04'];
  // the dashboard's own figures: March 2 t over 20,000 m3 (100 mg/L), April 0.3 t over 5,000 m3
  const computed = new Map<string, MonthLoad>([
    ['paper-01\u0000cod\u00002024-03', { kg: 2000, coveredHours: 700, volumeM3: 20_000 }],
    ['paper-01\u0000cod\u00002024-04', { kg: 300, coveredHours: 10, volumeM3: 5_000 }],
  ]);
  const fromRules = new Map<string, RulesReduction>([['paper-01\u0000cod\u00002024-03', { dischargedTonnes: 2.1, baselineTonnes: 2.4, reductionTonnes: 0.3, coveredHours: 720, hasBaseline: true }]]);
  const baselineOf = (plant: string, pollutant: string) => (plant === 'paper-01' && pollutant === 'cod' ? 120 : undefined);
  const rows = reductionRows(testRegistry.plants, months, computed, fromRules, baselineOf, NOW);
  const row = (pollutant: string, month: string) => rows.find((r) => r.pollutant === pollutant && r.month === month)!;

  it('reports rules\' figures where rules wrote the month, with the dashboard\'s own as the cross-check', () => {
    expect(row('cod', '2024-03')).toMatchObject({ source: 'rules', dischargedTonnes: 2.1, baselineTonnes: 2.4, coveredHours: 720, computedTonnes: 2, hours: 31 * 24 });
    expect(row('cod', '2024-03').reductionTonnes).toBeCloseTo(0.3, 12);
    expect(row('cod', '2024-03').reductionShare).toBeCloseTo(0.125, 12);
  });

  it('falls back to its own load against the baseline concentration over the same volume where rules has not written', () => {
    // baseline 120 mg/L × 5,000 m3 = 0.6 t; discharged 0.3 t; the month so far: 10 hours
    expect(row('cod', '2024-04')).toMatchObject({ source: 'dashboard', dischargedTonnes: 0.3, baselineTonnes: 0.6, reductionTonnes: 0.3, reductionShare: 0.5, coveredHours: 10, hours: 10 });
    // no baseline for NH3-N: no reduction, not a zero one
    expect(row('nh3n', '2024-04')).toMatchObject({ source: 'dashboard', dischargedTonnes: 0, baselineTonnes: null, reductionTonnes: null, reductionShare: null });
  });

  it('sums plants into regions, counting baselines of the plants that have one, and writes CSV', () => {
    const row = (plant: string, dischargedTonnes: number, baselineTonnes: number | null, source: ReductionRow['source']): ReductionRow => ({
      month: '2024-03', region: 'hebei', plant, pollutant: 'cod', dischargedTonnes, baselineTonnes, reductionTonnes: baselineTonnes === null ? null : baselineTonnes - dischargedTonnes,
      reductionShare: null, coveredHours: 744, hours: 744, source, computedTonnes: dischargedTonnes,
    });
    const [total] = regionTotals([row('a', 1, 4, 'rules'), row('b', 2, null, 'dashboard')]);
    expect(total).toMatchObject({ plant: '*', dischargedTonnes: 3, baselineTonnes: 4, reductionTonnes: 3, reductionShare: 0.75, source: 'mixed' });
    expect(reductionsCsv([total!])).toBe(
      'month,region,plant,pollutant,discharged_t,baseline_t,reduction_t,reduction_share,covered_hours,hours,source,computed_t\r\n2024-03,hebei,*,cod,3,4,3,0.75,744,744,mixed,3\r\n',
    );
  });
});
