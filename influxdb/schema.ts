/**
 * What cleanstream keeps in InfluxDB: every measurement, tag key and field key any stage writes or reads, and the
 * escaping of line protocol (InfluxDB 1.x "Line protocol reference", "Special characters") and of InfluxQL text
 * (InfluxQL spec, "Identifiers" and "Strings"). The table of who writes and who reads each measurement is in
 * influxdb/README.md. Timestamps are milliseconds everywhere (`precision=ms` on writes, `epoch=ms` on queries).
 */
import { DOMAINS, type Domain, type QuantityId } from '../core/catalog.ts';

/**
 * Readings: one measurement per catalog domain (`water`, `energy`, `emissions`, `production`), tags `meter` and
 * `plant`, a field per quantity id (its value in the catalog's canonical unit) with its companions below.
 */
export const READING_MEASUREMENTS = DOMAINS;
export type ReadingMeasurement = Domain;
export const READING_TAGS = ['meter', 'plant'] as const;
/** The string field with a reading's quality (`good`, `uncertain`, `bad`); written even when there is no value. */
export const qualityField = (quantity: string): string => `${quantity}_quality`;
/** The string field with why a reading's quality is not good (`no_value`, `flag_d`, `out_of_range`…). */
export const reasonField = (quantity: string): string => `${quantity}_reason`;
/** The float field with a value refused as out of its physical range (canonical unit), kept as evidence, never read as the value. */
export const rejectedField = (quantity: string): string => `${quantity}_rejected`;

/**
 * Pollutant loads per outfall and interval, computed by ingest (ingest/loads.ts): tags `outfall`, `plant`; fields
 * `volume_m3`, `flow_s` and per pollutant `<p>_kg`, `<p>_m3`, `<p>_s`. Summed by the rollups and the reductions.
 */
export const LOADS_MEASUREMENT = 'loads';
export const LOAD_POLLUTANTS = ['cod', 'nh3n'] as const satisfies readonly QuantityId[];
export type LoadPollutant = (typeof LOAD_POLLUTANTS)[number];
export const LOAD_TAGS = ['outfall', 'plant'] as const;
/** Every field of a `loads` row (all summed by the rollups). */
export const LOAD_FIELDS = ['volume_m3', 'flow_s', ...LOAD_POLLUTANTS.flatMap((p) => [`${p}_kg`, `${p}_m3`, `${p}_s`])] as const;

/**
 * Alert transitions, a row per transition (rules/influx.ts): tags `plant`, `rule`, `meter`, `severity`; fields below.
 * `by` and `comment` only on acknowledgement rows; rows older than `peak`, `by` and `comment` lack them.
 */
export const ALERTS_MEASUREMENT = 'alerts';
export const ALERT_TAGS = ['meter', 'plant', 'rule', 'severity'] as const;
export const ALERT_FIELDS = ['id', 'state', 'transition', 'value', 'limit', 'count', 'peak', 'by', 'comment'] as const;

/** Baselines (rules/baselines.ts): tags `indicator`, `level`, `plant`, `source`; fields `value`, `verified`. */
export const BASELINES_MEASUREMENT = 'baselines';
export const BASELINE_TAGS = ['indicator', 'level', 'plant', 'source'] as const;
export const BASELINE_FIELDS = ['value', 'verified'] as const;
/** The `level` tag: `plant` (the plant's own reference), `I`/`II`/`III` (its industry's grades), `learned` (a percentile of its history). */
export const BASELINE_LEVELS = ['I', 'II', 'III', 'plant', 'learned'] as const;
export type BaselineLevel = (typeof BASELINE_LEVELS)[number];

/**
 * Reductions by month (rules/reductions.ts): tags `month`, `plant` (scope plant), `pollutant`, `region`, `scope`
 * (`plant`, `region`, `national`); fields below (`baseline_t`, `reduced_t` only with a baseline; `target_t`,
 * `year_to_date_t`, `progress` only at national scope; `has_baseline` only at plant scope).
 */
export const REDUCTIONS_MEASUREMENT = 'reductions';
export const REDUCTION_TAGS = ['month', 'plant', 'pollutant', 'region', 'scope'] as const;
export const REDUCTION_FIELDS = ['discharged_t', 'baseline_t', 'reduced_t', 'covered_s', 'period_s', 'coverage', 'partial', 'has_baseline', 'target_t', 'year_to_date_t', 'progress'] as const;

/** Every measurement the project writes (the rollup retention policies hold the readings' and loads' measurements). */
export const MEASUREMENTS = [...READING_MEASUREMENTS, LOADS_MEASUREMENT, ALERTS_MEASUREMENT, BASELINES_MEASUREMENT, REDUCTIONS_MEASUREMENT] as const;

// ---- line protocol -------------------------------------------------------------------------------------------------
// Newline, carriage return and tab cannot appear raw in a line, so they are written as `\n`, `\r`, `\t` (as
// @influxdata/influxdb-client's Point does). Escaping runs only when a character that needs it is present (ids that
// passed core's ID_PATTERN never do): this is ingest's hot path.
const MEASUREMENT_SPECIAL = /[, \n\r\t]/;
const MEASUREMENT_SPECIAL_ALL = /[, \n\r\t]/g;
const TAG_SPECIAL = /[,= \n\r\t]/;
const TAG_SPECIAL_ALL = /[,= \n\r\t]/g;
const QUOTED_SPECIAL = /["\\]/;
const QUOTED_SPECIAL_ALL = /["\\]/g;

const CONTROL_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const escapeChar = (c: string): string => CONTROL_ESCAPES[c] ?? `\\${c}`;

/** Measurement names: commas and spaces are escaped. */
export function escapeMeasurement(name: string): string {
  return MEASUREMENT_SPECIAL.test(name) ? name.replace(MEASUREMENT_SPECIAL_ALL, escapeChar) : name;
}

/** Tag keys, tag values and field keys: commas, equals signs and spaces are escaped. */
export function escapeKey(key: string): string {
  return TAG_SPECIAL.test(key) ? key.replace(TAG_SPECIAL_ALL, escapeChar) : key;
}

/** String field values: double quotes and backslashes are escaped; the result includes the surrounding quotes. */
export function quoteFieldString(value: string): string {
  return QUOTED_SPECIAL.test(value) ? `"${value.replace(QUOTED_SPECIAL_ALL, '\\$&')}"` : `"${value}"`;
}

// ---- InfluxQL ------------------------------------------------------------------------------------------------------

/** An identifier (measurement, tag or field key, database, retention policy) in double quotes, `"` and `\` escaped. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/["\\]/g, '\\$&')}"`;
}

/** A string literal (a tag value compared in WHERE) in single quotes, `'` and `\` escaped. */
export function quoteStringLiteral(value: string): string {
  return `'${value.replace(/['\\]/g, '\\$&')}'`;
}

/** `"tag" = 'a' OR "tag" = 'b'`, parenthesised; InfluxQL has no IN. */
export function tagIn(tag: string, values: readonly string[]): string {
  if (values.length === 0) throw new Error(`tagIn(${tag}) needs at least one value`);
  return `(${values.map((v) => `${quoteIdentifier(tag)} = ${quoteStringLiteral(v)}`).join(' OR ')})`;
}
