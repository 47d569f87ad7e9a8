/**
 * Readings and the MQTT payload that carries them.
 *
 * One MQTT message carries the readings of one gateway scan for one plant (a `ReadingBatch`). The payload is JSON,
 * documented in the README. The decoder below is hand-written rather than schema-generated because it runs for every
 * message on ingest's hot path and must name the first thing wrong in a message precisely (the reason labels the
 * dead-letter counter).
 */
import { isQuantityId, quantityDef, unitFactor, type QuantityId } from './catalog.ts';
import type { DecodeReason } from './error-codes.ts';
import { PayloadError } from './errors.ts';

export const QUALITIES = ['good', 'uncertain', 'bad'] as const;
export type Quality = (typeof QUALITIES)[number];

/** Identifiers used in topics and InfluxDB tags: lower case, digits, '-' and '_', starting with a letter or digit. */
export const ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export interface Reading {
  plant: string;
  meter: string;
  quantity: QuantityId;
  /**
   * null when the source had no usable value (NaN, comm failure, the device's no-value code) or the value was outside
   * the quantity's physical range (decodeBatch); quality is then never `good`.
   */
  value: number | null;
  unit: string;
  /** Milliseconds since the epoch: the source's own timestamp when it has one, else the gateway's scan time. */
  ts: number;
  quality: Quality;
  /**
   * Why quality is not good, as a short code (READING_REASON_PATTERN), when the sender or decodeBatch knows:
   * `no_value` (the device's no-value code), `out_of_range` (set by decodeBatch), or a driver's own.
   */
  reason?: string;
  /** Set by decodeBatch only, with reason `out_of_range`: the value as sent (in `unit`), kept as evidence. */
  rejectedValue?: number;
}

/** A reading inside a batch: the plant is the batch's. */
export type BatchReading = Omit<Reading, 'plant'>;

export const PAYLOAD_VERSION = 1;

export interface ReadingBatch {
  v: typeof PAYLOAD_VERSION;
  gateway: string;
  plant: string;
  /** Per-gateway counter, increasing by one per published batch; lets consumers see gaps and order. */
  seq: number;
  /**
   * Per-gateway-and-plant counter, increasing by one per batch of this plant (optional; from 0 at a gateway start):
   * lets a consumer that sees only some plants of a gateway (a partition of the rules) tell a gap from another
   * plant's batch.
   */
  plantSeq?: number;
  /** When the gateway assembled the batch (ms). */
  sentAt: number;
  readings: BatchReading[];
}

export function encodeBatch(batch: ReadingBatch): Buffer {
  return Buffer.from(JSON.stringify(batch));
}

/**
 * The text encodeBatch gives, for a batch whose readings are already JSON (a gateway serialises a scan's readings at
 * once and numbers the batch later, when it is queued): the envelope's fields in the order a ReadingBatch declares them.
 */
export function encodeBatchAround(envelope: Omit<ReadingBatch, 'v' | 'readings'>, readingsJson: string): string {
  const plantSeq = envelope.plantSeq === undefined ? '' : `,"plantSeq":${envelope.plantSeq}`;
  return `{"v":${PAYLOAD_VERSION},"gateway":${JSON.stringify(envelope.gateway)},"plant":${JSON.stringify(envelope.plant)},"seq":${envelope.seq}${plantSeq},"sentAt":${envelope.sentAt},"readings":${readingsJson}}`;
}

/** A reading's `reason`: a short code, never free text. */
export const READING_REASON_PATTERN = /^[a-z][a-z0-9_]{0,31}$/;

/** Reasons a consumer gives a reading itself. */
export const OUT_OF_RANGE = 'out_of_range';
/** What a driver says when the device reported its "no valid value" code. */
export const NO_VALUE = 'no_value';

/**
 * How far from the consumer's clock a reading's `ts` may be. Readings from the future move event-time windows and the
 * plant's "latest" ahead of every real reading; readings of long ago (a clock reset to 1970 or 2000) are not history.
 */
