/**
 * An integrated pulp and paper mill of about 300 kt/yr, direct discharge under GB 3544-2008 Table 2 (integrated:
 * COD 90, NH3-N 8 mg/L, pH 6-9), a coal-fired boiler house with ultra-low emission controls.
 * Continuous process: nights and weekends run nearly full.
 */
import { gauge, type IndustryProfile } from './types.ts';

export const PULP_PAPER: IndustryProfile = {
  shifts: { night: 0.93, day: 1, evening: 0.97, weekend: 0.94 },
  gauges: {
    // about 20,000 m3/d of effluent
    // about 300 kt of paper a year: 36 t/h at full rate
    production_rate: gauge(36, 1, 1.5, 0.4, 0, 50, true),
    wastewater_flow: gauge(850, 0.6, 80, 10, 300, 1_600, true),
    water_intake: gauge(1_050, 0.6, 90, 12, 400, 2_000, true),
    cod: gauge(60, 0.3, 12, 2, 30, 86),
    nh3n: gauge(3.8, 0.3, 1.2, 0.15, 1, 7.5),
    ph: gauge(7.3, 0, 0.3, 0.03, 6.6, 8),
    active_power: gauge(22_000, 0.8, 1_200, 150, 6_000, 32_000, true),
    // about 2.5 t of steam per t of paper
    steam_flow: gauge(85, 0.8, 6, 1, 20, 130, true),
    flue_gas_flow: gauge(160_000, 0.8, 8_000, 1_500, 40_000, 260_000, true),
    o2: gauge(8, -0.4, 0.9, 0.15, 5.8, 10.5),
    so2: gauge(25, 0.3, 5, 1.2, 5, 34),
    nox: gauge(38, 0.3, 6, 1.5, 10, 49),
    particulate: gauge(5, 0.3, 1.3, 0.3, 1, 9.5),
  },
};
