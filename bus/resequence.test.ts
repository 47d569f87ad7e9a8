import { describe, expect, it } from 'vitest';
import type { ReadingBatch } from '../core/reading.ts';
import { Resequencer } from './resequence.ts';

const batch = (seq: number, sentAt = 1000 + seq, gateway = 'gw'): ReadingBatch => ({ v: 1, gateway, plant: 'p', seq, sentAt, readings: [] });

describe('resequencer', () => {
  function make(waitMs = 1000, maxPending = 100): { r: Resequencer; out: number[] } {
    const out: number[] = [];
    return { r: new Resequencer((b) => out.push(b.seq), { waitMs, maxPending }), out };
  }

  it('passes batches on in each gateway\'s seq order, holding one ahead of a gap until the gap fills', () => {
    const { r, out } = make();
    for (const s of [5, 7, 8, 6, 9]) r.push(batch(s), 0);
    expect(out).toEqual([5, 6, 7, 8, 9]);
  });

  it('gives up on a gap that does not fill within waitMs, keeping seq order', () => {
    const { r, out } = make(1000);
    for (const s of [1, 3, 4]) r.push(batch(s), 0);
    r.tick(999);
    expect(out).toEqual([1]);
    r.tick(1000);
    expect(out).toEqual([1, 3, 4]);
    expect(r.gapsSkipped).toBe(1);
  });

  it('gives up on a gap when too many batches wait', () => {
    const { r, out } = make(60_000, 2);
    for (const s of [1, 3, 4, 5]) r.push(batch(s), 0);
    expect(out).toEqual([1, 3, 4, 5]);
  });

  it('takes a lower seq sent after everything else as a gateway restart', () => {
    const { r, out } = make();
    for (const s of [100, 101]) r.push(batch(s), 0);
    r.push(batch(0, 5000), 0);
    r.push(batch(1, 5001), 0);
    expect(out).toEqual([100, 101, 0, 1]);
  });

  it('orders batches that carry plantSeq within their gateway × plant: a partition seeing one plant of a gateway does not wait for the others', () => {
    const out: string[] = [];
    const r = new Resequencer((b) => out.push(`${b.plant}#${b.plantSeq}`), { waitMs: 60_000, maxPending: 100 });
    // gw serves plants a and b; this partition owns a: gateway seq 0, 2, 5, 6 (1, 3, 4 were b's), plantSeq 0..3
    const a = (seq: number, plantSeq: number): ReadingBatch => ({ v: 1, gateway: 'gw', plant: 'a', seq, plantSeq, sentAt: 1000 + seq, readings: [] });
    for (const b of [a(0, 0), a(2, 1), a(5, 2)]) r.push(b, 0);
    expect(out).toEqual(['a#0', 'a#1', 'a#2']);
    expect(r.pending).toBe(0);
    // and still puts a reordered redelivery back in order
    r.push(a(8, 4), 0);
    r.push(a(6, 3), 0);
    expect(out).toEqual(['a#0', 'a#1', 'a#2', 'a#3', 'a#4']);
    expect(r.gapsSkipped).toBe(0);
  });

  it('keeps what waits across a snapshot and restore', () => {
    const { r } = make();
    for (const s of [1, 3]) r.push(batch(s), 0);
    const { r: r2, out: out2 } = make();
    r2.restore(JSON.parse(JSON.stringify(r.snapshot())) as ReturnType<Resequencer['snapshot']>, 0);
    r2.push(batch(2), 0);
    expect(out2).toEqual([2, 3]);
  });
});
