/**
 * A chemical works (organic intermediates) with its own treatment plant discharging directly under GB 8978-1996
 * grade 1 (COD 100, NH3-N 15 mg/L, pH 6-9), a gas-fired boiler for process steam. Reactors run around the clock with
 * a little less batch work at night and weekends; every quarter a two-day turnaround (inspection, cleaning, catalyst
 * change) stops production, while utilities and the treatment plant keep a fifth of the load.
 */
import { gauge, type IndustryProfile } from './types.ts';

export const CHEMICALS: IndustryProfile = {
  shifts: { night: 0.93, day: 1, evening: 0.97, weekend: 0.95, maintenance: { everyWeeks: 13, shifts: 6, level: 0.2 } },
  gauges: {
    // about 130 kt of intermediates a year
    production_rate: gauge(15, 1, 0.6, 0.15, 0, 22, true),
    wastewater_flow: gauge(320, 0.5, 30, 5, 60, 600, true),
    water_intake: gauge(420, 0.5, 35, 6, 80, 750, true),
    // biological treatment with a polishing step: mostly 35-80 against the grade 1 limit of 100
    cod: gauge(58, 0.3, 12, 2, 20, 94),
    nh3n: gauge(5.5, 0.3, 2, 0.25, 0.8, 13.5),
    tn: gauge(14, 0.3, 3, 0.3, 4, 28),
    ph: gauge(7.3, 0, 0.35, 0.04, 6.4, 8.6),
    active_power: gauge(15_000, 0.8, 900, 120, 3_000, 22_000, true),
    steam_flow: gauge(60, 0.8, 5, 0.8, 8, 100, true),
    natural_gas_flow: gauge(4_200, 0.8, 300, 50, 600, 7_000, true),
    flue_gas_flow: gauge(55_000, 0.8, 3_000, 600, 8_000, 90_000, true),
    o2: gauge(4, -0.4, 0.5, 0.1, 2.5, 7),
    so2: gauge(4, 0.2, 1.5, 0.3, 0.5, 12),
    nox: gauge(30, 0.3, 5, 1.2, 8, 47),
    particulate: gauge(2, 0.2, 0.6, 0.15, 0.3, 4.8),
  },
};
