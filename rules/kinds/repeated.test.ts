import { describe, expect, it } from 'vitest';
import { harness, MIN, series, T0 } from '../test-support.ts';

describe('repeated rule', () => {
  const rule = { id: 'cod-3x', kind: 'repeated', severity: 'major', selector: { quantity: 'cod' }, limit: { max: 90 }, times: 3, withinMs: 60 * MIN };

  it('raises at the third excursion within the window; a long excursion counts once', () => {
    const h = harness([rule]);
    // excursions start at 0, 20 and 40 min; the first lasts three samples
    const out = h.feed(series(T0, 10 * MIN, [95, 96, 80, 95, 80, 97]));
    expect(out).toEqual([`raised cod-3x outfall-1-cod 3@${T0 + 50 * MIN} limit=90`]);
  });

  it('does not raise when the excursions are spread wider than the window', () => {
    const h = harness([rule]);
    expect(h.feed(series(T0, 40 * MIN, [95, 80, 95, 80, 95]))).toEqual([]);
  });

  it('clears once the old excursions have left the window and the value is within the limit', () => {
    const h = harness([rule]);
    h.feed(series(T0, 10 * MIN, [95, 80, 95, 80, 95]));
    // at 70 min the excursion of 0 min has left the window: two remain
    expect(h.feed(series(T0 + 50 * MIN, 10 * MIN, [80, 80]))).toEqual([`cleared cod-3x outfall-1-cod 2@${T0 + 60 * MIN}`]);
  });
});
