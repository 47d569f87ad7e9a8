/**
 * Industries the demo registry does not use yet: shift patterns and the quantities that differ most from the
 * generic defaults. Cement kiln limits GB 4915-2013 (PM 30, SO2 200, NOx 400); thermal power ultra-low targets
 * (dust 10, SO2 35, NOx 50); chemicals fall back to GB 8978-1996 grade 1 (COD 100, NH3-N 15).
 */
import { gauge, type IndustryProfile } from './types.ts';

export const CEMENT: IndustryProfile = {
  shifts: { night: 0.97, day: 1, evening: 0.98, weekend: 0.97 },
  gauges: {
    wastewater_flow: gauge(40, 0.3, 6, 1, 5, 90, true),
    active_power: gauge(18_000, 0.8, 1_000, 150, 4_000, 26_000, true),
    flue_gas_flow: gauge(500_000, 0.8, 25_000, 5_000, 150_000, 800_000, true),
    o2: gauge(10, -0.3, 0.8, 0.15, 7.5, 13),
    so2: gauge(60, 0.3, 15, 3, 10, 180),
    nox: gauge(220, 0.3, 35, 6, 80, 380),
    particulate: gauge(10, 0.3, 3, 0.5, 2, 27),
  },
};

export const THERMAL_POWER: IndustryProfile = {
  // output follows grid demand: deep load cuts at night
  shifts: { night: 0.7, day: 1, evening: 0.95, weekend: 0.88 },
  gauges: {
    wastewater_flow: gauge(150, 0.4, 20, 3, 30, 300, true),
    active_power: gauge(300_000, 0.95, 15_000, 2_000, 80_000, 350_000, true),
    steam_flow: gauge(900, 0.95, 50, 8, 200, 1_100, true),
    flue_gas_flow: gauge(1_200_000, 0.9, 50_000, 10_000, 300_000, 1_800_000, true),
    o2: gauge(6, -0.5, 0.6, 0.1, 4, 9),
    so2: gauge(20, 0.3, 5, 1.2, 3, 34),
    nox: gauge(35, 0.3, 6, 1.5, 10, 49),
    particulate: gauge(3, 0.3, 0.8, 0.2, 0.5, 9),
  },
};

export const CHEMICALS: IndustryProfile = {
  shifts: { night: 0.95, day: 1, evening: 0.98, weekend: 0.96 },
  gauges: {
    wastewater_flow: gauge(300, 0.5, 30, 5, 60, 600, true),
    cod: gauge(60, 0.3, 14, 2, 20, 95),
    nh3n: gauge(6, 0.3, 2, 0.2, 1, 14),
    ph: gauge(7.2, 0, 0.4, 0.04, 6.3, 8.6),
    active_power: gauge(15_000, 0.8, 900, 120, 3_000, 22_000, true),
    steam_flow: gauge(60, 0.8, 5, 0.8, 10, 100, true),
  },
};
