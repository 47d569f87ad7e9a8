/**
 * Which station code each reading feeds: by plant, then by meter and quantity, with the factor from the quantity's
 * canonical unit to the code's HJ 212 unit (protocols/hj212/codes.ts: w00000 in L/s, a00000 in m3/s, ...). Built from
 * the config alone, so that a code whose unit does not convert fails at start naming its field, before anything opens.
 */
import { unitFactor, type QuantityId } from '../core/catalog.ts';
import { ConfigError } from '../core/errors.ts';
import type { BatchReading } from '../core/reading.ts';
import { quantityForCode, unitForCode } from '../protocols/hj212/codes.ts';
import type { UplinkConfig } from './config.ts';

export interface Route {
  /** Index of the station in `config.stations`. */
  station: number;
  code: string;
  /** Factor from the quantity's canonical unit to the code's HJ 212 unit. */
  fromCanonical: number;
}

export class Routes {
  private readonly byPlant = new Map<string, Map<string, Route[]>>();

  /** Throws a ConfigError naming each pollutant whose code's unit does not convert to its quantity. */
  constructor(config: UplinkConfig) {
    const issues: { path: string; expected: string }[] = [];
    config.stations.forEach((station, si) => {
      station.pollutants.forEach((p, pi) => {
        const quantity = quantityForCode(p.code) as QuantityId;
        const unit = unitForCode(p.code) as string;
        const factor = unitFactor(quantity, unit);
        if (factor === undefined) {
          issues.push({ path: `stations[${si}].pollutants[${pi}].code`, expected: `a code whose HJ 212 unit converts to ${quantity} (${unit} does not)` });
          return;
        }
        let byPoint = this.byPlant.get(station.plant);
        if (!byPoint) this.byPlant.set(station.plant, (byPoint = new Map()));
        const key = `${p.meter}|${quantity}`;
        byPoint.set(key, [...(byPoint.get(key) ?? []), { station: si, code: p.code, fromCanonical: 1 / factor }]);
      });
    });
    if (issues.length) throw new ConfigError(`uplink ${config.id}`, issues);
  }

  /** Whether any station reports this plant. */
  reports(plant: string): boolean {
    return this.byPlant.has(plant);
  }

  /** The station codes a reading of `plant` feeds (none for a meter no station reports). */
  of(plant: string, reading: BatchReading): readonly Route[] {
    return this.byPlant.get(plant)?.get(`${reading.meter}|${reading.quantity}`) ?? [];
  }
}
