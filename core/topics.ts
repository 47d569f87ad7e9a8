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
import { ID_PATTERN } from './reading.ts';

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

/** What a stage publishes on the dead-letter topic for a message it could not accept. */
export interface DeadLetter {
  stage: string;
  reason: string;
  detail: string;
  topic: string;
  receivedAt: number;
  /** The original payload as UTF-8 (base64 when it is not valid UTF-8), so nothing is lost. */
  payload: string;
  payloadEncoding: 'utf8' | 'base64';
}

export function deadLetterFor(stage: string, topic: string, payload: Buffer, reason: string, detail: string): DeadLetter {
  const text = payload.toString('utf8');
  const roundTrips = Buffer.from(text, 'utf8').equals(payload);
  return {
    stage,
    reason,
    detail,
    topic,
    receivedAt: Date.now(),
    payload: roundTrips ? text : payload.toString('base64'),
    payloadEncoding: roundTrips ? 'utf8' : 'base64',
  };
}
