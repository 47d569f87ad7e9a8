import { describe, expect, it } from 'vitest';
import { harness, MIN, series, T0 } from '../test-support.ts';

describe('baseline rule', () => {
  // paper-01's own COD baseline is 120 mg/L (rules/baselines/demo.yaml): raise above 144 (+20%), clear at or below 120
  const rule = { id: 'cod-vs-baseline', kind: 'baseline', severity: 'minor', selector: { quantity: 'cod' }, meanOverMs: 60 * MIN, marginPct: 20 };

  it('raises when an hour\'s mean is more than the margin above the plant\'s baseline, dated at the hour\'s end', () => {
    const h = harness([rule]);
    // hour 1: mean 130 (within +20%); hour 2: mean 150; the first reading of hour 3 closes hour 2
    const out = h.feed([...series(T0, 30 * MIN, [120, 140, 140, 160]), { ts: T0 + 120 * MIN, v: 100 }]);
    expect(out).toEqual([`raised cod-vs-baseline outfall-1-cod 150@${T0 + 120 * MIN} limit=144`]);
  });

  it('clears once a mean is back at the baseline, not merely under the margin', () => {
    const h = harness([rule]);
    h.feed([...series(T0, 30 * MIN, [150, 150]), { ts: T0 + 60 * MIN, v: 130 }]);
    // hour 2 mean 130: between 120 and 144, still raised; hour 3 mean 110: cleared
    expect(h.feed([...series(T0 + 90 * MIN, 30 * MIN, [130, 110, 110]), { ts: T0 + 180 * MIN, v: 100 }])).toEqual([`cleared cod-vs-baseline outfall-1-cod 110@${T0 + 180 * MIN}`]);
  });

  it('judges nothing for a plant without a baseline at the level asked for', () => {
    const h = harness([{ ...rule, level: 'I' }]);
    expect(h.feed([...series(T0, 30 * MIN, [500, 500]), { ts: T0 + 60 * MIN, v: 500 }])).toEqual([]);
  });
});
