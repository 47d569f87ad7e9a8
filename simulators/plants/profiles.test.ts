/**
 * The cement, thermal power and chemicals profiles: values in the bands their standards allow, shaped by their
 * production schedules (deep load cuts, planned maintenance stops), and reproducible from the seed.
 */
import { describe, expect, it } from 'vitest';
import type { QuantityId } from '../../core/catalog.ts';
import type { Industry, Plant } from '../../core/plants.ts';
import { createPlantModel, type PlantModel } from '../model.ts';
import { INDUSTRY_PROFILES } from './index.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Tuesday 2026-03-03 00:00 China Standard Time. */
const TUESDAY = Date.UTC(2026, 2, 2, 16);

const WATER: QuantityId[] = ['wastewater_flow', 'wastewater_volume', 'cod', 'nh3n', 'ph'];
const POWER: QuantityId[] = ['active_power', 'active_energy'];
const STACK: QuantityId[] = ['flue_gas_flow', 'o2', 'so2', 'nox', 'particulate'];

function plantOf(industry: Industry, id = `${industry}-01`): Plant {
  return {
    id,
    name: { en: industry, zh: industry },
    region: 'r',
    industry,
    outfalls: [{ id: 'outfall-1' }],
    stacks: [{ id: 'stack-1' }],
    meters: [
      { id: 'outfall', location: 'outfall-1', quantities: WATER },
      { id: 'power', location: 'site', quantities: POWER },
      { id: 'cems', location: 'stack-1', quantities: STACK },
    ],
  };
}
const meterOf = (q: QuantityId): string => (WATER.includes(q) ? 'outfall' : POWER.includes(q) ? 'power' : 'cems');

/** Samples every `step` over `span` from TUESDAY. */
function series(model: PlantModel, q: QuantityId, span: number, step: number): { t: number; v: number }[] {
  return Array.from({ length: Math.floor(span / step) }, (_, i) => {
    const t = TUESDAY + i * step;
    return { t, v: model.sample(meterOf(q), q, t).value };
  });
}
const values = (s: { v: number }[]) => s.map((x) => x.v);
const share = (v: number[], lo: number, hi: number) => v.filter((x) => x >= lo && x <= hi).length / v.length;
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

/** Long enough to hold at least one maintenance cycle of each profile. */
function cycleSpan(industry: Industry): number {
  const stops = INDUSTRY_PROFILES[industry].shifts.maintenance;
  if (!stops) throw new Error(`${industry} has no maintenance stops`);
  return (stops.everyWeeks * 7 + 1) * DAY;
}

describe('cement kiln (GB 4915-2013 kiln limits PM 30, SO2 200, NOx 400 mg/m3)', () => {
  const model = createPlantModel(plantOf('cement'), 3);
  const span = cycleSpan('cement');
  const running = (q: QuantityId) => values(series(model, q, span, 20 * MINUTE).filter((x) => !model.stopped(x.t)));

  it('keeps the kiln stack under its limits, NOx where SNCR holds it and dust near a bag filter’s', () => {
    const nox = running('nox');
    expect(Math.max(...nox)).toBeLessThan(400);
    expect(share(nox, 180, 360)).toBeGreaterThan(0.9);
    expect(Math.max(...running('so2'))).toBeLessThan(200);
    expect(Math.max(...running('particulate'))).toBeLessThan(30);
    expect(share(running('particulate'), 3, 18)).toBeGreaterThan(0.9);
    // kiln tail O2 is high (air in-leakage through the preheater and raw mill)
    expect(share(running('o2'), 8, 13)).toBeGreaterThan(0.9);
  });

  it('discharges only blowdown: tens of m3/h', () => {
    expect(Math.max(...running('wastewater_flow'))).toBeLessThan(100);
  });
});

describe('coal-fired thermal power under the ultra-low emission values (dust 10, SO2 35, NOx 50 mg/m3)', () => {
  const model = createPlantModel(plantOf('thermal-power'), 3);
  const week = (q: QuantityId) => series(model, q, cycleSpan('thermal-power'), 20 * MINUTE);

  it('never reaches the ultra-low values, and sits at the levels retrofitted units report', () => {
    const so2 = values(week('so2'));
    const nox = values(week('nox'));
    const dust = values(week('particulate'));
    expect(Math.max(...so2)).toBeLessThan(35);
    expect(Math.max(...nox)).toBeLessThan(50);
    expect(Math.max(...dust)).toBeLessThan(10);
    expect(share(so2, 8, 32)).toBeGreaterThan(0.9);
    expect(share(nox, 22, 46)).toBeGreaterThan(0.9);
    expect(share(dust, 1, 5)).toBeGreaterThan(0.9);
    expect(share(values(week('o2')), 4, 8)).toBeGreaterThan(0.9);
  });

  it('follows dispatch: night output is cut deep, and O2 rises as the load falls', () => {
    // six hours clear of the shift-change ramps, sampled every ten minutes, on a weekday outside any stop
    const over = (q: QuantityId, fromH: number) => {
      const times = Array.from({ length: 36 }, (_, i) => TUESDAY + fromH * HOUR + i * 10 * MINUTE);
      expect(times.some((t) => model.stopped(t))).toBe(false);
      return mean(times.map((t) => model.sample(meterOf(q), q, t).value));
    };
    expect(over('active_power', 1)).toBeLessThan(over('active_power', 9) * 0.75);
    expect(over('o2', 1)).toBeGreaterThan(over('o2', 9));
  });
});

