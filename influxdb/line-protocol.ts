/**
 * Readings as InfluxDB line protocol (InfluxDB 1.x "Line protocol reference", write_protocols/line_protocol_reference),
 * with the names and escaping of influxdb/schema.ts.
 *
 * The schema, one line per reading:
 *
 *   <domain>,meter=<meter>,plant=<plant> <quantity>=<value in canonical unit>,<quantity>_quality="<quality>" <ts ms>
 *
 * Tag keys are written sorted (meter < plant), as the reference's performance tips ask. A reading without a value
 * (`value: null`) writes only its quality field, so a gap stays visible as a quality without a number. Two quantities
 * of one meter at one timestamp are two lines; InfluxDB merges the fields of one series and timestamp into one point.
 * Timestamps are milliseconds: write with `precision=ms`.
 *
 * This is the ingest hot path: one string per reading, built by concatenation from parts precomputed per quantity
 * and quality, joined per message, and escaping only when a character that needs it is present (ids that passed
 * ID_PATTERN never do).
 */
import { quantityDef, unitFactor, type QuantityId } from '../core/catalog.ts';
import type { ReadingBatch } from '../core/reading.ts';
import { escapeKey, escapeMeasurement, quoteFieldString } from './schema.ts';

/**
 * The fields of a reading's line, without measurement, tags or timestamp. Exported for the reference test.
 * `reason` (why the quality is not good) becomes `<q>_reason`; `rejected` (a value refused as out of range, in the
 * canonical unit) `<q>_rejected`, a field no query of the value reads.
 */
export function fieldSet(quantity: string, value: number | null, quality: string, reason?: string, rejected?: number): string {
  const key = escapeKey(quantity);
  let fields = `${key}_quality=${quoteFieldString(quality)}`;
  if (reason !== undefined) fields += `,${key}_reason=${quoteFieldString(reason)}`;
  if (rejected !== undefined) fields += `,${key}_rejected=${String(rejected)}`;
  return value === null ? fields : `${key}=${String(value)},${fields}`;
}

/** One reading as one line. `value` must already be in the quantity's canonical unit (or null). */
export function readingLine(measurement: string, plant: string, meter: string, quantity: string, value: number | null, quality: string, ts: number): string {
  return `${escapeMeasurement(measurement)},meter=${escapeKey(meter)},plant=${escapeKey(plant)} ${fieldSet(quantity, value, quality)} ${ts}`;
}

/**
 * The constant parts of a quantity's lines, built once per quantity (and quality) instead of once per reading: the
 * hot path then only joins them with the meter, plant, value and timestamp.
 */
interface QuantityParts {
  /** `<measurement>,meter=` */
  measurementAndMeterKey: string;
  /** ` <field>=` */
  valueKey: string;
  /** By quality: `,<field>_quality="<quality>" ` after a value, and ` <field>_quality="<quality>" ` without one. */
  afterValue: Map<string, string>;
  withoutValue: Map<string, string>;
}

const partsByQuantity = new Map<string, QuantityParts>();

function quantityParts(quantity: QuantityId): QuantityParts {
  let parts = partsByQuantity.get(quantity);
  if (!parts) {
    parts = {
      measurementAndMeterKey: `${escapeMeasurement(quantityDef(quantity).domain)},meter=`,
      valueKey: ` ${escapeKey(quantity)}=`,
      afterValue: new Map(),
      withoutValue: new Map(),
    };
    partsByQuantity.set(quantity, parts);
  }
  return parts;
}

function qualityPart(parts: QuantityParts, quantity: string, quality: string, hasValue: boolean): string {
  const cache = hasValue ? parts.afterValue : parts.withoutValue;
  let part = cache.get(quality);
  if (part === undefined) {
    part = `${hasValue ? ',' : ' '}${escapeKey(quantity)}_quality=${quoteFieldString(quality)} `;
    cache.set(quality, part);
  }
  return part;
}

/**
 * The lines of a decoded batch joined by `\n` (no trailing newline), values converted to canonical units; each line
 * is what readingLine() makes of the reading. The batch must have passed validation (known quantities, accepted
 * units); `lineCount` of the result is `batch.readings.length`.
 */
export function batchToLines(batch: ReadingBatch): string {
  const plantPart = `,plant=${escapeKey(batch.plant)}`;
  const readings = batch.readings;
  const lines = new Array<string>(readings.length);
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i]!;
    const parts = quantityParts(r.quantity);
    const head = parts.measurementAndMeterKey + escapeKey(r.meter) + plantPart;
    if (r.reason !== undefined) {
      // Rare (a flagged reading): built in full rather than from the cached parts.
      const factor = unitFactor(r.quantity, r.unit) ?? Number.NaN;
      const value = r.value === null ? null : r.value * factor;
      const rejected = r.rejectedValue === undefined ? undefined : r.rejectedValue * factor;
      lines[i] = `${head} ${fieldSet(r.quantity, value, r.quality, r.reason, rejected)} ${r.ts}`;
    } else if (r.value === null) {
      lines[i] = head + qualityPart(parts, r.quantity, r.quality, false) + r.ts;
    } else {
      const value = r.value * (unitFactor(r.quantity, r.unit) ?? Number.NaN);
      lines[i] = head + parts.valueKey + value + qualityPart(parts, r.quantity, r.quality, true) + r.ts;
    }
  }
  // join() yields one flat string; `+=` would leave a rope of hundreds of small strings per message, which lives
  // (and is promoted to V8's old generation) for as long as the message waits to be written.
  return lines.join('\n');
}
