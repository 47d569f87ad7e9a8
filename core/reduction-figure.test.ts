import { describe, expect, it } from 'vitest';
import { coverageOf, PARTIAL_BELOW } from './coverage.ts';
import { reductionFigure } from './reduction-figure.ts';

describe('a reduction figure from loads', () => {
  it('sums the outfalls\' loads, counts the baseline over the same volume, and averages coverage over the outfalls', () => {
    // two outfalls in a 100-s period: one covered 80 s, one silent
    const f = reductionFigure([{ kg: 2, m3: 10, seconds: 80 }, undefined], 100, 150);
    expect(f).toMatchObject({ dischargedT: 0.002, volumeM3: 10, coveredSeconds: 40, periodSeconds: 100, coverage: 0.4, partial: true });
    expect(f.baselineT).toBeCloseTo(0.0015, 12);
    expect(f.reducedT).toBeCloseTo(-0.0005, 12);
  });

  it('has no figure without covered time (null, not 0), and none for the baseline without one', () => {
    expect(reductionFigure([undefined], 100, 150)).toMatchObject({ dischargedT: null, baselineT: null, reducedT: null, volumeM3: null, coverage: 0, partial: true });
    expect(reductionFigure([{ kg: 1, m3: 5, seconds: 100 }], 100, undefined)).toMatchObject({ dischargedT: 0.001, baselineT: null, reducedT: null, coverage: 1, partial: false });
  });

  it('marks coverage below the documented threshold partial, and an empty period as 0', () => {
    expect(PARTIAL_BELOW).toBe(0.9);
    expect(coverageOf(90, 100).partial).toBe(false);
    expect(coverageOf(89.9, 100).partial).toBe(true);
    expect(coverageOf(0, 0)).toMatchObject({ coverage: 0, partial: true });
  });
});
