import { describe, expect, it } from 'vitest';
import type { BatchReading } from '../core/reading.ts';
import { integrateInterval, LoadCalculator, loadLine } from './loads.ts';
import { twoOutfallWorks } from '../test/harness/plants.ts';

const MIN = 60_000;
const registry = twoOutfallWorks();

const r = (meter: string, quantity: BatchReading['quantity'], value: number | null, ts: number, quality: BatchReading['quality'] = 'good'): BatchReading => ({ meter, quantity, value, unit: quantity === 'wastewater_flow' ? 'm3/h' : 'mg/L', ts, quality });
const asIs = (): number => 1;

const GAP = 15_000;
const opts = (o: Partial<{ graceMs: number; idleCloseMs: number; maxGapMs: number }> = {}) => ({ intervalMs: MIN, graceMs: 5_000, idleCloseMs: 60_000, maxGapMs: GAP, ...o });

describe('pollutant loads', () => {
  it('integrates each flow step × the concentration held over it, over the time both are known', () => {
    // 36 m3/h for 30 s, 72 m3/h for 30 s (the sample at 60 s ends the step): 0.3 + 0.6 = 0.9 m3; COD 100 then 200 mg/L: 30 g + 120 g.
    const load = integrateInterval(0, MIN, [[30_000, 72], [0, 36], [MIN, 0]], new Map([['cod', [[0, 100], [30_000, 200], [MIN, 0]]]]), 30_000);
    expect(load?.volumeM3).toBeCloseTo(0.9, 12);
    expect(load?.flowSeconds).toBe(60);
    expect(load?.pollutants.cod?.kg).toBeCloseTo(0.15, 12);
    expect(load?.pollutants.cod?.seconds).toBe(60);
    expect(load?.pollutants.nh3n).toBeUndefined();
    expect(integrateInterval(0, MIN, [], new Map([['cod', [[0, 100]]]]), GAP)).toBeUndefined();
  });

  it('does not stretch the first and last samples over the whole interval: only the time between samples counts', () => {
    // 36 m3/h sampled at 20, 30 and 40 s: known for 20 s, 0.2 m3 (not the minute's 0.6 m3)
    const load = integrateInterval(0, MIN, [[20_000, 36], [30_000, 36], [40_000, 36]], new Map([['cod', [[20_000, 100], [30_000, 100], [40_000, 100]]]]), GAP);
    expect(load?.volumeM3).toBeCloseTo(0.2, 12);
    expect(load?.flowSeconds).toBe(20);
    expect(load?.pollutants.cod).toEqual({ kg: expect.closeTo(0.02, 12), volumeM3: expect.closeTo(0.2, 12), seconds: 20 });
  });

  it('leaves a gap longer than maxGapMs unfilled, and counts a pollutant only while its concentration is known', () => {
    // flow every 10 s except 20..40 s (a 20-s outage, longer than the 15-s bound): known 0-20 and 40-60 s
    const flow: [number, number][] = [[0, 36], [10_000, 36], [20_000, 36], [40_000, 36], [50_000, 36], [MIN, 36]];
    // COD only from 40 s
    const load = integrateInterval(0, MIN, flow, new Map([['cod', [[40_000, 100], [50_000, 100], [MIN, 100]]]]), GAP);
    expect(load?.flowSeconds).toBe(40);
    expect(load?.volumeM3).toBeCloseTo(0.4, 12);
    expect(load?.pollutants.cod).toEqual({ kg: expect.closeTo(0.02, 12), volumeM3: expect.closeTo(0.2, 12), seconds: 20 });
  });

  it('splits a step that crosses an interval boundary between the two intervals', () => {
    const calc = new LoadCalculator(registry, opts({ graceMs: 0, maxGapMs: 30_000 }));
    calc.add('p1', [r('f1', 'wastewater_flow', 36, 50_000), r('c1', 'cod', 100, 50_000)], asIs);
    calc.add('p1', [r('f1', 'wastewater_flow', 36, 70_000), r('c1', 'cod', 100, 70_000)], asIs);
    const loads = calc.closeAll();
    expect(loads.map((l) => [l.start, l.flowSeconds, l.pollutants.cod?.seconds])).toEqual([
      [0, 10, 10],
      [MIN, 10, 10],
    ]);
    expect(loads[0]!.volumeM3).toBeCloseTo(0.1, 12);
  });

  it('pairs meters by registry location, computes an interval once readings are max(grace, maxGap) past its end, and counts late readings', () => {
    const calc = new LoadCalculator(registry, opts({ graceMs: 5_000, maxGapMs: GAP }));
    expect(calc.add('p1', [r('f1', 'wastewater_flow', 60, 0), r('c1', 'cod', 50, 0), r('c2', 'cod', 999, 0), r('power', 'active_power', 5, 0)], asIs)).toEqual([]);
    expect(calc.add('p1', [r('c1', 'nh3n', 4, 0), r('c1', 'cod', 7777, 20_000, 'bad')], asIs)).toEqual([]);
    for (let t = 10_000; t <= 70_000; t += 10_000) expect(calc.add('p1', [r('f1', 'wastewater_flow', 60, t), r('c1', 'cod', 50, t), r('c1', 'nh3n', 4, t)], asIs)).toEqual([]);
    const closed = calc.add('p1', [r('f1', 'wastewater_flow', 60, 75_000)], asIs); // 15 s (maxGap) past the minute
    expect(closed).toHaveLength(1);
    expect(closed[0]).toMatchObject({ plant: 'p1', outfall: 'outfall-1', start: 0, flowSeconds: 60 });
    expect(closed[0]!.volumeM3).toBeCloseTo(1, 12); // 60 m3/h for a minute
    expect(closed[0]!.pollutants.cod?.kg).toBeCloseTo(0.05, 12);
    expect(closed[0]!.pollutants.nh3n?.kg).toBeCloseTo(0.004, 12);
    calc.add('p1', [r('c1', 'cod', 10, 59_000)], asIs);
    expect(calc.lateReadings).toBe(1);
    const rest = calc.closeAll();
    expect(rest.map((l) => [l.start, l.flowSeconds])).toEqual([[MIN, 15]]);
    expect(loadLine(closed[0]!)).toMatch(/^loads,outfall=outfall-1,plant=p1 volume_m3=[\d.]+,flow_s=60,cod_kg=[\d.]+,cod_m3=[\d.]+,cod_s=60,nh3n_kg=[\d.]+,nh3n_m3=[\d.]+,nh3n_s=60 0$/);
  });

  it('writes no row for an outfall whose flow was never known over a step (a single sample)', () => {
    const calc = new LoadCalculator(registry, opts());
    calc.add('p1', [r('f1', 'wastewater_flow', 60, 0), r('c1', 'cod', 50, 0)], asIs);
    expect(calc.closeAll()).toEqual([]);
  });

  it('computes the open intervals of an outfall that went silent (wall clock)', () => {
    const calc = new LoadCalculator(registry, opts({ graceMs: 0, idleCloseMs: 1000 }));
    calc.add('p1', [r('f1', 'wastewater_flow', 60, 0), r('f1', 'wastewater_flow', 60, 10_000)], asIs, 10_000);
    expect(calc.closeIdle(10_500)).toEqual([]);
    expect(calc.closeIdle(11_000).map((l) => [l.start, l.flowSeconds])).toEqual([[0, 10]]);
  });
});
