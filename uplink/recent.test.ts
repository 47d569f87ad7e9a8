import { describe, expect, it } from 'vitest';
import { batchKey, RecentBatches } from './recent.ts';

describe('recent batches of a station', () => {
  it('knows a batch delivered again until two releases after the one that acknowledged it', () => {
    const recent = new RecentBatches();
    const x = batchKey('gw-1', 7, 1_700_000_000_000);
    expect(recent.add(x)).toBe(true);
    expect(recent.add(x)).toBe(false);
    recent.rotate(); // the release whose mark came before x arrived
    recent.rotate(); // the release that acknowledged x
    expect(recent.add(x), 'its PUBACK may not have reached the broker').toBe(false);
    recent.rotate();
    expect(recent.add(x), 'forgotten: the broker has long had its PUBACK').toBe(true);
  });

  it('keeps only a few releases of keys, and takes a checkpoint\'s keys back as not yet released', () => {
    const recent = new RecentBatches();
    for (let seq = 0; seq < 100; seq++) {
      recent.add(batchKey('gw-1', seq, 0));
      if (seq % 10 === 9) recent.rotate();
    }
    expect(recent.size).toBe(20);
    const restored = new RecentBatches(recent.snapshot());
    expect(restored.add(batchKey('gw-1', 99, 0))).toBe(false);
    expect(restored.add(batchKey('gw-1', 79, 0))).toBe(true);
    restored.rotate();
    expect(restored.add(batchKey('gw-1', 98, 0))).toBe(false);
  });

  it('tells a gateway that restarted its seq from a repeat by sentAt', () => {
    const recent = new RecentBatches();
    recent.add(batchKey('gw-1', 0, 1000));
    expect(recent.add(batchKey('gw-1', 0, 5000))).toBe(true);
  });
});
