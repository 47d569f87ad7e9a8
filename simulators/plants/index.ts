import type { Industry } from '../../core/plants.ts';
import { GENERIC_GAUGES } from './generic.ts';
import { CEMENT } from './cement.ts';
import { CHEMICALS } from './chemicals.ts';
import { PULP_PAPER } from './pulp-paper.ts';
import { STEEL } from './steel.ts';
import { TEXTILE_DYEING } from './textile-dyeing.ts';
import { THERMAL_POWER } from './thermal-power.ts';
import type { GaugeProfile, GaugeQuantity, IndustryProfile } from './types.ts';

export const INDUSTRY_PROFILES: Record<Industry, IndustryProfile> = {
  'pulp-paper': PULP_PAPER,
  'textile-dyeing': TEXTILE_DYEING,
  steel: STEEL,
  cement: CEMENT,
  'thermal-power': THERMAL_POWER,
  chemicals: CHEMICALS,
};

/** The industry's profile for a quantity, or the generic default when the industry does not list it. */
export function gaugeProfile(industry: Industry, quantity: GaugeQuantity): GaugeProfile {
  return INDUSTRY_PROFILES[industry].gauges[quantity] ?? GENERIC_GAUGES[quantity];
}

export { COUNTER_RATE, isCounterQuantity, type CounterQuantity, type GaugeProfile, type GaugeQuantity, type IndustryProfile } from './types.ts';
