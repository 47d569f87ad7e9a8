import { describe, expect, it } from 'vitest';
import { harness, MIN, T0, type Step } from './test-support.ts';
import { transitionLine } from './influx.ts';
import type { AlertTransition } from './alerts.ts';

const PH_FLOOR = [{ id: 'ph-range', kind: 'limit', severity: 'major', selector: { quantity: 'ph' }, limit: 'catalog', clear: { deadbandPct: 5 } }];
const ph = { meter: 'outfall-1-ph', quantity: 'ph', unit: 'pH' } as const;
const HOUR = 60 * MIN;

/** A small deterministic generator (mulberry32): the same hovering feed every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** pH hovering at its floor (6.0, GB 3544-2008): 5.96-6.04, a reading every 2 s for `hours`. */
function hovering(hours: number, seed = 15): Step[] {
  const next = random(seed);
  const steps: Step[] = [];
  for (let ts = T0; ts < T0 + hours * HOUR; ts += 2000) steps.push({ ...ph, ts, v: Math.round((5.96 + next() * 0.08) * 1000) / 1000, now: ts + 500 });
  return steps;
}

const rows = (ts: readonly AlertTransition[]) => ts.filter((t) => t.historyRow !== false);

describe('alert history rows', () => {
  it('keeps a value hovering at its limit to a bounded number of history rows an hour, while the alert counts every re-trigger', () => {
    const h = harness(PH_FLOOR);
    h.feed(hovering(3));
    const updates = h.transitions.filter((t) => t.transition === 'updated');
    // the alert stays open and counts each crossing back below the floor: hundreds an hour
    expect(h.transitions.filter((t) => t.transition === 'raised')).toHaveLength(1);
    expect(updates.length).toBeGreaterThan(500);
    const last = h.transitions.at(-1)!.alert;
    expect(last.count).toBe(updates.length + 1);
    // rows: one per 5 minutes of re-triggers (12 an hour) plus new peaks, which get rarer as the peak deepens
    for (let hour = 0; hour < 3; hour++) {
      const inHour = rows(h.transitions).filter((t) => t.alert.updatedAt >= T0 + hour * HOUR && t.alert.updatedAt < T0 + (hour + 1) * HOUR);
      expect(inHour.length).toBeLessThanOrEqual(12 + 1 + 10);
      expect(inHour.length).toBeGreaterThanOrEqual(12);
    }
    // every row carries the count and the peak so far: the lowest pH since raised
    const lowest = Math.min(...hovering(3).map((s) => ('v' in s && typeof s.v === 'number' ? s.v : Infinity)));
    expect(last.peak).toBe(lowest);
    expect(transitionLine(h.transitions.at(-1)!)).toContain(`peak=${lowest}`);
  });

  it('writes a row for each new peak, and the 5-minute row otherwise', () => {
    const h = harness(PH_FLOOR);
    const at = (i: number, v: number): Step => ({ ...ph, ts: T0 + i * 10_000, v, now: T0 + i * 10_000 + 500 });
    // raise at 5.9, re-trigger at 5.95 (not a peak: no row), at 5.8 (new peak: a row), at 5.9 five minutes on (a row)
    h.feed([at(0, 5.9), at(1, 6.1), at(2, 5.95), at(3, 6.1), at(4, 5.8), at(5, 6.1), at(34, 5.9)]);
    expect(h.transitions.map((t) => [t.transition, t.alert.value, t.alert.peak, t.historyRow !== false])).toEqual([
      ['raised', 5.9, 5.9, true],
      ['updated', 5.95, 5.9, false],
      ['updated', 5.8, 5.8, true],
      ['updated', 5.9, 5.8, true],
    ]);
  });

  it('keeps the throttle across a checkpoint: a restored alert does not write a re-trigger row early', () => {
    const h = harness(PH_FLOOR);
    const at = (i: number, v: number): Step => ({ ...ph, ts: T0 + i * 10_000, v, now: T0 + i * 10_000 + 500 });
    h.feed([at(0, 5.9), at(1, 6.1)]);
    const restored = harness(PH_FLOOR, {}, h.engine.snapshot());
    restored.feed([at(2, 5.95), at(3, 6.1), at(4, 5.85)]);
    expect(restored.transitions.map((t) => [t.transition, t.historyRow !== false])).toEqual([
      ['updated', false],
      ['updated', true],
    ]);
  });

  it('times the 5 minutes by the re-triggers\' event time, whenever the acknowledgement was processed', () => {
    const h = harness(PH_FLOOR);
    const at = (i: number, v: number): Step => ({ ...ph, ts: T0 + i * 10_000, v, now: T0 + i * 10_000 + 500 });
    h.feed([at(0, 5.9)]);
    // acknowledged an hour later in processing time (a replay, a late operator): re-triggers 10 and 30 s after the raise
    h.feed([{ ack: h.transitions[0]!.alert.id, by: 'paper-ops', now: T0 + 60 * MIN }, at(1, 6.1), at(2, 5.95), at(3, 6.1), at(4, 5.95)]);
    expect(h.transitions.map((t) => [t.transition, t.historyRow !== false])).toEqual([
      ['raised', true],
      ['acknowledged', true],
      ['updated', false],
      ['updated', false],
    ]);
  });

  it('puts who acknowledged and their comment on the acknowledgement row', () => {
    const h = harness(PH_FLOOR);
    h.feed([{ ...ph, ts: T0, v: 5.5, now: T0 }]);
    const id = h.transitions[0]!.alert.id;
    h.feed([{ ack: id, by: 'paper-ops', comment: '已加碱，"复核中" \\ 二沉池', now: T0 + MIN }]);
    const ack = h.transitions.at(-1)!;
    expect(ack.transition).toBe('acknowledged');
    expect(transitionLine(ack)).toContain('by="paper-ops",comment="已加碱，\\"复核中\\" \\\\ 二沉池"');
    expect(transitionLine(h.transitions[0]!)).not.toContain('by=');
  });
});
