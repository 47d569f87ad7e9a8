import { describe, expect, it } from 'vitest';
import { harness, MIN, T0 } from '../test-support.ts';

describe('quality rule', () => {
  it('raises when the share of bad/uncertain readings in the window is above X, clears at or below the clear share', () => {
    const h = harness([{ id: 'cod-quality', kind: 'quality', severity: 'minor', selector: { quantity: 'cod' }, windowMs: 10 * MIN, maxShare: 0.3, minSamples: 4, clearBelowShare: 0.1 }]);
    const q = ['good', 'good', 'bad', 'uncertain', 'good', 'good', 'good', 'good', 'good', 'good', 'good', 'good', 'good', 'good'] as const;
    const out = h.feed(q.map((quality, i) => ({ ts: T0 + i * MIN, v: quality === 'bad' ? null : 50, q: quality })));
    // after 4 readings 2 of 4 are not good (50%); the 10 min window [t-10, t] drops the bad one at minute 13 (1 of 11 left)
    expect(out).toEqual([`raised cod-quality outfall-1-cod 50@${T0 + 3 * MIN} limit=30`, `cleared cod-quality outfall-1-cod 9.09091@${T0 + 13 * MIN}`]);
  });
});
