/**
 * An integrated steel works: the outfall under GB 13456-2012 (direct: COD 50, NH3-N 5 mg/L, pH 6-9) and the sinter
 * machine head stack under the 2019 ultra-low emission targets (PM 10, SO2 35, NOx 50 mg/m3 at 16 % O2).
 * Sinter flue gas is very lean (O2 about 14-17 %) and very large. Continuous process.
 */
import { gauge, type IndustryProfile } from './types.ts';

export const STEEL: IndustryProfile = {
  shifts: { night: 0.96, day: 1, evening: 0.98, weekend: 0.97 },
  gauges: {
    // about 4 Mt of crude steel a year: 470 t/h, 3 m3 of fresh water per t
    production_rate: gauge(470, 1, 15, 4, 0, 650, true),
    wastewater_flow: gauge(600, 0.4, 50, 8, 200, 1_100, true),
    // about 3 m3 of fresh water per t of crude steel
    water_intake: gauge(1_400, 0.5, 100, 15, 500, 2_500, true),
    cod: gauge(32, 0.3, 6, 1.2, 15, 47),
    nh3n: gauge(1.8, 0.3, 0.6, 0.08, 0.3, 4.6),
    ph: gauge(7.6, 0, 0.3, 0.03, 6.8, 8.6),
    active_power: gauge(65_000, 0.7, 4_000, 600, 20_000, 90_000, true),
    steam_flow: gauge(120, 0.7, 8, 1.5, 30, 200, true),
    natural_gas_flow: gauge(6_000, 0.7, 400, 60, 1_000, 10_000, true),
    flue_gas_flow: gauge(900_000, 0.7, 40_000, 8_000, 300_000, 1_400_000, true),
    o2: gauge(15.5, -0.2, 0.6, 0.1, 13.5, 17.5),
    so2: gauge(22, 0.3, 5, 1.2, 5, 34),
    nox: gauge(38, 0.3, 6, 1.5, 10, 49),
    particulate: gauge(5, 0.3, 1.2, 0.3, 1, 9.5),
  },
};
