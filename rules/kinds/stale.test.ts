import { describe, expect, it } from 'vitest';
import { demoRegistry, harness, MIN, T0 } from '../test-support.ts';

const stale = { id: 'meter-stale', kind: 'stale', severity: 'major', selector: { plants: ['paper-01'], meters: ['outfall-1-cod'] }, afterMs: 5 * MIN };

describe('stale (deadman) rule', () => {
  it('fires on the clock tick after T of silence, not on the next message, and notifies again every T while silent', () => {
    const h = harness([stale]);
    h.feed([{ ts: T0, v: 50, now: T0 }]);
    expect(h.feed([{ tick: T0 + 4 * MIN }])).toEqual([]);
    expect(h.feed([{ tick: T0 + 5 * MIN }])).toEqual([`raised meter-stale outfall-1-cod 5@${T0 + 5 * MIN} limit=5`]);
    expect(h.feed([{ tick: T0 + 6 * MIN }, { tick: T0 + 9 * MIN }])).toEqual([]);
    expect(h.feed([{ tick: T0 + 10 * MIN }])).toEqual([`renotified meter-stale outfall-1-cod 10@${T0 + 10 * MIN} limit=5`]);
    expect(h.feed([{ tick: T0 + 15 * MIN }])).toEqual([`renotified meter-stale outfall-1-cod 15@${T0 + 15 * MIN} limit=5`]);
    expect(h.engine.openAlerts()[0]!.count).toBe(3);
    // data again (even old, replayed data): cleared at arrival
    expect(h.feed([{ ts: T0 + MIN, v: 50, now: T0 + 16 * MIN }])).toEqual([`cleared meter-stale outfall-1-cod null@${T0 + 16 * MIN}`]);
  });

  it('watches registry meters from the start, so a meter that never reports is caught', () => {
    const h = harness([{ ...stale, selector: { plants: ['steel-01'] } }]);
    const out = h.feed([{ tick: T0 + 5 * MIN }]);
    const steelMeters = demoRegistry().plant('steel-01')!.meters.map((m) => m.id);
    expect(out.map((l) => l.split(' ').slice(0, 3).join(' ')).sort()).toEqual(steelMeters.map((m) => `raised meter-stale ${m}`).sort());
  });

  it('does not count readings without a value as signs of life unless told to', () => {
    const h = harness([stale]);
    h.feed([{ ts: T0 + 3 * MIN, v: null, now: T0 + 3 * MIN }]);
    expect(h.feed([{ tick: T0 + 5 * MIN }])).toHaveLength(1);
    const h2 = harness([{ ...stale, countEmpty: true }]);
    h2.feed([{ ts: T0 + 3 * MIN, v: null, now: T0 + 3 * MIN }]);
    expect(h2.feed([{ tick: T0 + 5 * MIN }])).toEqual([]);
  });

  it('can watch one quantity of a multi-quantity meter', () => {
    const h = harness([{ id: 'so2-stale', kind: 'stale', severity: 'minor', selector: { plants: ['paper-01'], quantity: 'so2' }, afterMs: MIN }]);
    h.feed([{ ts: T0 + 30_000, v: 60, meter: 'stack-1-cems', quantity: 'nox', unit: 'mg/m3', now: T0 + 30_000 }]);
    expect(h.feed([{ tick: T0 + MIN }])).toEqual([`raised so2-stale stack-1-cems 1@${T0 + MIN} limit=1`]);
  });
});
