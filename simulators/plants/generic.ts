/**
 * Defaults for any quantity an industry profile does not list, so that a registry naming an unusual meter still
 * simulates. Values sit in the middle of what treated effluent and controlled stacks typically show.
 */
import { gauge, type GaugeProfile, type GaugeQuantity } from './types.ts';

export const GENERIC_GAUGES: Record<GaugeQuantity, GaugeProfile> = {
  production_rate: gauge(20, 1, 1, 0.2, 0, 40, true),
  wastewater_flow: gauge(500, 0.6, 50, 6, 100, 1500, true),
  water_intake: gauge(650, 0.6, 60, 8, 150, 2000, true),
  cod: gauge(45, 0.3, 10, 1.5, 15, 90),
  nh3n: gauge(3, 0.3, 1, 0.1, 0.5, 7),
  ph: gauge(7.3, 0, 0.3, 0.03, 6.5, 8.5),
  tn: gauge(9, 0.3, 2, 0.2, 3, 14),
  tp: gauge(0.3, 0.3, 0.08, 0.01, 0.05, 0.48),
  hg: gauge(0.004, 0, 0.0015, 0.0003, 0.0005, 0.045),
  pb: gauge(0.08, 0, 0.03, 0.005, 0.01, 0.9),
  active_power: gauge(10_000, 0.8, 600, 80, 1_000, 30_000, true),
  steam_flow: gauge(40, 0.8, 3, 0.5, 5, 120, true),
  natural_gas_flow: gauge(800, 0.8, 60, 10, 100, 3_000, true),
  flue_gas_flow: gauge(120_000, 0.8, 6_000, 1_200, 20_000, 400_000, true),
  o2: gauge(8, -0.4, 0.9, 0.15, 5.5, 11),
  so2: gauge(40, 0.3, 8, 1.5, 5, 90),
  nox: gauge(80, 0.3, 12, 2.5, 20, 140),
  particulate: gauge(8, 0.3, 2, 0.4, 1, 18),
  co2: gauge(11, 0.2, 0.8, 0.1, 6, 15),
};
