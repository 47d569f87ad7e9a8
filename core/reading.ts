/**
 * Readings and the MQTT payload that carries them.
 *
 * One MQTT message carries the readings of one gateway scan for one plant (a `ReadingBatch`). The payload is JSON,
 * documented in the README. The decoder below is hand-written rather than schema-generated because it runs for every
 * message on ingest's hot path and must name the first thing wrong in a message precisely (the reason labels the
 * dead-letter counter).
 */
import { isQuantityId, unitFactor, type QuantityId } from './catalog.ts';
import { PayloadError } from './errors.ts';

export const QUALITIES = ['good', 'uncertain', 'bad'] as const;
export type Quality = (typeof QUALITIES)[number];

/** Identifiers used in topics and InfluxDB tags: lower case, digits, '-' and '_', starting with a letter or digit. */
export const ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export interface Reading {
  plant: string;
  meter: string;
  quantity: QuantityId;
  /** null when the source had no usable value (NaN, comm failure); quality is then never `good`. */
  value: number | null;
  unit: string;
  /** Milliseconds since the epoch: the source's own timestamp when it has one, else the gateway's scan time. */
  ts: number;
  quality: Quality;
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

function fail(reason: string, detail: string, index?: number): never {
  throw new PayloadError(reason, detail, index === undefined ? {} : { readingIndex: index });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkId(value: unknown, field: string, index?: number): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    fail('bad_id', `${field} must match ${ID_PATTERN}, got ${JSON.stringify(value)}`, index);
  }
  return value;
}

const qualitySet = new Set<string>(QUALITIES);

/**
 * Parse and validate a batch. Throws PayloadError whose `reason` is one of:
 * not_json, bad_envelope, unsupported_version, bad_id, bad_reading, unknown_quantity, bad_unit, bad_value, bad_timestamp.
 */
export function decodeBatch(payload: Buffer | string): ReadingBatch {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch (err) {
    fail('not_json', (err as Error).message);
  }
  if (!isRecord(parsed)) fail('bad_envelope', 'payload must be a JSON object');
  if (parsed.v !== PAYLOAD_VERSION) fail('unsupported_version', `v must be ${PAYLOAD_VERSION}, got ${JSON.stringify(parsed.v)}`);
  const gateway = checkId(parsed.gateway, 'gateway');
  const plant = checkId(parsed.plant, 'plant');
  if (!Number.isSafeInteger(parsed.seq) || (parsed.seq as number) < 0) fail('bad_envelope', 'seq must be a non-negative integer');
  if (parsed.plantSeq !== undefined && (!Number.isSafeInteger(parsed.plantSeq) || (parsed.plantSeq as number) < 0)) fail('bad_envelope', 'plantSeq must be a non-negative integer when present');
  if (!Number.isFinite(parsed.sentAt)) fail('bad_envelope', 'sentAt must be a number (ms since epoch)');
  if (!Array.isArray(parsed.readings)) fail('bad_envelope', 'readings must be an array');
  const readings = parsed.readings as unknown[];
  for (let i = 0; i < readings.length; i++) checkReading(readings[i], i);
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

function checkReading(r: unknown, i: number): asserts r is BatchReading {
  if (!isRecord(r)) fail('bad_reading', `readings[${i}] must be an object`, i);
  checkId(r.meter, `readings[${i}].meter`, i);
  if (typeof r.quantity !== 'string' || !isQuantityId(r.quantity)) {
    fail('unknown_quantity', `readings[${i}].quantity ${JSON.stringify(r.quantity)} is not in the catalog`, i);
  }
  if (typeof r.unit !== 'string' || unitFactor(r.quantity, r.unit) === undefined) {
    fail('bad_unit', `readings[${i}].unit ${JSON.stringify(r.unit)} is not a unit of ${r.quantity}`, i);
  }
  if (typeof r.quality !== 'string' || !qualitySet.has(r.quality)) {
    fail('bad_reading', `readings[${i}].quality must be one of ${QUALITIES.join(', ')}`, i);
  }
  if (r.value === null) {
    if (r.quality === 'good') fail('bad_value', `readings[${i}].value is null but quality is good`, i);
  } else if (typeof r.value !== 'number' || !Number.isFinite(r.value)) {
    fail('bad_value', `readings[${i}].value must be a finite number or null`, i);
  }
  if (!Number.isSafeInteger(r.ts) || (r.ts as number) <= 0) fail('bad_timestamp', `readings[${i}].ts must be integer ms since epoch`, i);
}

/** Flatten a batch into readings carrying their plant. */
export function batchReadings(batch: ReadingBatch): Reading[] {
  return batch.readings.map((r) => ({ ...r, plant: batch.plant }));
}
