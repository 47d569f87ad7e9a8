/**
 * A dyeing and finishing works discharging to an industrial park's treatment plant under GB 4287-2012 with its 2015
 * amendment (indirect: COD 200 mg/L; NH3-N 20; pH 6-9), with a gas-fired boiler for heat-setting.
 * Batch work follows the day shift: nights and weekends are markedly lower.
 */
import { gauge, type IndustryProfile } from './types.ts';

export const TEXTILE_DYEING: IndustryProfile = {
  shifts: { night: 0.65, day: 1, evening: 0.9, weekend: 0.75 },
  gauges: {
    // about 2 t of fabric an hour on the day shift: 110-130 m3 of water per t, typical of cotton dyeing
    production_rate: gauge(2, 1, 0.12, 0.03, 0, 3.5, true),
    // about 5,000 m3/d
    wastewater_flow: gauge(220, 0.8, 30, 5, 40, 400, true),
    water_intake: gauge(250, 0.8, 30, 5, 50, 450, true),
    cod: gauge(140, 0.4, 25, 4, 70, 190),
    nh3n: gauge(8, 0.3, 2.5, 0.3, 2, 17),
    // alkaline dye baths keep the effluent on the high side of neutral
    ph: gauge(7.9, 0.1, 0.35, 0.04, 7, 8.8),
    tn: gauge(14, 0.3, 3, 0.3, 5, 28),
    tp: gauge(0.9, 0.3, 0.25, 0.03, 0.2, 1.4),
    active_power: gauge(4_500, 0.9, 300, 40, 800, 7_000, true),
    natural_gas_flow: gauge(1_400, 0.9, 120, 20, 200, 2_500, true),
    flue_gas_flow: gauge(28_000, 0.9, 2_000, 300, 5_000, 45_000, true),
    // gas firing runs at lower excess air than coal
    o2: gauge(4.5, -0.4, 0.6, 0.1, 3, 7.5),
    so2: gauge(6, 0.2, 2, 0.4, 1, 14),
    nox: gauge(32, 0.3, 6, 1.2, 8, 48),
    particulate: gauge(2.5, 0.2, 0.7, 0.15, 0.5, 4.8),
  },
};
