/**
 * The MQTT topic scheme: the only contract between the edge and the centre (besides InfluxDB).
 *
 *   cleanstream/v1/readings/{plant}/{gateway}       ReadingBatch JSON, QoS 1, not retained
 *   cleanstream/v1/status/{gateway}                 "online" retained on connect, "offline" as the last will
 *   cleanstream/v1/status/{gateway}/health          periodic health JSON, not retained
 *   cleanstream/v1/deadletter/{stage}               DeadLetter JSON: what was rejected and why
 *   cleanstream/v1/alerts/{plant}/{rule}/{meter}    current alert state, retained
 *   cleanstream/v1/alert-acks/{plant}/{rule}/{meter} an acknowledgement `{"by": "...", "comment": "..."}` for rules
 *
 * Plant first under readings/ so that a per-gateway ACL can be written as "readings/{its plant}/{its id}" and a
 * per-plant subscription as "readings/{plant}/#".
 */
import { createHash } from 'node:crypto';
import { ID_PATTERN } from '../core/reading.ts';

export const TOPIC_ROOT = 'cleanstream/v1';

export const topics = {
  readings: (plant: string, gateway: string): string => `${TOPIC_ROOT}/readings/${plant}/${gateway}`,
  /** Subscription filter for all readings, or one plant's. */
  readingsFilter: (plant?: string): string => `${TOPIC_ROOT}/readings/${plant ?? '+'}/+`,
  /** Shared-subscription form for brokers that support it (MQTT 5 / Mosquitto 2): N consumers split the feed. */
  sharedReadingsFilter: (group: string): string => `$share/${group}/${TOPIC_ROOT}/readings/+/+`,
  status: (gateway: string): string => `${TOPIC_ROOT}/status/${gateway}`,
  /** Periodic gateway health JSON (readings/s, errors per device, queue depth), not retained. */
  health: (gateway: string): string => `${TOPIC_ROOT}/status/${gateway}/health`,
  deadLetter: (stage: string): string => `${TOPIC_ROOT}/deadletter/${stage}`,
  alert: (plant: string, rule: string, meter: string): string => `${TOPIC_ROOT}/alerts/${plant}/${rule}/${meter}`,
  alertsFilter: (plant?: string): string => `${TOPIC_ROOT}/alerts/${plant ?? '+'}/+/+`,
  alertAck: (plant: string, rule: string, meter: string): string => `${TOPIC_ROOT}/alert-acks/${plant}/${rule}/${meter}`,
  alertAcksFilter: (): string => `${TOPIC_ROOT}/alert-acks/+/+/+`,
} as const;

export interface ReadingsTopic {
  plant: string;
  gateway: string;
}

/** Parse a readings topic; undefined when the topic is not one. */
export function parseReadingsTopic(topic: string): ReadingsTopic | undefined {
  const prefix = `${TOPIC_ROOT}/readings/`;
  if (!topic.startsWith(prefix)) return undefined;
  const rest = topic.slice(prefix.length).split('/');
  if (rest.length !== 2) return undefined;
  const [plant, gateway] = rest as [string, string];
  if (!ID_PATTERN.test(plant) || !ID_PATTERN.test(gateway)) return undefined;
  return { plant, gateway };
}

/** The most of a refused payload a dead letter keeps, unless a stage's config says otherwise (64 KiB). */
export const DEFAULT_DEAD_LETTER_MAX_PAYLOAD_BYTES = 64 * 1024;
/** Longest `detail` kept: details say what is wrong, they do not carry the input. */
const MAX_DETAIL_CHARS = 1024;

/** What a stage publishes on the dead-letter topic for a message it could not accept. */
export interface DeadLetter {
  stage: string;
  reason: string;
  detail: string;
  /** The topic the message came on (cut to its first 1,024 characters: MQTT allows 65,535 bytes). */
  topic: string;
  receivedAt: number;
  /**
   * The original payload as UTF-8 (base64 when it is not valid UTF-8), whole when at most the stage's cap
   * (`deadLetter.maxPayloadBytes`), else its first bytes up to the cap (`payloadTruncated`).
   */
  payload: string;
  payloadEncoding: 'utf8' | 'base64';
  /** Length of the whole original payload in bytes. */
  payloadBytes: number;
  /** SHA-256 (hex) of the whole original payload: tells a truncated letter's message apart, checks a resend. */
  payloadSha256: string;
  /** Whether `payload` is only the start of the original. */
  payloadTruncated: boolean;
}

/** Longest prefix of `bytes`, at most `max` long, that does not end inside a UTF-8 character (a cut one would not round-trip). */
function utf8Prefix(bytes: Buffer, max: number): Buffer {
  let end = Math.min(max, bytes.length);
  // The first byte left out is a continuation byte (10xxxxxx): the cut is inside a character; leave all of it out.
  for (let steps = 0; steps < 3 && end > 0 && end < bytes.length && (bytes[end]! & 0xc0) === 0x80; steps++) end--;
  return bytes.subarray(0, end);
}

export function deadLetterFor(stage: string, topic: string, payload: Buffer, reason: string, detail: string, maxPayloadBytes = DEFAULT_DEAD_LETTER_MAX_PAYLOAD_BYTES): DeadLetter {
  const truncated = payload.length > maxPayloadBytes;
  let kept = truncated ? utf8Prefix(payload, maxPayloadBytes) : payload;
  const text = kept.toString('utf8');
  const roundTrips = Buffer.from(text, 'utf8').equals(kept);
  // base64 takes 4 bytes for 3: keep fewer bytes so that the letter stays within the cap.
  if (!roundTrips && kept.length > Math.floor((maxPayloadBytes * 3) / 4)) kept = kept.subarray(0, Math.floor((maxPayloadBytes * 3) / 4));
  return {
    stage,
    reason,
    detail: detail.length > MAX_DETAIL_CHARS ? `${detail.slice(0, MAX_DETAIL_CHARS)}…` : detail,
    topic: topic.length > MAX_DETAIL_CHARS ? `${topic.slice(0, MAX_DETAIL_CHARS)}…` : topic,
    receivedAt: Date.now(),
    payload: roundTrips ? text : kept.toString('base64'),
    payloadEncoding: roundTrips ? 'utf8' : 'base64',
    payloadBytes: payload.length,
    payloadSha256: createHash('sha256').update(payload).digest('hex'),
    payloadTruncated: kept.length < payload.length,
  };
}
