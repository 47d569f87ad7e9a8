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
});
