import { describe, expect, it } from 'vitest';
import { harness, MIN, series, T0 } from '../test-support.ts';

describe('flatline rule', () => {
  it('raises when the analyser reports the same value (within epsilon) for N samples, clears when it moves', () => {
    const h = harness([{ id: 'cod-flat', kind: 'flatline', severity: 'minor', selector: { quantity: 'cod' }, epsilon: 0.05, samples: 5 }]);
    const out = h.feed(series(T0, MIN, [52.1, 48.0, 48.02, 47.99, 48.0, 48.01, 48.0, 50.3]));
    expect(out).toEqual([`raised cod-flat outfall-1-cod 48.01@${T0 + 5 * MIN}`, `cleared cod-flat outfall-1-cod 50.3@${T0 + 7 * MIN}`]);
  });

  it('raises on duration when sampling is sparse', () => {
    const h = harness([{ id: 'cod-flat', kind: 'flatline', severity: 'minor', selector: { quantity: 'cod' }, epsilon: 0, forMs: 60 * MIN }]);
    expect(h.feed(series(T0, 30 * MIN, [48, 48, 48]))).toEqual([`raised cod-flat outfall-1-cod 48@${T0 + 60 * MIN}`]);
  });

  it('does not treat a noisy signal as flat', () => {
    const h = harness([{ id: 'cod-flat', kind: 'flatline', severity: 'minor', selector: { quantity: 'cod' }, epsilon: 0.05, samples: 3 }]);
    expect(h.feed(series(T0, MIN, [48, 48.1, 48, 48.1, 48]))).toEqual([]);
  });
});
