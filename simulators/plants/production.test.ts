/**
 * Production meters: the denominator of per-unit-product indicators. A simulated plant's water per tonne must land
 * where its industry's quotas put real plants, so that baseline rules see realistic intensities, and the production
 * counter must agree with the production rate the way a weighbridge total agrees with a belt scale.
 */
import { describe, expect, it } from 'vitest';
import type { QuantityId } from '../../core/catalog.ts';
import type { Industry, Plant } from '../../core/plants.ts';
import { createPlantModel } from '../model.ts';

const HOUR = 3_600_000;
/** Tuesday 2026-03-03 00:00 China Standard Time. */
const TUESDAY = Date.UTC(2026, 2, 2, 16);

function plantWithProduction(industry: Industry): Plant {
  return {
    id: `${industry}-01`,
    name: { en: industry, zh: industry },
    region: 'r',
    industry,
    outfalls: [{ id: 'outfall-1' }],
    stacks: [],
    meters: [
      { id: 'intake', location: 'site', quantities: ['water_intake'] },
      { id: 'production', location: 'site', quantities: ['production_rate', 'production_total'] },
    ],
  };
}

/** The mean of a gauge over a week, sampled every 10 minutes. */
function weekMean(industry: Industry, meter: string, q: QuantityId): number {
  const model = createPlantModel(plantWithProduction(industry), 7);
  let sum = 0;
  const steps = (7 * 24 * HOUR) / (10 * 60_000);
  for (let i = 0; i < steps; i++) sum += model.sample(meter, q, TUESDAY + i * 10 * 60_000).value;
  return sum / steps;
}

describe('production meters', () => {
  it('give fresh water per tonne inside the GB/T 18916 quota band for steel (3.1-4.8 m3/t) and clinker (0.225-0.51 m3/t)', () => {
    const steel = weekMean('steel', 'intake', 'water_intake') / weekMean('steel', 'production', 'production_rate');
    expect(steel).toBeGreaterThan(2.4);
    expect(steel).toBeLessThan(4.8);
    const cement = weekMean('cement', 'intake', 'water_intake') / weekMean('cement', 'production', 'production_rate');
    expect(cement).toBeGreaterThan(0.225);
    expect(cement).toBeLessThan(0.51);
  });

  it('totalise the production rate: the counter rises over a day by the day\'s mean rate times 24 h', () => {
    const model = createPlantModel(plantWithProduction('pulp-paper'), 7);
    const total = (t: number) => model.sample('production', 'production_total', t).value;
    const rise = total(TUESDAY + 24 * HOUR) - total(TUESDAY);
    let rateSum = 0;
    const samples = 24 * 60;
    for (let i = 0; i < samples; i++) rateSum += model.sample('production', 'production_rate', TUESDAY + i * 60_000).value;
    // the counter integrates the true rate; the gauge adds measurement jitter that averages out
    expect(rise / (24 * (rateSum / samples))).toBeCloseTo(1, 2);
    // about 300 kt a year
    expect(rise * 365).toBeGreaterThan(200_000);
    expect(rise * 365).toBeLessThan(450_000);
  });

  it('follow the shifts: a dyeing works makes less at night than on the day shift', () => {
    const model = createPlantModel(plantWithProduction('textile-dyeing'), 7);
    const at = (hour: number) => model.sample('production', 'production_rate', TUESDAY + hour * HOUR).value;
    expect(at(3)).toBeLessThan(at(11) * 0.8);
  });
});
