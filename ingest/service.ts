/**
 * The ingest service: MQTT readings in, InfluxDB points out.
 *
 *   broker ──QoS 1──▶ validate ──▶ line protocol ──▶ batcher ──▶ InfluxDB /write
 *                        │                                          │
 *                        └──▶ dead-letter topic (QoS 1)             └──▶ PUBACK, in arrival order
 *
 * A message is acknowledged to the broker only once it is durable downstream: its lines written, or its dead letter
 * accepted by the broker. With a fixed client id and clean session off, whatever ingest had not acknowledged when it
 * stopped or crashed is delivered again by the broker. When InfluxDB is slow or down, accepted lines pile up to a
 * high-water mark and ingest stops reading from the broker until they drain.
 */
import { EventEmitter } from 'node:events';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { mqttConnectOptions, zodIssues } from '../core/config.ts';
import { ConfigError, TransportError, type CleanstreamError } from '../core/errors.ts';
import { loadPlantRegistry, type PlantRegistry } from '../core/plants.ts';
import { deadLetterFor, topics, type DeadLetter } from '../core/topics.ts';
import { OrderedAcks, takeOverAcks, type AckTicket } from './acks.ts';
import { WriteBatcher } from './batcher.ts';
import { ingestConfigSchema, type IngestConfig, type IngestConfigInput } from './config.ts';
import { batchToLines } from './line-protocol.ts';
import { validateMessage } from './validate.ts';
import { createInfluxWriter, InfluxWriteError } from './writer.ts';

export const DEAD_LETTER_STAGE = 'ingest';

export interface IngestStats {
  receivedMessages: number;
  receivedReadings: number;
  writtenReadings: number;
  writtenLines: number;
  /** Dead-lettered messages by reason (validation reasons, `write_rejected`, `internal_error`). */
  rejected: Record<string, number>;
  /** Sum of `rejected`. */
  rejectedMessages: number;
  /** Writes that failed (each failed batch attempt the writer gave up on, and each refused batch). */
  writeErrors: number;
  lastWriteLatencyMs: number | undefined;
  /** Lines accepted and not yet written. */
  pendingLines: number;
  /** Messages received on the current connection and not acknowledged yet. */
  unackedMessages: number;
  connected: boolean;
  /** Whether ingest is holding back from reading the broker (backpressure). */
  paused: boolean;
}

export interface IngestEvents {
  /** A write failed; the data is kept and written again (or dead-lettered when the server refused it). */
  writeError: [error: CleanstreamError];
  /** A message was dead-lettered. */
  deadLetter: [letter: DeadLetter];
  /** Broker connection problems (refused credentials, lost connection, failed dead-letter publish). */
  mqttError: [error: Error];
  connected: [];
  disconnected: [];
}

export interface Ingest extends EventEmitter<IngestEvents> {
  /** Resolves when everything received so far is written to InfluxDB (or dead-lettered) and acknowledged. */
  flush(): Promise<void>;
  /** Stops reading, writes what was accepted (up to `stopTimeoutMs`), disconnects. Unwritten messages stay with the broker. */
  stop(): Promise<void>;
  stats(): IngestStats;
}

export interface IngestOptions {
  /** Overrides the config's `plants` file. */
  registry?: PlantRegistry;
  /** How long to wait for the broker at start (default 30 s). */
  connectTimeoutMs?: number;
  /** How long stop() tries to write what is pending (default 10 s). */
  stopTimeoutMs?: number;
}

interface MessageTicket {
  ack: AckTicket;
  topic: string;
  payload: Buffer;
  readings: number;
}

function mqttOptions(config: IngestConfig): IClientOptions {
  return {
    ...mqttConnectOptions(config.mqtt),
    clientId: config.clientId,
    clean: false,
  };
}

