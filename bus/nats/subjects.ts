/**
 * core's MQTT topic scheme (bus/topics.ts) as NATS subjects, and the partitioning of readings by plant.
 *
 * A topic becomes a subject with `/` → `.` (as nats-server's MQTT listener maps them), a filter's `+`/`#` become
 * `*`/`>`. Readings are partitioned by the server's subject mapping, not by the publisher: whatever publishes
 * `cleanstream.v1.readings.{plant}.{gateway}` (a gateway over MQTT to any node, or a native client), the server
 * stores it as `cleanstream.v1.partition.{n}.readings.{plant}.{gateway}` with n = FNV-1a(plant) mod P, so that one
 * plant's readings are always in one partition (one ingest worker, in order) and a consumer can read one partition.
 */
import { TOPIC_ROOT } from '../topics.ts';

/** How many partitions readings are split into when the config does not say. */
export const DEFAULT_PARTITIONS = 16;

const ROOT_SUBJECT = TOPIC_ROOT.replaceAll('/', '.');
const READINGS_SUBJECT = `${ROOT_SUBJECT}.readings`;
const PARTITION_SUBJECT = `${ROOT_SUBJECT}.partition`;

/** `cleanstream/v1/alerts/p1/r/m` → `cleanstream.v1.alerts.p1.r.m`; a filter's `+` → `*`, `#` → `>`. */
export function topicToSubject(topic: string): string {
  return topic
    .split('/')
    .map((level) => (level === '+' ? '*' : level === '#' ? '>' : level))
    .join('.');
}

/**
 * The subject a topic filter matches in the streams: a readings filter is read from the partitioned subjects (all
 * partitions, or `partition` alone).
 */
export function filterToStreamSubject(filter: string, partition?: number): string {
  const subject = topicToSubject(filter);
  const part = partition === undefined ? '*' : String(partition);
  if (subject === READINGS_SUBJECT || subject.startsWith(`${READINGS_SUBJECT}.`)) return `${PARTITION_SUBJECT}.${part}.${subject.slice(ROOT_SUBJECT.length + 1)}`;
  if (subject === `${ROOT_SUBJECT}.>`) throw new RangeError(`${filter} spans the partitioned readings and other streams: subscribe to each instead`);
  return subject;
}

/** A stored subject back as the topic it was published on: `cleanstream.v1.partition.3.readings.p1.gw` → `cleanstream/v1/readings/p1/gw`. */
export function subjectToTopic(subject: string): string {
  const tokens = subject.split('.');
  if (subject.startsWith(`${PARTITION_SUBJECT}.`)) tokens.splice(2, 2);
  return tokens.join('/');
}

/** Whether a stream subject pattern holds every subject a filter subject matches. */
export function patternCovers(pattern: string, filter: string): boolean {
  const p = pattern.split('.');
  const f = filter.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return i < f.length;
    if (i >= f.length || f[i] === '>') return false;
    if (p[i] !== '*' && (p[i] !== f[i] || f[i] === '*')) return false;
  }
  return p.length === f.length;
}

/** The subjects the readings stream holds (every partition). */
export const PARTITIONED_READINGS_SUBJECTS = `${PARTITION_SUBJECT}.*.readings.*.*`;

/**
 * The `mappings` block of nats-server's config that partitions readings by plant into `partitions` partitions
 * (`{{partition(P, 1)}}`: a hash of the first wildcard, the plant; nats-server 2.9 and later).
 */
export function partitionMappingConfig(partitions = DEFAULT_PARTITIONS): string {
  if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError(`partitions must be a positive integer, not ${partitions}`);
  return `mappings {\n  "${READINGS_SUBJECT}.*.*": "${PARTITION_SUBJECT}.{{partition(${partitions},1)}}.readings.{{wildcard(1)}}.{{wildcard(2)}}"\n}\n`;
}

/** The partition nats-server puts a plant's readings in: FNV-1a (32 bits) of the plant id, mod `partitions`. */
export function partitionOf(plant: string, partitions = DEFAULT_PARTITIONS): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(plant, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}
