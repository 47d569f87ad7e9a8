import { describe, expect, it } from 'vitest';
import { BaselineBook } from '../baselines.ts';
import type { EngineSnapshot } from '../engine.ts';
import { harness, MIN, T0, type Step } from '../test-support.ts';

const H = 60 * MIN;
const volume = (ts: number, v: number, plant = 'steel-01'): Step => ({ ts, v, plant, meter: 'outfall-1-flow', quantity: 'wastewater_volume', unit: 'm3' });
const flow = (ts: number, v: number, plant = 'steel-01'): Step => ({ ts, v, plant, meter: 'outfall-1-flow', quantity: 'wastewater_flow', unit: 'm3/h' });
const produced = (ts: number, v: number, plant = 'steel-01'): Step => ({ ts, v, plant, meter: 'production', quantity: 'production_total', unit: 't' });
const rate = (ts: number, v: number, plant = 'steel-01'): Step => ({ ts, v, plant, meter: 'production', quantity: 'production_rate', unit: 't/h' });

/** Plant values for the indicators without industry data (demo figures for the tests). */
const book = new BaselineBook([
  { plant: 'paper-01', indicator: 'energy_kgce_per_t', level: 'plant', value: 100, verified: false },
  { plant: 'dyeing-01', indicator: 'cod_kg_per_t', level: 'plant', value: 15, verified: false },
  { industry: 'steel', indicator: 'water_m3_per_t', level: 'III', value: 4.8, verified: true },
  { industry: 'steel', indicator: 'water_m3_per_t', level: 'I', value: 3.1, verified: true },
]);

