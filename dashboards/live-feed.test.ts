import { describe, expect, it } from 'vitest';
import { RecentEvents, toLiveBatch, type LivePayload } from './live-feed.ts';

const batch = (seq: number, plant = 'paper-01'): LivePayload => ({ type: 'readings', plant, batch: { plant, gateway: 'gw', seq, sentAt: seq, readings: [] } });

describe('RecentEvents', () => {
  it('numbers events in arrival order with ids of this feed', () => {
    const recent = new RecentEvents(10, 'abc');
    expect([recent.push(batch(1)).id, recent.push(batch(2)).id]).toEqual(['abc-1', 'abc-2']);
  });

  it('replays exactly what came after the last id a client saw', () => {
    const recent = new RecentEvents(10, 'abc');
    const ids = [1, 2, 3, 4].map((s) => recent.push(batch(s)).id);
    expect(recent.after(ids[1]!)).toEqual({ events: [expect.objectContaining({ batch: expect.objectContaining({ seq: 3 }) }), expect.objectContaining({ batch: expect.objectContaining({ seq: 4 }) })], complete: true });
    expect(recent.after(ids[3]!)).toEqual({ events: [], complete: true });
  });

  it('says when events after the id were already evicted, and replays what it still has', () => {
    const recent = new RecentEvents(3, 'abc');
    for (let s = 1; s <= 6; s++) recent.push(batch(s));
    // holds 4, 5, 6: a client that saw 3 missed nothing, one that saw 2 missed 3
    expect(recent.after('abc-3')).toMatchObject({ complete: true, events: [{ batch: { seq: 4 } }, { batch: { seq: 5 } }, { batch: { seq: 6 } }] });
    expect(recent.after('abc-2')).toMatchObject({ complete: false, events: [{ batch: { seq: 4 } }, { batch: { seq: 5 } }, { batch: { seq: 6 } }] });
  });

  it('treats ids of another server run, or garbage, as a gap', () => {
    const recent = new RecentEvents(3, 'abc');
    recent.push(batch(1));
    expect(recent.after('def-1').complete).toBe(false);
    expect(recent.after('abc-99').complete).toBe(false);
    expect(recent.after('<script>').complete).toBe(false);
  });
});

describe('toLiveBatch', () => {
  it('converts values to the canonical unit of their quantity and keeps null values', () => {
    const live = toLiveBatch({
      v: 1,
      gateway: 'gw',
      plant: 'paper-01',
      seq: 7,
      sentAt: 1,
      readings: [
        { meter: 'flow', quantity: 'wastewater_flow', value: 10, unit: 'L/s', ts: 5, quality: 'good' },
        { meter: 'power', quantity: 'active_power', value: 1.5, unit: 'MW', ts: 5, quality: 'uncertain' },
        { meter: 'ph', quantity: 'ph', value: null, unit: 'pH', ts: 5, quality: 'bad' },
      ],
    });
    expect(live.readings.map((r) => [r.value, r.unit])).toEqual([[36, 'm3/h'], [1500, 'kW'], [null, 'pH']]);
  });
});
