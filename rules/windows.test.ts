import { describe, expect, it } from 'vitest';
import { ReorderBuffer, SlidingWindow, TumblingMean, type SampleSink } from './windows.ts';
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

  it('keeps a sliding window of the last size of event time with a running sum', () => {
    const w = new SlidingWindow(10, 2);
    for (const ts of [0, 4, 8, 12, 15]) w.push(ts, ts);
    expect([w.count, w.sum, w.oldestTs()]).toEqual([3, 35, 8]);
  });

  it('keeps a sliding window across a checkpoint compactly (time differences), and reads the older [ts, value] form', () => {
    const w = new SlidingWindow(60_000, 2);
    const t0 = 1_700_000_000_000;
    for (let k = 0; k < 50; k++) w.push(t0 + k * 400, 40 + (k % 7));
    const json = JSON.stringify(w.snapshot());
    expect(json.length).toBeLessThan(50 * 10);
    const back = new SlidingWindow(60_000, 2);
    back.restore(JSON.parse(json));
    expect([back.count, back.sum, back.oldestTs(), back.oldestValue()]).toEqual([w.count, w.sum, w.oldestTs(), w.oldestValue()]);
    const legacy = new SlidingWindow(60_000, 2);
    legacy.restore({ samples: [[t0, 1], [t0 + 400, 2]] });
    expect([legacy.count, legacy.sum, legacy.oldestTs()]).toEqual([2, 3, t0]);
    // and it goes on sliding from where it was
    back.push(t0 + 60_000 + 400, 50);
    expect(back.oldestTs()).toBe(t0 + 400);
  });
});
