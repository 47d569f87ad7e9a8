import { describe, expect, it } from 'vitest';
import { harness, MIN, series, T0 } from '../test-support.ts';

describe('sustained rule', () => {
  const rule = { id: 'cod-30min', kind: 'sustained', severity: 'major', selector: { quantity: 'cod' }, limit: { max: 90 }, forMs: 30 * MIN, clear: { below: 85 } };

  it('raises only once the limit has been exceeded without a break for the duration', () => {
    const h = harness([rule]);
    // 20 min over, one dip, then 30 min over: raised at the 30th minute of the second run
    const out = h.feed(series(T0, 10 * MIN, [95, 95, 95, 80, 95, 95, 95, 95]));
    expect(out).toEqual([`raised cod-30min outfall-1-cod 95@${T0 + 70 * MIN} limit=90`]);
  });

  it('clears on the clear condition, not on the first value under the limit', () => {
    const h = harness([rule]);
    h.feed(series(T0, 10 * MIN, [95, 95, 95, 95]));
    expect(h.feed(series(T0 + 40 * MIN, 10 * MIN, [88, 86, 84]))).toEqual([`cleared cod-30min outfall-1-cod 84@${T0 + 60 * MIN}`]);
  });
});