describe('chemical works (GB 8978-1996 grade 1: COD 100, NH3-N 15 mg/L, pH 6-9)', () => {
  const model = createPlantModel(plantOf('chemicals'), 3);
  const span = cycleSpan('chemicals');
  const all = (q: QuantityId) => values(series(model, q, span, 20 * MINUTE));

  it('keeps treated effluent under the grade 1 limits, COD mostly 30-85', () => {
    const cod = all('cod');
    expect(Math.max(...cod)).toBeLessThan(100);
    expect(share(cod, 30, 85)).toBeGreaterThan(0.9);
    const nh3n = all('nh3n');
    expect(Math.max(...nh3n)).toBeLessThan(15);
    expect(share(nh3n, 1, 10)).toBeGreaterThan(0.9);
    const ph = all('ph');
    expect(Math.min(...ph)).toBeGreaterThan(6);
    expect(Math.max(...ph)).toBeLessThan(9);
  });
});

describe.each(['cement', 'thermal-power', 'chemicals'] as const)('%s maintenance stops', (industry) => {
  const stops = INDUSTRY_PROFILES[industry].shifts.maintenance!;
  const model = createPlantModel(plantOf(industry), 3);
  const span = stops.everyWeeks * 7 * DAY;

  it('stops once per cycle for the scripted number of shifts, starting with a day shift at 08:00', () => {
    const hours = Array.from({ length: span / HOUR }, (_, i) => TUESDAY + i * HOUR + 30 * MINUTE);
    const stoppedHours = hours.filter((t) => model.stopped(t));
    expect(stoppedHours).toHaveLength(stops.shifts * 8);
    // one contiguous stop (it may wrap around the end of the span)
    const starts = hours.filter((t, i) => model.stopped(t) && !model.stopped(hours[(i + hours.length - 1) % hours.length]!));
    expect(starts).toHaveLength(1);
    expect(((starts[0]! - TUESDAY) % DAY) / HOUR).toBe(8.5);
  });

  it('runs at the stop level during a stop, far under the running level, and the meters show it', () => {
    const t = Array.from({ length: span / HOUR }, (_, i) => TUESDAY + i * HOUR + 30 * MINUTE);
    // well inside the stop: past the ramp at its start
    const inside = t.filter((x) => model.stopped(x) && model.stopped(x - 2 * HOUR));
    const outside = t.filter((x) => !model.stopped(x));
    for (const x of inside) expect(model.production(x)).toBeCloseTo(stops.level, 1);
    const power = (ts: number[]) => mean(ts.map((x) => model.sample('power', 'active_power', x).value));
    expect(power(inside)).toBeLessThan(power(outside) * (stops.level + (1 - stops.level) / 3));
  });

  it('keeps counters increasing through the stop', () => {
    const energy = series(model, 'active_energy', span, HOUR).map((x) => x.v);
    const volume = series(model, 'wastewater_volume', span, HOUR).map((x) => x.v);
    for (let i = 1; i < energy.length; i++) {
      expect(energy[i]).toBeGreaterThan(energy[i - 1]!);
      expect(volume[i]).toBeGreaterThan(volume[i - 1]!);
    }
  });

  it('puts each plant’s stop on a day drawn from the seed, so a fleet does not stop at once', () => {
    const firstStop = (id: string) => {
      const m = createPlantModel(plantOf(industry, id), 3);
      for (let h = 0; h < span / HOUR; h++) if (m.stopped(TUESDAY + h * HOUR + 30 * MINUTE)) return h;
      return -1;
    };
    const days = new Set(Array.from({ length: 8 }, (_, i) => firstStop(`${industry}-${i}`)));
    expect(days.size).toBeGreaterThan(3);
  });
});

describe.each(['cement', 'thermal-power', 'chemicals'] as const)('%s determinism', (industry) => {
  it('gives the same value for the same seed, plant, point and time, whatever was sampled before and in any order', () => {
    const times = Array.from({ length: 50 }, (_, i) => TUESDAY + i * 7_919_000);
    const forward = createPlantModel(plantOf(industry), 9);
    const backward = createPlantModel(plantOf(industry), 9);
    for (const q of [...WATER, ...POWER, ...STACK]) {
      const a = times.map((t) => forward.sample(meterOf(q), q, t).value);
      const b = [...times].reverse().map((t) => backward.sample(meterOf(q), q, t).value).reverse();
      expect(a, q).toEqual(b);
    }
  });

  it('gives different values for a different seed', () => {
    const a = createPlantModel(plantOf(industry), 9).sample('cems', 'nox', TUESDAY).value;
    const b = createPlantModel(plantOf(industry), 10).sample('cems', 'nox', TUESDAY).value;
    expect(a).not.toBe(b);
  });
});
