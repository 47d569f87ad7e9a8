import { describe, expect, it } from 'vitest';
import { createProduction } from './production.ts';

const HOUR = 3_600_000;
const TUESDAY = Date.UTC(2026, 2, 2, 16);

describe('production level', () => {
  const production = createProduction({ night: 0.6, day: 1, evening: 0.9, weekend: 0.5 }, 11);

  it('follows the shift levels in China Standard Time, weekends scaled', () => {
    expect(production.at(TUESDAY + 12 * HOUR)).toBeCloseTo(1, 1);
    expect(production.at(TUESDAY + 4 * HOUR)).toBeCloseTo(0.6, 1);
    expect(production.at(TUESDAY + 20 * HOUR)).toBeCloseTo(0.9, 1);
    // Saturday 12:00 and Sunday 04:00
    expect(production.at(TUESDAY + 4 * 24 * HOUR + 12 * HOUR)).toBeCloseTo(0.5, 1);
    expect(production.at(TUESDAY + 5 * 24 * HOUR + 4 * HOUR)).toBeCloseTo(0.3, 1);
  });

  it('has an integral that matches a numerical integration of the level over a week', () => {
    const stepMs = 60_000;
    let numeric = 0;
    let previous = production.at(TUESDAY);
    for (let t = TUESDAY + stepMs; t <= TUESDAY + 7 * 24 * HOUR; t += stepMs) {
      const current = production.at(t);
      numeric += ((previous + current) / 2) * (stepMs / HOUR);
      previous = current;
    }
    const closedForm = production.integral(TUESDAY + 7 * 24 * HOUR) - production.integral(TUESDAY);
    expect(closedForm / numeric).toBeCloseTo(1, 4);
  });
});
