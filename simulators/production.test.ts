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

describe('production with maintenance stops', () => {
  const stops = { everyWeeks: 3, shifts: 6, level: 0.1 };
  const production = createProduction({ night: 0.9, day: 1, evening: 0.95, weekend: 0.9, maintenance: stops }, 5);
  const cycle = 3 * 7 * 24 * HOUR;

  it('drops to the stop level for the stop and repeats every cycle', () => {
    const hours = Array.from({ length: cycle / HOUR }, (_, i) => TUESDAY + i * HOUR + HOUR / 2);
    const stopped = hours.filter((t) => production.stopped(t));
    expect(stopped).toHaveLength(stops.shifts * 8);
    for (const t of stopped.slice(2)) expect(production.at(t)).toBeCloseTo(stops.level, 1);
    for (const t of hours) expect(production.stopped(t + cycle)).toBe(production.stopped(t));
  });

  it('has an integral that matches a numerical integration over a whole cycle, stop included', () => {
    const stepMs = 60_000;
    let numeric = 0;
    let previous = production.at(TUESDAY);
    for (let t = TUESDAY + stepMs; t <= TUESDAY + cycle; t += stepMs) {
      const current = production.at(t);
      numeric += ((previous + current) / 2) * (stepMs / HOUR);
      previous = current;
    }
    expect((production.integral(TUESDAY + cycle) - production.integral(TUESDAY)) / numeric).toBeCloseTo(1, 4);
  });

  it('leaves a pattern without stops as it was: never stopped', () => {
    const plain = createProduction({ night: 0.9, day: 1, evening: 0.95, weekend: 0.9 }, 5);
    expect(Array.from({ length: 24 * 21 }, (_, i) => plain.stopped(TUESDAY + i * HOUR)).some(Boolean)).toBe(false);
  });
});
