import type { BuiltinQuantityId, QuantityId } from '../../core/catalog.ts';
import type { ShiftPattern } from '../production.ts';

/** Counters are totalised from the rate quantity of the same meter; they have no profile of their own. */
export type CounterQuantity = 'wastewater_volume' | 'active_energy' | 'production_total';
export type GaugeQuantity = Exclude<BuiltinQuantityId, CounterQuantity>;

export const COUNTER_RATE: Record<CounterQuantity, GaugeQuantity> = {
  wastewater_volume: 'wastewater_flow',
  active_energy: 'active_power',
  production_total: 'production_rate',
};

export function isCounterQuantity(q: QuantityId): q is CounterQuantity {
  return Object.hasOwn(COUNTER_RATE, q);
}

/**
 * How one quantity behaves at a plant of an industry, in the quantity's canonical unit:
 * value = mean * (1 + coupling * (production - 1)) + wander * W(t) + jitter * N(t), held within [min, max];
 * every term is multiplied by the plant's size factor when `extensive` (flows, power, fuel).
 */
export interface GaugeProfile {
  /** Typical value at production level 1 (weekday day shift). */
  mean: number;
  /** How far the value follows production: 1 = proportional, 0 = independent, negative = inverse (O2 at low load). */
  coupling: number;
  /** Amplitude of the slow wander (hours). */
  wander: number;
  /** Standard deviation of second-to-second measurement noise. */
  jitter: number;
  /** The realistic operating band the value is held in (below the discharge limit for pollutants). */
  min: number;
  max: number;
  extensive?: boolean;
}

export interface IndustryProfile {
  shifts: ShiftPattern;
  gauges: Partial<Record<GaugeQuantity, GaugeProfile>>;
}

export const gauge = (mean: number, coupling: number, wander: number, jitter: number, min: number, max: number, extensive = false): GaugeProfile => ({
  mean,
  coupling,
  wander,
  jitter,
  min,
  max,
  ...(extensive ? { extensive } : {}),
});
