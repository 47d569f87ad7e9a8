import { describe, expect, it } from 'vitest';
import { ReorderBuffer, SlidingOldest, SlidingSum, TumblingMean, type SampleSink } from './windows.ts';
import { GOOD, type QualityCode } from './kinds/types.ts';

function collector(): SampleSink & { got: number[] } {
  const got: number[] = [];
  return { got, deliver: (ts: number, _v: number, _q: QualityCode) => void got.push(ts) };
}

describe('event-time windows', () => {
  it('reorders within the allowed lateness, releases at the watermark, refuses what is older', () => {
    const b = new ReorderBuffer(10, 2);
    const sink = collector();
    for (const ts of [100, 105, 95, 103, 111, 98, 120]) {
      const accepted = b.push(ts, 1, GOOD);
      if (ts === 98) expect(accepted).toBe(false); // watermark 101 after 111
      b.release(sink);
    }
    expect(sink.got).toEqual([95, 100, 103, 105]);
    expect(b.watermark).toBe(110);
    b.flush(sink);
    expect(sink.got).toEqual([95, 100, 103, 105, 111, 120]);
  });

  it('survives a snapshot round trip with readings still buffered', () => {
    const a = new ReorderBuffer(50);
    for (const ts of [10, 40, 30]) a.push(ts, ts === 40 ? NaN : ts, GOOD);
    const b = new ReorderBuffer(50);
    b.restore(JSON.parse(JSON.stringify(a.snapshot())));
    const sink = collector();
    b.flush(sink);
    expect(sink.got).toEqual([10, 30, 40]);
    expect(b.snapshot().pending).toEqual([]);
  });

  it('closes tumbling windows at their end, aligned to China Standard Time', () => {
    const w = new TumblingMean(86_400_000);
    const dayStartCst = Date.parse('2024-01-01T00:00:00+08:00');
    w.add(dayStartCst + 1000, 10);
    w.add(dayStartCst + 2000, 20);
    expect(w.closeIfDue(dayStartCst + 86_399_999)).toBe(false);
    expect(w.closeIfDue(dayStartCst + 86_400_000)).toBe(true);
    expect([w.closedStart, w.closedMean, w.closedCount]).toEqual([dayStartCst, 15, 2]);
  });

  it('keeps the count and sum of the last size of event time, exactly when samples are a bucket or more apart', () => {
    const w = new SlidingSum(10, 1);
    for (const ts of [0, 4, 8, 12, 15]) w.push(ts, ts);
    expect([w.count, w.sum]).toEqual([3, 35]);
    const rate = new SlidingOldest(10, 1);
    for (const ts of [0, 4, 8, 12, 15]) rate.push(ts, ts * 2);
    expect([rate.oldestTs(), rate.oldestValue()]).toEqual([8, 16]);
  });

  it('holds a 5-minute window of a 2.5 Hz feed in at most 31 buckets, its far edge judged to the 10 s bucket', () => {
    const size = 300_000;
    const resolution = 10_000;
    const w = new SlidingSum(size, resolution);
    const oldest = new SlidingOldest(size, resolution);
    const t0 = 1_700_000_000_123;
    const samples: [number, number][] = [];
    for (let k = 0; k < 2_500; k++) {
      const ts = t0 + k * 400 + (k % 3) * 7;
      const bad = k % 7 === 0 ? 1 : 0;
      samples.push([ts, bad]);
      w.push(ts, bad);
      oldest.push(ts, k);
      // what the window must hold: every sample of a bucket whose newest sample is within size of this one
      const newestOfBucket = new Map<number, number>();
      for (const [t] of samples) newestOfBucket.set(Math.floor(t / resolution), t);
      const kept = samples.filter(([t]) => newestOfBucket.get(Math.floor(t / resolution))! >= ts - size);
      if (k % 250 === 249) {
        expect([w.count, w.sum]).toEqual([kept.length, kept.reduce((a, [, b]) => a + b, 0)]);
        expect(oldest.oldestTs()).toBe(kept[0]![0]);
        expect(ts - oldest.oldestTs()).toBeLessThan(size + resolution);
      }
    }
    expect(w.buckets).toBeLessThanOrEqual(31);
    expect(oldest.buckets).toBeLessThanOrEqual(31);
  });

  it('survives a checkpoint round trip in O(buckets), and reads the per-sample forms of older checkpoints', () => {
    const t0 = 1_700_000_000_000;
    const share = new SlidingSum(60_000, 2_000);
    const oldest = new SlidingOldest(60_000, 2_000);
    for (let k = 0; k < 600; k++) {
      share.push(t0 + k * 400, k % 5 === 0 ? 1 : 0);
      oldest.push(t0 + k * 400, 40 + (k % 7));
    }
    const shareJson = JSON.stringify(share.snapshot());
    expect(shareJson.length).toBeLessThan(31 * 3 * 6 + 40);
    const shareBack = new SlidingSum(60_000, 2_000);
    shareBack.restore(JSON.parse(shareJson));
    expect([shareBack.count, shareBack.sum, shareBack.buckets]).toEqual([share.count, share.sum, share.buckets]);
    const oldestBack = new SlidingOldest(60_000, 2_000);
    oldestBack.restore(JSON.parse(JSON.stringify(oldest.snapshot())));
    expect([oldestBack.oldestTs(), oldestBack.oldestValue(), oldestBack.buckets]).toEqual([oldest.oldestTs(), oldest.oldestValue(), oldest.buckets]);
    // and both go on sliding from where they were
    const next = t0 + 600 * 400 + 2_000;
    for (const w of [share, shareBack]) w.push(next, 1);
    expect([shareBack.count, shareBack.sum]).toEqual([share.count, share.sum]);
    for (const w of [oldest, oldestBack]) w.push(next, 1);
    expect(oldestBack.oldestTs()).toBe(oldest.oldestTs());

    // a rule whose resolution was made coarser since: the checkpoint's buckets merge, nothing is lost
    const coarser = new SlidingSum(60_000, 6_000);
    coarser.restore(JSON.parse(shareJson));
    const atCheckpoint = new SlidingSum(60_000, 2_000);
    atCheckpoint.restore(JSON.parse(shareJson));
    expect([coarser.count, coarser.sum]).toEqual([atCheckpoint.count, atCheckpoint.sum]);
    expect(coarser.buckets).toBeLessThanOrEqual(11);
    coarser.push(t0 + 600 * 400 + 120_000, 1); // everything restored leaves the window
    expect([coarser.count, coarser.sum, coarser.buckets]).toEqual([1, 1, 1]);

    const legacy = new SlidingSum(60_000, 1_000);
    legacy.restore({ samples: [[t0, 1], [t0 + 400, 0], [t0 + 1_400, 1]] });
    expect([legacy.count, legacy.sum, legacy.buckets]).toEqual([3, 2, 2]);
    const legacyDiffs = new SlidingOldest(60_000, 1_000);
    legacyDiffs.restore({ dt: [t0, 400, 1_000], v: [5, 6, 7] });
    expect([legacyDiffs.oldestTs(), legacyDiffs.oldestValue(), legacyDiffs.buckets]).toEqual([t0, 5, 2]);
  });
});
