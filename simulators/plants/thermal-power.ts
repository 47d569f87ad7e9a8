/**
 * A coal-fired station of two 350 MW units under GB 13223-2011 with the ultra-low emission retrofit (dust 10, SO2 35,
 * NOx 50 mg/m3 at 6 % O2): wet FGD, SCR and a wet ESP keep the stack at SO2 10-30, NOx 25-45, dust 1-5. Output
 * follows grid dispatch: deep load cuts at night (peak shaving to about 60 %) and lighter load at weekends. One unit
 * at a time goes down for a week of planned maintenance every couple of months: the station runs at half output.
 * Effluent is cooling-tower blowdown and treated FGD wastewater.
 */
import { gauge, type IndustryProfile } from './types.ts';

export const THERMAL_POWER: IndustryProfile = {
  shifts: { night: 0.62, day: 1, evening: 0.95, weekend: 0.85, maintenance: { everyWeeks: 9, shifts: 21, level: 0.5 } },
  // Its product is electricity (active_energy, MWh), not tonnes: a production meter here falls back to the generic profile.
  gauges: {
    wastewater_flow: gauge(160, 0.5, 20, 3, 30, 320, true),
    water_intake: gauge(1_400, 0.7, 100, 15, 300, 2_400, true),
    cod: gauge(22, 0.2, 5, 0.8, 6, 45),
    nh3n: gauge(1.2, 0.2, 0.4, 0.06, 0.1, 3.5),
    ph: gauge(7.6, 0, 0.3, 0.03, 6.6, 8.7),
    // gross generation of both units, kW
    active_power: gauge(600_000, 0.95, 20_000, 2_500, 150_000, 720_000, true),
    // main steam, about 3 t/MWh
    steam_flow: gauge(1_900, 0.95, 80, 12, 400, 2_300, true),
    flue_gas_flow: gauge(2_200_000, 0.9, 80_000, 15_000, 500_000, 3_000_000, true),
    // lower load needs more excess air
    o2: gauge(5.8, -0.5, 0.5, 0.1, 3.8, 8.5),
    so2: gauge(19, 0.3, 4, 1.2, 3, 33),
    nox: gauge(34, 0.3, 5, 1.5, 10, 47),
    particulate: gauge(2.6, 0.3, 0.7, 0.2, 0.4, 8),
    co2: gauge(12.5, 0.2, 0.6, 0.1, 8, 15),
  },
};
