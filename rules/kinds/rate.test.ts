import { describe, expect, it } from 'vitest';
import { harness, MIN, series, T0 } from '../test-support.ts';

describe('rate rule', () => {
  it('raises when the value rises faster than X per minute across the window, and clears when it slows down', () => {
    const h = harness([{ id: 'cod-jump', kind: 'rate', severity: 'warning', selector: { quantity: 'cod' }, maxPerMinute: 5, direction: 'rise', windowMs: 2 * MIN, clearBelowPerMinute: 2 }]);
    const out = h.feed(series(T0, MIN, [40, 41, 42, 55, 68, 70, 71, 72, 72]));
    expect(out).toEqual([
      `raised cod-jump outfall-1-cod 7@${T0 + 3 * MIN} limit=5`, // (55 - 41) / 2 min: the window includes its start
      `cleared cod-jump outfall-1-cod 1.5@${T0 + 6 * MIN}`, // (71 - 68) / 2 min
    ]);
  });

  it('ignores falls when watching rises only', () => {
    const h = harness([{ id: 'cod-jump', kind: 'rate', severity: 'warning', selector: { quantity: 'cod' }, maxPerMinute: 5, direction: 'rise' }]);
    expect(h.feed(series(T0, MIN, [80, 40, 10]))).toEqual([]);
  });

  it('judges a feed faster than its buckets to the bucket: the window reaches back up to one resolution further', () => {
    const S = 1_000;
    const rule = { id: 'cod-jump', kind: 'rate', severity: 'warning', selector: { quantity: 'cod' }, maxPerMinute: 9, direction: 'rise', windowMs: MIN };
    // 50 mg/L every 10 s, then 60 from 70 s on: 10 per minute across any 1-minute span holding the step
    const feed = series(T0, 10 * S, [50, 50, 50, 50, 50, 50, 50, 60, 60, 60]);
    // buckets as fine as the feed: every sample is its own bucket, judged exactly (raised at 70 s against the sample at 10 s)
    expect(harness([{ ...rule, resolutionMs: 10 * S }]).feed(feed)).toEqual([`raised cod-jump outfall-1-cod 10@${T0 + 70 * S} limit=9`]);
    // 30 s buckets: until 90 s the oldest bucket still in the window begins at 0 s, so the step reads 10 over 70-80 s
    expect(harness([{ ...rule, resolutionMs: 30 * S }]).feed(feed)).toEqual([`raised cod-jump outfall-1-cod 10@${T0 + 90 * S} limit=9`]);
  });
});
