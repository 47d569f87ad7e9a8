/**
 * Whether a message from the broker may be written. Policy: a message with any invalid reading is rejected whole
 * (with the reason of the first problem found) and dead-lettered, so nothing is ever half-written and the dead
 * letter holds everything needed to replay it once fixed.
 */
import type { RejectReason } from '../core/error-codes.ts';
import { PayloadError } from '../core/errors.ts';
import type { PlantRegistry } from '../core/plants.ts';
import { decodeBatch, describeInput, type ReadingBatch, type TimestampPolicy } from '../core/reading.ts';
import { parseReadingsTopic, type ReadingsTopic } from '../bus/topics.ts';

// Why a message is rejected: a reason from core/error-codes.ts (DEAD_LETTER_REASONS, meanings in docs/errors.md),
// which also lists the reasons ingest adds when writing (write_rejected, spool_unreadable, internal_error).
export { REJECT_REASONS, type RejectReason } from '../core/error-codes.ts';

export interface Accepted {
  ok: true;
  topic: ReadingsTopic;
  batch: ReadingBatch;
}

export interface Rejected {
  ok: false;
  reason: RejectReason;
  detail: string;
  /** Index in `readings` of the reading at fault, when one is. */
  readingIndex?: number;
}

const reject = (reason: RejectReason, detail: string, readingIndex?: number): Rejected =>
  readingIndex === undefined ? { ok: false, reason, detail } : { ok: false, reason, detail, readingIndex };

/** `timestamps` undefined: no clock checks (only what InfluxDB can store). */
export function validateMessage(topic: string, payload: Buffer, registry?: PlantRegistry, timestamps?: TimestampPolicy): Accepted | Rejected {
  const parsedTopic = parseReadingsTopic(topic);
  if (!parsedTopic) return reject('bad_topic', `${describeInput(topic)} is not a readings topic (cleanstream/v1/readings/{plant}/{gateway})`);

  let batch: ReadingBatch;
  try {
    batch = decodeBatch(payload, timestamps);
  } catch (err) {
    if (!(err instanceof PayloadError)) throw err;
    const index = err.context.readingIndex;
    return reject(err.reason, err.message.slice(err.reason.length + 2), typeof index === 'number' ? index : undefined);
  }

  if (batch.plant !== parsedTopic.plant || batch.gateway !== parsedTopic.gateway) {
    return reject('topic_mismatch', `topic is for plant ${parsedTopic.plant} gateway ${parsedTopic.gateway}, the batch says plant ${batch.plant} gateway ${batch.gateway}`);
  }
  if (registry && !registry.plant(batch.plant)) return reject('unknown_plant', `plant ${batch.plant} is not in the plant registry`);

  const readings = batch.readings;
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i]!;
    if (registry && !registry.knows(batch.plant, r.meter, r.quantity)) {
      const meter = registry.meter(batch.plant, r.meter);
      return reject(
        'unknown_meter',
        meter
          ? `readings[${i}]: meter ${r.meter} of plant ${batch.plant} does not measure ${r.quantity} (it measures ${meter.quantities.join(', ')})`
          : `readings[${i}]: plant ${batch.plant} has no meter ${r.meter}`,
        i,
      );
    }
  }
  return { ok: true, topic: parsedTopic, batch };
}