function connectAndSubscribe(client: MqttClient, filter: string, timeoutMs: number, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error): void => {
      clearTimeout(timer);
      client.off('connect', onConnect);
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new TransportError('MQTT_CONNECT', `no connection to the broker at ${url} within ${timeoutMs} ms`, true, { url, clientId: client.options.clientId })),
      timeoutMs,
    );
    const onConnect = (): void => {
      client.subscribe(filter, { qos: 1 }, (err, granted) => {
        if (err) return fail(new TransportError('MQTT_SUBSCRIBE', `subscribing to ${filter} failed: ${err.message}`, true, { url, filter }, { cause: err }));
        const refused = granted?.find((g) => g.qos === 128);
        if (refused) return fail(new TransportError('MQTT_SUBSCRIBE', `the broker refused the subscription to ${filter}`, false, { url, filter }));
        clearTimeout(timer);
        resolve();
      });
    };
    client.once('connect', onConnect);
  });
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
  const stopTimeoutMs = opts.stopTimeoutMs ?? 10_000;
  const highWaterLines = config.batch.highWaterLines ?? config.batch.maxLines * 4;
  const deadLetterTopic = topics.deadLetter(DEAD_LETTER_STAGE);
  const events = new EventEmitter<IngestEvents>();

  const stats: IngestStats = {
    receivedMessages: 0,
    receivedReadings: 0,
    writtenReadings: 0,
    writtenLines: 0,
    rejected: {},
    rejectedMessages: 0,
    writeErrors: 0,
    lastWriteLatencyMs: undefined,
    pendingLines: 0,
    unackedMessages: 0,
    connected: false,
    paused: false,
  };

  const writer = createInfluxWriter(config.influx, { retry: config.retry });
  const startupProblems: CleanstreamError[] = [];
  try {
    await writer.start();
  } catch (err) {
    // InfluxDB not up yet is not fatal: the first write creates the database (404 path) once it is.
    if (!(err instanceof InfluxWriteError) || err.kind !== 'unavailable') throw err;
    startupProblems.push(err);
  }

  const client = connect(config.mqtt.url, { ...mqttOptions(config), manualConnect: true });
  const acks = new OrderedAcks((messageId) => sendPuback(messageId));
  let stopping = false;
  let resumeReading: (() => void) | undefined;
  const deadLettersInFlight = new Set<Promise<void>>();

  const batcher = new WriteBatcher<MessageTicket>({
    maxLines: config.batch.maxLines,
    maxDelayMs: config.batch.maxDelayMs,
    highWaterLines,
    retryPauseMs: config.retry.pauseMs,
    write: (body, signal) => writer.write(body, signal),
    isRejection: (err) => err instanceof InfluxWriteError && err.kind === 'rejected',
    onWritten(tickets, lines, latencyMs) {
      stats.writtenLines += lines;
      if (lines > 0) stats.lastWriteLatencyMs = latencyMs;
      for (const t of tickets) {
        stats.writtenReadings += t.readings;
        acks.complete(t.ack);
      }
    },
    onRejected(tickets, err) {
      stats.writeErrors++;
      const error = err as InfluxWriteError;
      events.emit('writeError', error);
      for (const t of tickets) deadLetter(t.topic, t.payload, 'write_rejected', error.message, t.ack);
    },
    onWriteError(err) {
      stats.writeErrors++;
      events.emit('writeError', err instanceof InfluxWriteError ? err : new TransportError('INFLUX_WRITE', String(err), true, { url: writer.writeUrl }, { cause: err }));
    },
    onProgress: () => maybeResume(),
  });

  const overloaded = (): boolean => batcher.overHighWater || acks.outstanding >= config.batch.maxUnackedMessages;

  function maybeResume(): void {
    if (resumeReading && (stopping || !overloaded())) {
      const resume = resumeReading;
      resumeReading = undefined;
      stats.paused = false;
      resume();
    }
  }

  function deadLetter(topic: string, payload: Buffer, reason: string, detail: string, ack: AckTicket): void {
    stats.rejected[reason] = (stats.rejected[reason] ?? 0) + 1;
    stats.rejectedMessages++;
    const letter = deadLetterFor(DEAD_LETTER_STAGE, topic, payload, reason, detail);
    events.emit('deadLetter', letter);
    const published = new Promise<void>((resolve) => {
      client.publish(deadLetterTopic, JSON.stringify(letter), { qos: 1 }, (err) => {
        // Unconfirmed: leave the original unacknowledged, so the broker delivers it (and we dead-letter it) again.
        if (err) events.emit('mqttError', err);
        else acks.complete(ack);
        resolve();
      });
    });
    deadLettersInFlight.add(published);
    void published.then(() => {
      deadLettersInFlight.delete(published);
      maybeResume();
    });
  }

  function accept(topic: string, payload: Buffer, ack: AckTicket): void {
    stats.receivedMessages++;
    let verdict: ReturnType<typeof validateMessage>;
    try {
      verdict = validateMessage(topic, payload, registry);
    } catch (err) {
      deadLetter(topic, payload, 'internal_error', (err as Error).message, ack);
      return;
    }
    if (!verdict.ok) {
      deadLetter(topic, payload, verdict.reason, verdict.detail, ack);
      return;
    }
    const count = verdict.batch.readings.length;
    stats.receivedReadings += count;
    batcher.add(batchToLines(verdict.batch), count, { ack, topic, payload, readings: count });
  }

  const sendPuback = takeOverAcks(client, (packet, proceed) => {
    // After stop() begins, messages are left unacknowledged for the broker to deliver again.
    if (stopping) return proceed();
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    accept(packet.topic, payload, acks.track(packet.qos > 0 ? packet.messageId : undefined));
    if (!overloaded()) return proceed();
    // Backpressure: MQTT.js reads no further packet until `proceed`; write now rather than waiting for the timer.
    stats.paused = true;
    // A hold left from a lost connection belongs to a reader MQTT.js has already discarded: let it go.
    resumeReading?.();
    resumeReading = proceed;
    void batcher.flush().catch(() => undefined);
  });

  client.on('connect', () => {
    stats.connected = true;
    events.emit('connected');
  });
  client.on('close', () => {
    if (stats.connected) events.emit('disconnected');
    stats.connected = false;
    acks.reset();
    maybeResume();
  });
  client.on('error', (err) => events.emit('mqttError', err));

  const subscribed = connectAndSubscribe(client, config.subscription, opts.connectTimeoutMs ?? 30_000, config.mqtt.url);
  client.connect();
  try {
    await subscribed;
  } catch (err) {
    client.end(true);
    await batcher.close(0);
    throw err;
  }

  if (startupProblems.length) setImmediate(() => startupProblems.forEach((p) => events.emit('writeError', p)));

  async function settleDeadLetters(): Promise<void> {
    while (deadLettersInFlight.size > 0) await Promise.all([...deadLettersInFlight]);
  }

  let stopped: Promise<void> | undefined;
  const ingest = Object.assign(events, {
    async flush(): Promise<void> {
      await batcher.flush();
      await settleDeadLetters();
    },
    stop(): Promise<void> {
      stopped ??= (async () => {
        stopping = true;
        maybeResume();
        await batcher.close(stopTimeoutMs);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([settleDeadLetters(), new Promise((resolve) => (timer = setTimeout(resolve, Math.min(stopTimeoutMs, 2000))))]);
        clearTimeout(timer);
        // A graceful end waits for the broker to confirm our publishes; do not wait for a broker that is gone.
        const ended = new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
        const gaveUp = await Promise.race([ended.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), 2000)))]);
        clearTimeout(timer);
        if (gaveUp) await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
      })();
      return stopped;
    },
    stats(): IngestStats {
      return { ...stats, rejected: { ...stats.rejected }, pendingLines: batcher.pendingLines, unackedMessages: acks.outstanding };
    },
  });
  return ingest;
}
