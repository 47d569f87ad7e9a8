/**
 * The JetStream streams of the bus, created at start or checked against the config: readings (partitioned, replicas
 * and retention from the config), alerts with their acknowledgements, and dead letters. A stream that exists with
 * other settings is never changed silently: start fails naming the setting (NATS_STREAM_MISMATCH).
 */
import { type JetStreamManager, type StreamConfig, type StreamInfo, JetStreamApiError, StorageType } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { TransportError } from '../../core/errors.ts';
import type { NatsTransportConfig } from './config.ts';
import { PARTITIONED_READINGS_SUBJECTS, topicToSubject } from './subjects.ts';
import { TOPIC_ROOT } from '../topics.ts';

/** Alerts and dead letters are few: kept 30 days, whatever the readings' retention. */
const EVENTS_MAX_AGE_SECONDS = 30 * 24 * 3600;

export interface BusStream {
  name: string;
  subjects: string[];
  maxAgeSeconds: number;
  maxBytes: number;
  replicas: number;
  /** The config field a disagreement is about, per setting. */
  fields: { maxAgeSeconds: string; maxBytes: string };
}

export function busStreams(config: NatsTransportConfig): BusStream[] {
  const events = { maxAgeSeconds: EVENTS_MAX_AGE_SECONDS, maxBytes: -1, replicas: config.replicas, fields: { maxAgeSeconds: '(fixed: 30 days)', maxBytes: '(fixed: no limit)' } };
  return [
    {
      name: config.streams.readings,
      subjects: [PARTITIONED_READINGS_SUBJECTS],
      maxAgeSeconds: config.readingsMaxAgeSeconds,
      maxBytes: config.readingsMaxBytes,
      replicas: config.replicas,
      fields: { maxAgeSeconds: 'readingsMaxAgeSeconds', maxBytes: 'readingsMaxBytes' },
    },
    { name: config.streams.alerts, subjects: [topicToSubject(`${TOPIC_ROOT}/alerts/#`), topicToSubject(`${TOPIC_ROOT}/alert-acks/#`)], ...events },
    { name: config.streams.deadLetters, subjects: [topicToSubject(`${TOPIC_ROOT}/deadletter/#`)], ...events },
  ];
}

function streamConfig(stream: BusStream): Partial<StreamConfig> & { name: string } {
  return { name: stream.name, subjects: stream.subjects, storage: StorageType.File, num_replicas: stream.replicas, max_age: nanos(stream.maxAgeSeconds * 1000), max_bytes: stream.maxBytes };
}

/** What differs between an existing stream and the one the config asks for, one line per setting. */
export function streamDisagreements(stream: BusStream, existing: StreamInfo['config']): string[] {
  const out: string[] = [];
  const have = new Set(existing.subjects ?? []);
  if (have.size !== stream.subjects.length || stream.subjects.some((s) => !have.has(s))) out.push(`subjects are ${JSON.stringify([...have])}, the transport needs ${JSON.stringify(stream.subjects)} (partitions? stream names?)`);
  if (existing.num_replicas !== stream.replicas) out.push(`num_replicas is ${existing.num_replicas}, the config's replicas is ${stream.replicas}`);
  if (existing.storage !== StorageType.File) out.push(`storage is ${existing.storage}, the transport needs file storage`);
  const ageSeconds = Math.round(existing.max_age / 1e9);
  if (ageSeconds !== stream.maxAgeSeconds) out.push(`max_age is ${ageSeconds} s, the config's ${stream.fields.maxAgeSeconds} is ${stream.maxAgeSeconds}`);
  if (existing.max_bytes !== stream.maxBytes) out.push(`max_bytes is ${existing.max_bytes}, the config's ${stream.fields.maxBytes} is ${stream.maxBytes}`);
  return out;
}

export async function ensureStreams(jsm: JetStreamManager, config: NatsTransportConfig): Promise<void> {
  for (const stream of busStreams(config)) {
    let existing: StreamInfo | undefined;
    try {
      existing = await jsm.streams.info(stream.name);
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.status === 404)) throw new TransportError('NATS_STREAM', `reading stream ${stream.name} failed: ${(err as Error).message}`, true, { stream: stream.name }, { cause: err });
    }
    if (existing) {
      const disagreements = streamDisagreements(stream, existing.config);
      if (disagreements.length) {
        throw new TransportError('NATS_STREAM_MISMATCH', `stream ${stream.name} exists with other settings: ${disagreements.join('; ')}`, false, { stream: stream.name, disagreements });
      }
      continue;
    }
    try {
      await jsm.streams.add(streamConfig(stream));
    } catch (err) {
      throw new TransportError('NATS_STREAM', `creating stream ${stream.name} (${stream.replicas} replicas) failed: ${(err as Error).message}`, true, { stream: stream.name }, { cause: err });
    }
  }
}
