import { describe, expect, it } from 'vitest';
import type { QuantityId } from '../core/catalog.ts';
import { createFaultPlan, excursionShape, type Fault } from './faults.ts';
import { createRegistryModels } from './model.ts';
import { demoPlants } from '../test/harness/plants.ts';

const registry = demoPlants();
const models = createRegistryModels(registry, 9);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = Date.UTC(2024, 5, 3, 16); // Tuesday 00:00 CST
const FROM = T0 + HOUR;
const TO = T0 + 3 * HOUR;
const COD = { plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod' as QuantityId };
const window = { fromMs: FROM, toMs: TO };

const truth = (meter: string, quantity: QuantityId, t: number, plant = 'paper-01'): number => models.get(plant)!.sample(meter, quantity, t).value;
const minutes = (from: number, to: number): number[] => Array.from({ length: Math.floor((to - from) / MINUTE) }, (_, i) => from + i * MINUTE);
const planWith = (...faults: Fault[]) => createFaultPlan(models, faults);

describe('faults leave everything outside their window and target untouched', () => {
  it('samples equal the model before from, at and after to, and on other points', () => {
    const plan = planWith({ ...COD, ...window, kind: 'spike', factor: 5, add: 1 });
    for (const t of [FROM - MINUTE, TO, TO + HOUR]) expect(plan.sample('paper-01', 'outfall-1-cod', 'cod', t)).toEqual({ value: truth('outfall-1-cod', 'cod', t), quality: 'good', ts: t });
    expect(plan.sample('paper-01', 'outfall-1-nh3n', 'nh3n', FROM + MINUTE).value).toBe(truth('outfall-1-nh3n', 'nh3n', FROM + MINUTE));
    expect(plan.sample('dyeing-01', 'outfall-1-cod', 'cod', FROM + MINUTE).value).toBe(truth('outfall-1-cod', 'cod', FROM + MINUTE, 'dyeing-01'));
  });
});

describe('sample faults', () => {
  it('spike multiplies and offsets the value inside the window', () => {
    const plan = planWith({ ...COD, ...window, kind: 'spike', factor: 4, add: 2 });
    for (const t of minutes(FROM, TO)) expect(plan.sample(COD.plant, COD.meter, COD.quantity, t).value).toBeCloseTo(truth(COD.meter, COD.quantity, t) * 4 + 2, 9);
  });

  it('drift adds perHour for every hour since the window opened', () => {
    const plan = planWith({ ...COD, ...window, kind: 'drift', perHour: 6 });
    for (const t of [FROM, FROM + 30 * MINUTE, FROM + 2 * HOUR - MINUTE]) {
      expect(plan.sample(COD.plant, COD.meter, COD.quantity, t).value - truth(COD.meter, COD.quantity, t)).toBeCloseTo((6 * (t - FROM)) / HOUR, 9);
    }
  });

  it('stuck holds the value of the window start with good quality while the true value moves', () => {
    const plan = planWith({ ...COD, ...window, kind: 'stuck' });
    const inside = minutes(FROM, TO);
    const reported = inside.map((t) => plan.sample(COD.plant, COD.meter, COD.quantity, t));
    expect(new Set(inside.map((t) => truth(COD.meter, COD.quantity, t))).size).toBeGreaterThan(10);
    expect(new Set(reported.map((s) => s.value))).toEqual(new Set([truth(COD.meter, COD.quantity, FROM)]));
    expect(reported.every((s) => s.quality === 'good')).toBe(true);
  });

  it('dropout gives no value, bad quality and the Modbus exception to answer', () => {
    const plan = planWith({ ...COD, ...window, kind: 'dropout', exception: 0x04 });
    const s = plan.sample(COD.plant, COD.meter, COD.quantity, FROM);
    expect(s).toMatchObject({ quality: 'bad', missing: 'dropout', exception: 0x04 });
    expect(s.value).toBeNaN();
  });

  it('comm_loss on a plant silences its device and every point, only inside the window', () => {
    const plan = planWith({ plant: 'steel-01', ...window, kind: 'comm_loss' });
    expect(plan.deviceSilent('steel-01', FROM)).toBe(true);
    expect(plan.deviceSilent('steel-01', TO)).toBe(false);
    expect(plan.deviceSilent('paper-01', FROM)).toBe(false);
    for (const meter of registry.plant('steel-01')!.meters) {
      for (const q of meter.quantities) expect(plan.sample('steel-01', meter.id, q, FROM + MINUTE)).toMatchObject({ missing: 'comm_loss', quality: 'bad' });
    }
  });

  it('comm_loss on one meter does not silence the device', () => {
    const plan = planWith({ plant: 'steel-01', meter: 'main-power', ...window, kind: 'comm_loss' });
    expect(plan.deviceSilent('steel-01', FROM)).toBe(false);
    expect(plan.sample('steel-01', 'main-power', 'active_power', FROM).missing).toBe('comm_loss');
    expect(plan.sample('steel-01', 'outfall-1-ph', 'ph', FROM).missing).toBeUndefined();
  });

  it('out_of_range reports the scripted value', () => {
    const plan = planWith({ ...COD, ...window, kind: 'out_of_range', value: 25_000 });
    expect(plan.sample(COD.plant, COD.meter, COD.quantity, FROM + MINUTE).value).toBe(25_000);
  });

  it('nan reports NaN with bad quality', () => {
    const plan = planWith({ plant: 'paper-01', meter: 'outfall-1-ph', ...window, kind: 'nan' });
    const s = plan.sample('paper-01', 'outfall-1-ph', 'ph', FROM);
    expect(s.value).toBeNaN();
    expect(s.quality).toBe('bad');
  });

  it('clock_skew shifts the source timestamp and not the value', () => {
    const plan = planWith({ ...COD, ...window, kind: 'clock_skew', offsetMs: -7 * MINUTE });
    const s = plan.sample(COD.plant, COD.meter, COD.quantity, FROM + HOUR);
    expect(s.ts).toBe(FROM + HOUR - 7 * MINUTE);
    expect(s.value).toBe(truth(COD.meter, COD.quantity, FROM + HOUR));
  });

  it('counter_reset restarts the counter at startAt and keeps totalising the same flow', () => {
    const plan = planWith({ plant: 'paper-01', meter: 'outfall-1-flow', quantity: 'wastewater_volume', ...window, kind: 'counter_reset', startAt: 0 });
    const at = (t: number) => plan.sample('paper-01', 'outfall-1-flow', 'wastewater_volume', t).value;
    expect(at(FROM - MINUTE)).toBeGreaterThan(1_000);
    expect(at(FROM)).toBe(0);
    const later = FROM + 90 * MINUTE;
    expect(at(later)).toBeCloseTo(truth('outfall-1-flow', 'wastewater_volume', later) - truth('outfall-1-flow', 'wastewater_volume', FROM), 6);
    expect(at(later)).toBeGreaterThan(at(FROM + MINUTE));
  });

  it('excursion rises with the lag, reaches the peak and falls back before the window closes', () => {
    const fault: Fault = { ...COD, ...window, kind: 'excursion', peak: 150, riseMs: 30 * MINUTE, fallMs: 30 * MINUTE };
    const plan = planWith(fault);
    const added = (t: number) => plan.sample(COD.plant, COD.meter, COD.quantity, t).value - truth(COD.meter, COD.quantity, t);
    const full = 150 - truth(COD.meter, COD.quantity, FROM);
    expect(added(FROM)).toBeCloseTo(0, 9);
    expect(added(FROM + 15 * MINUTE)).toBeGreaterThan(0.3 * full);
    expect(added(FROM + 15 * MINUTE)).toBeLessThan(0.7 * full);
    expect(added(FROM + HOUR)).toBeCloseTo(full, 9);
    expect(added(TO - MINUTE)).toBeLessThan(0.05 * full);
    expect(excursionShape(fault, FROM + 10 * MINUTE)).toBeLessThan(excursionShape(fault, FROM + 20 * MINUTE));
  });

  it('tampering reports values just under the limit while the true load rises past it', () => {
    const limit = 90;
    const margin = 0.03;
    const upset: Fault = { ...COD, ...window, kind: 'excursion', peak: 160, riseMs: 30 * MINUTE, fallMs: 0 };
    const trueLoad = planWith(upset);
    const tampered = planWith(upset, { ...COD, ...window, kind: 'tampering', limit, margin });
    const ts = minutes(FROM, TO);
    const over = ts.filter((t) => trueLoad.sample(COD.plant, COD.meter, COD.quantity, t).value > limit);
    expect(over.length).toBeGreaterThan(60);
    const reported = over.map((t) => tampered.sample(COD.plant, COD.meter, COD.quantity, t).value);
    for (const v of reported) {
      expect(v).toBeLessThanOrEqual(limit * (1 - margin));
      expect(v).toBeGreaterThanOrEqual(limit * (1 - 1.5 * margin));
    }
    // not a flat line, which a stuck check would catch
    expect(new Set(reported).size).toBeGreaterThan(10);
    const below = ts.find((t) => trueLoad.sample(COD.plant, COD.meter, COD.quantity, t).value < limit * (1 - margin) - 5)!;
    expect(tampered.sample(COD.plant, COD.meter, COD.quantity, below).value).toBe(trueLoad.sample(COD.plant, COD.meter, COD.quantity, below).value);
  });

  it('stacks faults in the order listed', () => {
    const spikeThenStuck = planWith({ ...COD, ...window, kind: 'spike', factor: 2, add: 0 }, { ...COD, ...window, kind: 'stuck' });
    const t = FROM + HOUR;
    expect(spikeThenStuck.sample(COD.plant, COD.meter, COD.quantity, t).value).toBeCloseTo(2 * truth(COD.meter, COD.quantity, FROM), 9);
  });

  it('is deterministic: two plans built alike agree at every instant, in any call order', () => {
    const faults: Fault[] = [{ ...COD, ...window, kind: 'tampering', limit: 60, margin: 0.05 }];
    const a = planWith(...faults);
    const b = planWith(...faults);
    const ts = minutes(FROM, TO);
    const forward = ts.map((t) => a.sample(COD.plant, COD.meter, COD.quantity, t));
    const backward = [...ts].reverse().map((t) => b.sample(COD.plant, COD.meter, COD.quantity, t)).reverse();
    expect(backward).toEqual(forward);
  });
});

describe('repeating faults (a scenario with `repeat`)', () => {
  const EVERY = 10 * MINUTE;
  const cycle = { fromMs: T0 + 40_000, toMs: T0 + 100_000, everyMs: EVERY };

  it('come again every period, each occurrence as long as the first, and nothing between them', () => {
    const plan = planWith({ ...COD, ...cycle, kind: 'out_of_range', value: 500 });
    for (const k of [0, 1, 7]) {
      const from = cycle.fromMs + k * EVERY;
      expect(plan.sample(COD.plant, COD.meter, COD.quantity, from).value).toBe(500);
      expect(plan.sample(COD.plant, COD.meter, COD.quantity, from + 59_999).value).toBe(500);
      expect(plan.sample(COD.plant, COD.meter, COD.quantity, from + 60_000).value).toBe(truth(COD.meter, COD.quantity, from + 60_000));
      expect(plan.sample(COD.plant, COD.meter, COD.quantity, from - 1).value).toBe(truth(COD.meter, COD.quantity, from - 1));
    }
  });

  it('a stuck analyser holds, in each occurrence, the value it read when that occurrence began', () => {
    const plan = planWith({ ...COD, ...cycle, kind: 'stuck' });
    for (const k of [0, 1, 2]) {
      const from = cycle.fromMs + k * EVERY;
      expect(plan.sample(COD.plant, COD.meter, COD.quantity, from + 30_000).value).toBe(truth(COD.meter, COD.quantity, from));
    }
    expect(truth(COD.meter, COD.quantity, cycle.fromMs)).not.toBe(truth(COD.meter, COD.quantity, cycle.fromMs + EVERY));
  });

  it('an excursion rises and falls in each occurrence from that occurrence\'s own start', () => {
    const fault = { ...COD, ...cycle, kind: 'excursion' as const, peak: 150, riseMs: 10_000, fallMs: 15_000 };
    const plan = planWith(fault);
    for (const k of [0, 3]) {
      const from = cycle.fromMs + k * EVERY;
      expect(excursionShape(fault, from + 5_000)).toBeCloseTo(0.5, 9);
      expect(excursionShape(fault, from + 30_000)).toBe(1);
      expect(plan.sample(COD.plant, COD.meter, COD.quantity, from + 30_000).value - truth(COD.meter, COD.quantity, from + 30_000)).toBeCloseTo(150 - truth(COD.meter, COD.quantity, from), 9);
      expect(excursionShape(fault, from + 60_000)).toBe(0);
    }
  });
});
