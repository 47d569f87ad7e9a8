/**
 * A 5,000 t/d clinker line (new dry process with a precalciner): the kiln tail stack under GB 4915-2013 (kiln: PM 30,
 * SO2 200, NOx 400 mg/m3, judged at 10 % O2; the limits file marks the figures as commonly quoted, unverified). SNCR
 * keeps NOx at 200-350, a bag filter keeps PM near 10; SO2 depends on the raw meal's sulphur and stays well under.
 * Almost no process effluent (cooling-water blowdown only: a few tens of m3/h). The kiln runs around the clock and
 * stops for a few days every couple of months for refractory and cooler repairs (plus, in the north, the winter
 * staggered-production stops): the grinding plant and auxiliaries keep a tenth of the load.
 */
import { gauge, type IndustryProfile } from './types.ts';

export const CEMENT: IndustryProfile = {
  shifts: { night: 0.98, day: 1, evening: 0.99, weekend: 0.98, maintenance: { everyWeeks: 8, shifts: 9, level: 0.1 } },
  gauges: {
    wastewater_flow: gauge(30, 0.3, 5, 1, 5, 70, true),
    // GB/T 18916 quota for clinker: 0.225-0.51 m3/t, about 210 t/h of clinker
    // 5,000 t/d of clinker
    production_rate: gauge(208, 1, 6, 2, 0, 260, true),
    water_intake: gauge(80, 0.6, 8, 1.5, 20, 140, true),
    cod: gauge(28, 0.2, 6, 1, 8, 55),
    nh3n: gauge(1.5, 0.2, 0.5, 0.08, 0.2, 4),
    ph: gauge(7.8, 0, 0.3, 0.03, 6.8, 8.8),
    // about 100 kWh per t of cement, raw mill to cement mill
    active_power: gauge(22_000, 0.8, 1_200, 150, 2_000, 30_000, true),
    // kiln tail after the raw mill: about 2,400 m3 per t of clinker
    flue_gas_flow: gauge(520_000, 0.85, 25_000, 5_000, 60_000, 800_000, true),
    o2: gauge(10, -0.3, 0.8, 0.15, 7.5, 14),
    so2: gauge(45, 0.3, 15, 3, 5, 170),
    nox: gauge(260, 0.3, 35, 6, 100, 370),
    particulate: gauge(9, 0.3, 3, 0.5, 1.5, 25),
  },
};
