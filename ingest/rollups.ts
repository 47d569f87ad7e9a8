/**
 * Rollups in InfluxDB 1.x: two retention policies (1-minute and 1-hour data, each kept for its own duration) filled by
 * continuous queries, created at start when `influx.createDatabase` is on.
 *
 *   raw (the database's default RP) ──cq 1m──▶ <minute RP> ──cq 1h──▶ <hour RP>
 *
 * Field names stay those of the raw series, so a dashboard reads a rollup by changing only the RP:
 * `SELECT cod FROM "rollup_1h"."water" WHERE …`. Gauges are averaged (`mean`), counters (wastewater_volume,
 * active_energy) keep their last value, loads (kg, m3 and seconds covered per interval) are summed. The hourly mean is the mean of the
 * minute means (each minute weighs the same). Grouped by every tag (`GROUP BY time(…), *`).
 *
 * InfluxDB 1.x runs a CQ at the end of each of its GROUP BY intervals for the interval just ended (data arriving later
 * than that is not rolled up; run the same SELECT … INTO by hand to backfill, see `rollupSelect`).
 */
import { DOMAINS, QUANTITIES, type Domain } from '../core/catalog.ts';
import { LOAD_FIELDS, LOADS_MEASUREMENT, quoteIdentifier } from '../influxdb/schema.ts';

export interface RollupLevel {
  /** Retention policy the rollup is written to. */
  retentionPolicy: string;
  /** How long it keeps data (InfluxQL duration: 30d, 52w, INF). */
  duration: string;
}

export interface RollupPlan {
  database: string;
  /** Where raw points are written (the RP ingest writes to; `autogen` by default). */
  rawRetentionPolicy: string;
  minute: RollupLevel;
  hour: RollupLevel;
}

type Level = 'minute' | 'hour';
const GROUP: Record<Level, string> = { minute: '1m', hour: '1h' };

function aggregates(measurement: Domain | typeof LOADS_MEASUREMENT): string {
  if (measurement === LOADS_MEASUREMENT) return LOAD_FIELDS.map((f) => `sum(${quoteIdentifier(f)}) AS ${quoteIdentifier(f)}`).join(', ');
  return Object.values(QUANTITIES)
    .filter((q) => q.domain === measurement)
    .map((q) => `${q.kind === 'counter' ? 'last' : 'mean'}(${quoteIdentifier(q.id)}) AS ${quoteIdentifier(q.id)}`)
    .join(', ');
}

export const ROLLUP_MEASUREMENTS = [...DOMAINS, LOADS_MEASUREMENT] as const;

/** The SELECT … INTO a CQ runs, for one measurement and level; `where` (e.g. a time range) makes it a backfill. */
export function rollupSelect(plan: RollupPlan, level: Level, measurement: (typeof ROLLUP_MEASUREMENTS)[number], where?: string): string {
  const db = quoteIdentifier(plan.database);
  const source = level === 'minute' ? plan.rawRetentionPolicy : plan.minute.retentionPolicy;
  const target = plan[level].retentionPolicy;
  const m = quoteIdentifier(measurement);
  return `SELECT ${aggregates(measurement)} INTO ${db}.${quoteIdentifier(target)}.${m} FROM ${db}.${quoteIdentifier(source)}.${m}${where ? ` WHERE ${where}` : ''} GROUP BY time(${GROUP[level]}), *`;
}

export function continuousQueryName(level: Level, measurement: string): string {
  return `cleanstream_${GROUP[level]}_${measurement}`;
}

export interface RollupStatement {
  /** CREATE …: run first. */
  create: string;
  /** When CREATE fails because a different definition exists: statements that replace it. */
  replace: string[];
}

/** Every statement that creates the retention policies and continuous queries of the plan, in order. */
export function rollupStatements(plan: RollupPlan): RollupStatement[] {
  const db = quoteIdentifier(plan.database);
  const out: RollupStatement[] = [];
  for (const level of ['minute', 'hour'] as const) {
    const rp = quoteIdentifier(plan[level].retentionPolicy);
    out.push({
      create: `CREATE RETENTION POLICY ${rp} ON ${db} DURATION ${plan[level].duration} REPLICATION 1`,
      replace: [`ALTER RETENTION POLICY ${rp} ON ${db} DURATION ${plan[level].duration}`],
    });
  }
  for (const level of ['minute', 'hour'] as const) {
    for (const measurement of ROLLUP_MEASUREMENTS) {
      const name = quoteIdentifier(continuousQueryName(level, measurement));
      const create = `CREATE CONTINUOUS QUERY ${name} ON ${db} BEGIN ${rollupSelect(plan, level, measurement)} END`;
      out.push({ create, replace: [`DROP CONTINUOUS QUERY ${name} ON ${db}`, create] });
    }
  }
  return out;
}

/**
 * Creates the plan's RPs and CQs through `run` (one InfluxQL statement; rejects with the server's message), replacing
 * ones that exist with another definition. Idempotent: safe at every start.
 */
export async function ensureRollups(plan: RollupPlan, run: (statement: string) => Promise<void>): Promise<void> {
  for (const statement of rollupStatements(plan)) {
    try {
      await run(statement.create);
    } catch (err) {
      if (!/already exists/i.test((err as Error).message)) throw err;
      for (const s of statement.replace) await run(s);
    }
  }
}