describe('intensity rule (per unit of product, against the clean-production baseline)', () => {
  // steel-01's industry, level III: 4.8 m3/t (GB/T 18916 general value); raised above +10%, i.e. 5.28
  const water = { id: 'water-intensity', kind: 'intensity', severity: 'minor', selector: { industries: ['steel'] }, indicator: 'water_m3_per_t', level: 'III', windowMs: H, marginPct: 10 };

  it('divides the wastewater counter\'s increase by the production counter\'s, per window, judged once both have passed its end', () => {
    const h = harness([water], { baselines: book });
    // hour 1: 600 m3 for 100 t = 6 m3/t; a flow meter saying otherwise is not used while the counter has data
    expect(h.feed([volume(T0, 1000), produced(T0, 0), flow(T0, 9000), volume(T0 + 30 * MIN, 1300), produced(T0 + 30 * MIN, 50), volume(T0 + H, 1600), flow(T0 + H, 9000)])).toEqual([]);
    expect(h.feed([produced(T0 + H, 100)])).toEqual([`raised water-intensity production 6@${T0 + H} limit=${4.8 * 1.1}`]);
    // hour 2: 500 m3 for 100 t = 5 m3/t, above the baseline but within the margin: still raised, no transition
    expect(h.feed([volume(T0 + 2 * H, 2100), produced(T0 + 2 * H, 200)])).toEqual([]);
    // hour 3: 400 m3 for 100 t = 4 m3/t, back at or under the baseline: cleared
    expect(h.feed([volume(T0 + 3 * H, 2500), produced(T0 + 3 * H, 300)])).toEqual([`cleared water-intensity production 4@${T0 + 3 * H}`]);
  });

  it('integrates flow and production rate where there are no counters, sharing a step across the window boundary by time', () => {
    const h = harness([{ ...water, level: 'I', marginPct: 50, maxGapMs: H }], { baselines: book });
    // flow 600 m3/h for 40 min (400 m3), then 300 m3/h for 40 min: 20 min (100 m3) in hour 1, 20 min in hour 2
    // production 100 t/h: 100 t in hour 1. 500 m3 / 100 t = 5 m3/t, above 3.1 × 1.5 = 4.65
    const out = h.feed([flow(T0, 600), rate(T0, 100), rate(T0 + 30 * MIN, 100), flow(T0 + 40 * MIN, 300), rate(T0 + H, 100), flow(T0 + 80 * MIN, 300)]);
    expect(out).toEqual([`raised water-intensity production 5@${T0 + H} limit=${3.1 * 1.5}`]);
  });

  it('converts electricity and steam to standard coal for comprehensive energy (kgce/t)', () => {
    const energy = { id: 'energy-intensity', kind: 'intensity', severity: 'major', selector: { plants: ['paper-01'] }, indicator: 'energy_kgce_per_t', windowMs: H, marginPct: 20, maxGapMs: H };
    const h = harness([energy], { baselines: book });
    const kwh = (ts: number, v: number): Step => ({ ts, v, plant: 'paper-01', meter: 'main-power', quantity: 'active_energy', unit: 'kWh' });
    const steam = (ts: number, v: number): Step => ({ ts, v, plant: 'paper-01', meter: 'steam-main', quantity: 'steam_flow', unit: 't/h' });
    // 10,000 kWh × 0.1229 + 2 t of steam × 95 kgce/t (paper-01's own coefficient) = 1,419 kgce, for 10 t: 141.9 kgce/t
    const out = h.feed([kwh(T0, 50_000), steam(T0, 2), produced(T0, 1000, 'paper-01'), kwh(T0 + H, 60_000), steam(T0 + H, 2), produced(T0 + H, 1010, 'paper-01')]);
    expect(out).toEqual([`raised energy-intensity production 141.9@${T0 + H} limit=120`]);
    expect(h.transitions[0]!.alert.message.en).toBe('Comprehensive energy per tonne of product at Baoding Paper Mill: 141.9 kgce/t over 1 h is more than 20% above the plant\'s baseline (alert above 120 kgce/t)');
  });

  it('takes the COD load as the window\'s mean concentration times its volume, and does not judge a window without production', () => {
    const cod = { id: 'cod-intensity', kind: 'intensity', severity: 'major', selector: { plants: ['dyeing-01'] }, indicator: 'cod_kg_per_t', windowMs: H, marginPct: 20 };
    const h = harness([cod], { baselines: book });
    const mgl = (ts: number, v: number): Step => ({ ts, v, plant: 'dyeing-01', meter: 'outfall-1-cod', quantity: 'cod', unit: 'mg/L' });
    // mean 250 mg/L × 400 m3 / 1000 = 100 kg, for 5 t: 20 kg/t, above 15 × 1.2 = 18
    const hour1 = [mgl(T0, 200), mgl(T0 + 30 * MIN, 300), volume(T0, 0, 'dyeing-01'), produced(T0, 0, 'dyeing-01'), volume(T0 + H, 400, 'dyeing-01'), produced(T0 + H, 5, 'dyeing-01'), mgl(T0 + H, 100)];
    expect(h.feed(hour1)).toEqual([`raised cod-intensity production 20@${T0 + H} limit=18`]);
    // hour 2: the line stood still (no production): no verdict, the alert stays as it is
    expect(h.feed([volume(T0 + 2 * H, 500, 'dyeing-01'), produced(T0 + 2 * H, 5, 'dyeing-01'), mgl(T0 + 2 * H, 100)])).toEqual([]);
    expect(h.engine.openAlerts().map((a) => a.rule)).toEqual(['cod-intensity']);
  });

  it('keeps its windows across a restart from a snapshot taken mid-window', () => {
    const steps = [volume(T0, 1000), produced(T0, 0), volume(T0 + 30 * MIN, 1300), produced(T0 + 30 * MIN, 50), volume(T0 + H, 1600), produced(T0 + H, 100)];
    const reference = harness([water], { baselines: book }).feed(steps);
    const first = harness([water], { baselines: book });
    first.feed(steps.slice(0, 4));
    const snap = JSON.parse(JSON.stringify(first.engine.snapshot())) as EngineSnapshot;
    const second = harness([water], { baselines: book }, snap);
    expect(second.feed(steps.slice(4))).toEqual(reference);
    expect(reference).toHaveLength(1);
  });
});
