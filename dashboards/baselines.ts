/**
 * Baselines as the rules stage writes them to InfluxDB measurement `baselines` (rules/baselines.ts, rules/jobs.ts):
 * tags plant, indicator, level (I, II, III, plant, learned), source (static, learned); fields value, verified. The
 * job rewrites every baseline at each run (hourly by default), so the one in force is the newest point of its series.
 * Read from InfluxDB, not from rules' modules: the dashboard shows what rules actually judged and counted with.
 */
import { isQuantityId, quantityDef } from '../core/catalog.ts';
import type { Plant } from '../core/plants.ts';
import { seriesRows, type InfluxClient } from '../influxdb/client.ts';
import { BASELINE_LEVELS, BASELINES_MEASUREMENT, quoteIdentifier, quoteStringLiteral, tagIn, type BaselineLevel } from '../influxdb/schema.ts';


export interface BaselineRow {
  plant: string;
  region: string;
  /** A quantity id (canonical unit below) or a per-unit-product indicator such as water_m3_per_t. */
  indicator: string;
  level: BaselineLevel;
  source: 'static' | 'learned';
  value: number;
  /** The catalog's canonical unit when the indicator is a quantity; null for per-unit-product indicators. */
  unit: string | null;
  verified: boolean;
  /** When rules last wrote it (ms). */
  writtenAt: number;
}

export interface BaselineFilter {
  indicator?: string | undefined;
  level?: BaselineLevel | undefined;
}

export function baselinesStatement(plants: readonly Plant[], filter: BaselineFilter = {}): string {
  const where = [tagIn('plant', plants.map((p) => p.id))];
  if (filter.indicator !== undefined) where.push(`"indicator" = ${quoteStringLiteral(filter.indicator)}`);
  if (filter.level !== undefined) where.push(`"level" = ${quoteStringLiteral(filter.level)}`);
  return `SELECT "value", "verified" FROM ${quoteIdentifier(BASELINES_MEASUREMENT)} WHERE ${where.join(' AND ')} GROUP BY "plant", "indicator", "level", "source" ORDER BY time DESC LIMIT 1`;
}

const isLevel = (x: unknown): x is BaselineLevel => typeof x === 'string' && (BASELINE_LEVELS as readonly string[]).includes(x);

/** The baselines in force for these plants, sorted by plant, indicator and level. */
export async function fetchBaselines(influx: InfluxClient, plants: readonly Plant[], filter: BaselineFilter = {}): Promise<BaselineRow[]> {
  if (plants.length === 0) return [];
  const [series = []] = await influx.query([baselinesStatement(plants, filter)]);
  const regionOf = new Map(plants.map((p) => [p.id, p.region]));
  const out: BaselineRow[] = [];
  for (const s of series) {
    for (const row of seriesRows(s)) {
      const { plant, indicator, level, source, value, verified, time } = row;
      const region = typeof plant === 'string' ? regionOf.get(plant) : undefined;
      if (region === undefined || typeof indicator !== 'string' || !isLevel(level) || typeof value !== 'number' || typeof time !== 'number') continue;
      out.push({
        plant: plant as string,
        region,
        indicator,
        level,
        source: source === 'learned' ? 'learned' : 'static',
        value,
        unit: isQuantityId(indicator) ? quantityDef(indicator).unit : null,
        verified: verified !== false,
        writtenAt: time,
      });
    }
  }
  const order = (r: BaselineRow) => `${r.plant}\u0000${r.indicator}\u0000${BASELINE_LEVELS.indexOf(r.level)}`;
  return out.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
}