export interface TimestampPolicy {
  now: number;
  /** A reading more than this ahead of `now` is refused (`ts_in_future`). */
  maxFutureSkewMs: number;
  /** A reading more than this behind `now` is refused (`ts_too_old`); undefined: no age limit (backfill). */
  maxAgeMs: number | undefined;
}

/** The defaults of the stages' `timestamps:` config: 5 minutes of clock skew, 30 days of store-and-forward backlog. */
export const DEFAULT_MAX_FUTURE_SKEW_MS = 5 * 60_000;
export const DEFAULT_MAX_AGE_MS = 30 * 24 * 3600_000;
/** Earlier than this no reading is believed, backfill or not: a meter's clock reset to its epoch (1970, 2000). */
export const EARLIEST_TS_MS = Date.UTC(2000, 0, 2);
/** InfluxDB stores nanoseconds in an int64: later than 2262-04-11 cannot be written. */
const MAX_TS_MS = 9_223_372_036_854;

const SHOWN_CHARS = 32;

/**
 * A value as an error detail may show it: short strings in full, longer ones as a prefix and their length, so that a
 * detail never repeats a large input (a 1 MB id makes a short detail, not a 2 MB dead letter).
 */
export function describeInput(value: unknown): string {
  if (typeof value === 'string') {
    return value.length <= SHOWN_CHARS ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, SHOWN_CHARS))}… (${value.length.toLocaleString('en')} characters)`;
  }
  if (value === null || typeof value === 'number' || typeof value === 'boolean' || value === undefined) return String(value);
  return Array.isArray(value) ? `an array of ${value.length.toLocaleString('en')}` : `a ${typeof value}`;
}

function fail(reason: DecodeReason, detail: string, index?: number): never {
  throw new PayloadError(reason, detail, index === undefined ? {} : { readingIndex: index });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkId(value: unknown, field: string, index?: number): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    fail('bad_id', `${field} must match ${ID_PATTERN}, got ${describeInput(value)}`, index);
  }
  return value;
}

const qualitySet = new Set<string>(QUALITIES);

/**
 * Parse and validate a batch. Throws PayloadError whose `reason` is one of:
 * not_json, bad_envelope, unsupported_version, bad_id, bad_reading, unknown_quantity, bad_unit, bad_value,
 * bad_timestamp, and with a timestamp policy ts_in_future and ts_too_old.
 *
 * A finite value outside its quantity's physical range (catalog `range`, compared in the canonical unit) does not
 * reject the batch: the reading comes out with `value: null`, `quality: 'bad'`, `reason: 'out_of_range'` and the
 * value as sent in `rejectedValue`, so that no consumer stores, averages or judges it as a measurement, and the
 * other readings of the scan are kept.
 */
export function decodeBatch(payload: Buffer | string, timestamps?: TimestampPolicy): ReadingBatch {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch (err) {
    fail('not_json', (err as Error).message);
  }
  if (!isRecord(parsed)) fail('bad_envelope', 'payload must be a JSON object');
  if (parsed.v !== PAYLOAD_VERSION) fail('unsupported_version', `v must be ${PAYLOAD_VERSION}, got ${describeInput(parsed.v)}`);
  const gateway = checkId(parsed.gateway, 'gateway');
  const plant = checkId(parsed.plant, 'plant');
  if (!Number.isSafeInteger(parsed.seq) || (parsed.seq as number) < 0) fail('bad_envelope', 'seq must be a non-negative integer');
  if (parsed.plantSeq !== undefined && (!Number.isSafeInteger(parsed.plantSeq) || (parsed.plantSeq as number) < 0)) fail('bad_envelope', 'plantSeq must be a non-negative integer when present');
  if (!Number.isFinite(parsed.sentAt)) fail('bad_envelope', 'sentAt must be a number (ms since epoch)');
  if (!Array.isArray(parsed.readings)) fail('bad_envelope', 'readings must be an array');
  const readings = parsed.readings as unknown[];
  for (let i = 0; i < readings.length; i++) checkReading(readings[i], i, timestamps);
  return {
    v: PAYLOAD_VERSION,
    gateway,
    plant,
    seq: parsed.seq as number,
    ...(parsed.plantSeq !== undefined ? { plantSeq: parsed.plantSeq as number } : {}),
    sentAt: parsed.sentAt as number,
    readings: readings as BatchReading[],
  };
}

function checkReading(r: unknown, i: number, timestamps: TimestampPolicy | undefined): asserts r is BatchReading {
  if (!isRecord(r)) fail('bad_reading', `readings[${i}] must be an object`, i);
  checkId(r.meter, `readings[${i}].meter`, i);
  if (typeof r.quantity !== 'string' || !isQuantityId(r.quantity)) {
    fail('unknown_quantity', `readings[${i}].quantity ${describeInput(r.quantity)} is not in the catalog`, i);
  }
  const factor = typeof r.unit === 'string' ? unitFactor(r.quantity, r.unit) : undefined;
  if (factor === undefined) fail('bad_unit', `readings[${i}].unit ${describeInput(r.unit)} is not a unit of ${r.quantity}`, i);
  if (typeof r.quality !== 'string' || !qualitySet.has(r.quality)) {
    fail('bad_reading', `readings[${i}].quality must be one of ${QUALITIES.join(', ')}`, i);
  }
  if (r.reason !== undefined) {
    if (typeof r.reason !== 'string' || !READING_REASON_PATTERN.test(r.reason)) fail('bad_reading', `readings[${i}].reason must match ${READING_REASON_PATTERN}, got ${describeInput(r.reason)}`, i);
    if (r.quality === 'good') fail('bad_reading', `readings[${i}].reason is given but quality is good`, i);
  }
  if (r.rejectedValue !== undefined) fail('bad_reading', `readings[${i}].rejectedValue is set by consumers, not senders`, i);
  if (!Number.isSafeInteger(r.ts) || (r.ts as number) <= 0) fail('bad_timestamp', `readings[${i}].ts must be integer ms since epoch`, i);
  const ts = r.ts as number;
  if (ts > MAX_TS_MS) fail('bad_timestamp', `readings[${i}].ts ${ts} is after 2262, beyond what InfluxDB can store`, i);
  if (timestamps) checkTimestamp(ts, i, timestamps);
  if (r.value === null) {
    if (r.quality === 'good') fail('bad_value', `readings[${i}].value is null but quality is good`, i);
    return;
  }
  if (typeof r.value !== 'number' || !Number.isFinite(r.value)) fail('bad_value', `readings[${i}].value must be a finite number or null`, i);
  const canonical = r.value * factor;
  // The catalog's factors go up to 3600: a huge finite value can still overflow when converted.
  if (!Number.isFinite(canonical)) fail('bad_value', `readings[${i}].value ${r.value} ${r.unit} overflows when converted`, i);
  const [min, max] = quantityDef(r.quantity).range;
  if (canonical < min || canonical > max) {
    (r as BatchReading).rejectedValue = r.value;
    (r as BatchReading).value = null;
    (r as BatchReading).quality = 'bad';
    (r as BatchReading).reason = OUT_OF_RANGE;
  }
}

function checkTimestamp(ts: number, i: number, policy: TimestampPolicy): void {
  if (ts - policy.now > policy.maxFutureSkewMs) {
    fail('ts_in_future', `readings[${i}].ts ${new Date(ts).toISOString()} is more than ${policy.maxFutureSkewMs} ms ahead of this consumer's clock (${new Date(policy.now).toISOString()})`, i);
  }
  if (ts < EARLIEST_TS_MS) fail('ts_too_old', `readings[${i}].ts ${new Date(ts).toISOString()} is before 2000-01-02: a clock that was never set`, i);
  if (policy.maxAgeMs !== undefined && policy.now - ts > policy.maxAgeMs) {
    fail('ts_too_old', `readings[${i}].ts ${new Date(ts).toISOString()} is more than ${policy.maxAgeMs} ms older than this consumer's clock (${new Date(policy.now).toISOString()}); replay it with backfill on`, i);
  }
}

/** Flatten a batch into readings carrying their plant. */
export function batchReadings(batch: ReadingBatch): Reading[] {
  return batch.readings.map((r) => ({ ...r, plant: batch.plant }));
}
