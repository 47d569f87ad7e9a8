/**
 * The ingest service: MQTT readings in, InfluxDB points out. This file is wiring: a durable subscriber
 * (bus/mqtt/durable-subscriber.ts) feeds ingest's sink (ingest/sink.ts); metrics and health read both.
 *
 *   broker ──QoS 1──▶ validate ──▶ line protocol ──▶ batcher ──▶ InfluxDB /write ──(400: split)──▶ dead letters
 *                        │                               │  (down, 5xx, 429)            │
 *                        └──▶ dead-letter topic          └──▶ spool (disk) ──replayer───┘
 *                                                                   every outcome ──▶ PUBACK, in arrival order
 *
 * A message is acknowledged to the broker only once it is durable downstream: its lines written to InfluxDB or
 * appended (fsync'd) to the spool, its refused lines or whole message dead-lettered and confirmed by the broker. With
 * a fixed client id and a persistent session, whatever ingest had not acknowledged when it stopped or crashed is
 * delivered again by the broker. While the spool holds batches, new batches are spooled behind them, so that InfluxDB
 * receives everything in arrival order; the replayer drains the spool oldest first. When the spool is full (or there
 * is none and InfluxDB is down), accepted lines pile up to a high-water mark and ingest stops reading from the broker.
 */
import { EventEmitter } from 'node:events';
import { zodIssues } from '../core/config.ts';
import { ConfigError } from '../core/errors.ts';
import { loadPlantRegistry, type PlantRegistry } from '../core/plants.ts';
import { createMqttSubscriber } from '../bus/mqtt/durable-subscriber.ts';
import { ingestConfigSchema, type IngestConfig, type IngestConfigInput } from './config.ts';
import type { IngestEvents } from './events.ts';
import { createIngestMetrics, startHealthServer, type HealthServer } from './metrics.ts';
import { IngestSink } from './sink.ts';
import type { IngestStats } from './stats.ts';

export { DEAD_LETTER_STAGE } from './dead-letters.ts';
export type { IngestEvents } from './events.ts';
export type { IngestStats, SpoolStats } from './stats.ts';

export interface Ingest extends EventEmitter<IngestEvents> {
  /** Resolves when everything received so far is written to InfluxDB (or dead-lettered) and acknowledged. */
  flush(): Promise<void>;
  /** Stops reading, writes what was accepted (up to `stopTimeoutMs`), disconnects. Unwritten messages stay with the broker. */
  stop(): Promise<void>;
  stats(): IngestStats;
  /** Base URL of /metrics, /healthz, /readyz when `http` is configured. */
  readonly httpUrl: string | undefined;
}

export interface IngestOptions {
  /** Overrides the config's `plants` file. */
  registry?: PlantRegistry;
  /** How long to wait for the broker at start (default 30 s). */
  connectTimeoutMs?: number;
  /** How long stop() tries to write what is pending (default 10 s). */
  stopTimeoutMs?: number;
}

function validConfig(input: IngestConfig | IngestConfigInput): IngestConfig {
  // Not parseConfig: an already-loaded config has had its ${ENV} references expanded once, and must not be again.
  const result = ingestConfigSchema.safeParse(input);
  if (!result.success) throw new ConfigError('ingest config', zodIssues(result.error));
  return result.data;
}

export async function startIngest(input: IngestConfig | IngestConfigInput, opts: IngestOptions = {}): Promise<Ingest> {
  const config = validConfig(input);
  const registry = opts.registry ?? (config.plants ? loadPlantRegistry(config.plants) : undefined);
  if (config.loads && !registry) {
    throw new ConfigError('ingest config', [{ path: 'loads', expected: 'a plant registry (plants:) to pair each outfall\'s flow meter with its concentration meters' }]);
  }
  const events = new EventEmitter<IngestEvents>();
  const subscriber = createMqttSubscriber({
    mqtt: config.mqtt,
    clientId: config.clientId,
    sessionExpirySeconds: config.sessionExpirySeconds,
    subscriptions: [config.subscription],
    connectTimeoutMs: opts.connectTimeoutMs ?? 30_000,
  });
  const sink = new IngestSink({
    config,
    registry,
    publisher: subscriber,
    events,
    stopTimeoutMs: opts.stopTimeoutMs ?? 10_000,
    observeWrite: (seconds, lines) => metrics.observeWrite(seconds, lines),
  });
  const stats = (): IngestStats => {
    const transport = subscriber.stats();
    return { ...sink.stats(), unackedMessages: transport.unacked, connected: transport.connected };
  };
  const metrics = createIngestMetrics(stats);

  subscriber.on('connected', () => events.emit('connected'));
  subscriber.on('disconnected', () => {
    events.emit('disconnected');
    sink.connectionLost();
  });
  subscriber.on('transportError', (err) => events.emit('mqttError', err));

  await sink.start();
  let http: HealthServer | undefined;
  try {
    if (config.http) {
      http = await startHealthServer({
        host: config.http.host,
        port: config.http.port,
        registry: metrics.registry,
        ready() {
          const problems: string[] = [];
          if (!subscriber.connected) problems.push('not connected to the broker');
          const held = sink.holdingBack();
          if (held) problems.push(held);
          return problems;
        },
      });
    }
    await subscriber.start((message) => sink.write(message, message.ack));
  } catch (err) {
    await subscriber.stop();
    await sink.stop();
    await http?.close();
    throw err;
  }
  if (sink.startupProblems.length) setImmediate(() => sink.startupProblems.forEach((p) => events.emit('writeError', p)));

  let stopped: Promise<void> | undefined;
  return Object.assign(events, {
    httpUrl: http?.url,
    flush: () => sink.flush(),
    stop(): Promise<void> {
      stopped ??= subscriber.stop(() => sink.stop()).then(() => http?.close());
      return stopped;
    },
    stats,
  });
}
