/**
 * The ingest service: MQTT readings in, InfluxDB points out.
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
import { performance } from 'node:perf_hooks';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { durableSessionOptions, mqttConnectOptions, zodIssues } from '../core/config.ts';
import { DiskQueue, DiskQueueFullError } from '../core/disk-queue.ts';
import { unitFactor } from '../core/catalog.ts';
import { CleanstreamError, ConfigError, TransportError } from '../core/errors.ts';
import { loadPlantRegistry, type PlantRegistry } from '../core/plants.ts';
import { deadLetterFor, topics, type DeadLetter } from '../bus/topics.ts';
import { OrderedAcks, takeOverAcks, type AckTicket } from '../bus/mqtt-acks.ts';
import { watchClientIdClash } from '../bus/client-id-clash.ts';
import { WriteBatcher, type BatchTurn } from './batcher.ts';
import { ingestConfigSchema, type IngestConfig, type IngestConfigInput } from './config.ts';
import { batchToLines } from '../influxdb/line-protocol.ts';
import { LoadCalculator, loadLine, type OutfallLoad } from './loads.ts';
import { ensureRollups } from './rollups.ts';
import { validateMessage } from './validate.ts';
import { createIngestMetrics, startHealthServer, type HealthServer } from './metrics.ts';
import { chunkLines, splitRefusedBatch, type Refusal } from './partial-write.ts';
import { encodeSpoolRecord, mergeSources, SpoolReplayer, type LineSource, type SpooledBatch } from './spool.ts';
import { createInfluxClient, InfluxError, serverMessage } from '../influxdb/client.ts';

export const DEAD_LETTER_STAGE = 'ingest';

export interface SpoolStats {
  /** Bytes on disk (whole segment files). */
  bytes: number;
  /** Batches waiting to be replayed. */
  batches: number;
  maxBytes: number;
  /** Above the warning ratio of maxBytes. */
  warning: boolean;
  /** The last append found the spool full: ingest is holding back (backpressure). */
  full: boolean;
  /** Spooled batches being written to InfluxDB now (at most `write.concurrency`). */
  replayWritesInFlight: number;
  /** The most spooled batches written at once since start. */
  replayPeakWritesInFlight: number;
}

export interface IngestStats {
  receivedMessages: number;
  receivedReadings: number;
  /** Readings of messages written straight to InfluxDB (accepted or refused line by line). */
  writtenReadings: number;
  /** Lines InfluxDB accepted, directly or from the spool. */
  writtenLines: number;
  /** Readings of messages made durable in the spool (and then acknowledged). */
  spooledReadings: number;
  /** Spooled lines replayed to InfluxDB (accepted or dead-lettered). */
  replayedReadings: number;
  /** Lines InfluxDB refused (400) and that were dead-lettered with its reason. */
  refusedLines: number;
  /** Load lines (measurement `loads`) handed to the writer. */
  loadLines: number;
  /** Readings that came after their load interval was computed (left out of the loads). */
  lateLoadReadings: number;
  /** Dead-lettered messages by reason (validation reasons, `write_rejected`, `internal_error`). */
  rejected: Record<string, number>;
  /**
   * Readings accepted with a reason for their quality, by reason: `out_of_range` (outside the quantity's physical
   * range: stored as bad without a value, core/reading.ts) and whatever gateways give (`no_value`, ...).
   */
  flaggedReadings: Record<string, number>;
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
  /** Undefined when no spool is configured. */
  spool: SpoolStats | undefined;
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
  /** The spool grew above its warning ratio (it may fill: ingest will then stop reading). */
  spoolWarning: [info: { dir: string; bytes: number; maxBytes: number }];
  /** The spool failed (disk full, damaged segment) or a spooled batch could not be replayed yet. */
  spoolError: [error: Error];
}

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

interface MessageTicket {
  /** Undefined for lines ingest derived itself (loads): nothing to acknowledge. */
  ack: AckTicket | undefined;
  topic: string;
  readings: number;
}

/** The dead-letter topic of derived lines InfluxDB refuses. */
const DERIVED_TOPIC = 'derived/loads';

/** Distinct reasons counted in `flaggedReadings` before the rest are counted as `other`. */
const MAX_FLAG_REASONS = 32;

/** How a batch was made durable. */
type Delivery = { kind: 'written'; refusedLines: number } | { kind: 'spooled' };

function mqttOptions(config: IngestConfig): IClientOptions {
  return {
    ...mqttConnectOptions(config.mqtt),
    clientId: config.clientId,
    ...durableSessionOptions(config.mqtt, config.sessionExpirySeconds),
  };
}

function refusalOf(err: unknown): Refusal | undefined {
  if (!(err instanceof InfluxError) || err.kind !== 'rejected') return undefined;
  return { reason: err.body ? serverMessage(err.body) : err.message };
}

/** The topic each line index came from. */
function topicAt(sources: readonly LineSource[]): (index: number) => string {
  const ends: number[] = [];
  let end = 0;
  for (const s of sources) ends.push((end += s.lines));
  return (index) => {
    const i = ends.findIndex((e) => index < e);
    return sources[i === -1 ? sources.length - 1 : i]?.topic ?? '';
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
  if (config.loads && !registry) {
    throw new ConfigError('ingest config', [{ path: 'loads', expected: 'a plant registry (plants:) to pair each outfall\'s flow meter with its concentration meters' }]);
  }
  const loads = config.loads && registry ? new LoadCalculator(registry, config.loads) : undefined;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 10_000;
  const highWaterLines = config.batch.highWaterLines ?? config.batch.maxLines * 4;
  const deadLetterTopic = topics.deadLetter(DEAD_LETTER_STAGE);
  const maxLetterPayload = config.deadLetter.maxPayloadBytes;
  const { maxFutureSkewMs, maxAgeMs, backfill } = config.timestamps;
  const events = new EventEmitter<IngestEvents>();

  const stats: Omit<IngestStats, 'spool'> = {
    receivedMessages: 0,
    receivedReadings: 0,
    writtenReadings: 0,
    writtenLines: 0,
    spooledReadings: 0,
    replayedReadings: 0,
    refusedLines: 0,
    loadLines: 0,
    lateLoadReadings: 0,
    rejected: {},
    flaggedReadings: {},
    rejectedMessages: 0,
    writeErrors: 0,
    lastWriteLatencyMs: undefined,
    pendingLines: 0,
    unackedMessages: 0,
    connected: false,
    paused: false,
  };
  let spoolFull = false;
  let spoolWarning = false;

  const writer = createInfluxClient(config.influx, { retry: config.retry, gzipLevel: config.write.gzipLevel });
  const startupProblems: CleanstreamError[] = [];
  try {
    await writer.start();
    if (config.rollups && config.influx.createDatabase) {
      await ensureRollups(
        { database: config.influx.database, rawRetentionPolicy: config.influx.retentionPolicy ?? 'autogen', minute: config.rollups.minute, hour: config.rollups.hour },
        (statement) => writer.run(statement),
      );
    }
  } catch (err) {
    // InfluxDB not up yet is not fatal: the first write creates the database (404 path) once it is.
    if (!(err instanceof InfluxError) || err.kind !== 'unavailable') throw err;
    startupProblems.push(err);
  }

  const queue = config.spool
    ? await DiskQueue.open({ dir: config.spool.dir, maxBytes: config.spool.maxBytes, segmentBytes: config.spool.segmentBytes, warnRatio: config.spool.warnRatio })
    : undefined;
  queue?.on('warning', (info) => {
    spoolWarning = true;
    events.emit('spoolWarning', info);
  });
  queue?.on('error', (err) => events.emit('spoolError', err));

  function spoolStats(): SpoolStats | undefined {
    if (!queue) return undefined;
    const bytes = queue.bytes;
    // The queue warns once per crossing; the flag follows the current size.
    if (spoolWarning && bytes <= queue.maxBytes * (config.spool?.warnRatio ?? 0.8)) spoolWarning = false;
    return {
      bytes,
      batches: queue.length,
      maxBytes: queue.maxBytes,
      warning: spoolWarning,
      full: spoolFull,
      replayWritesInFlight: replayer?.writesInFlight ?? 0,
      replayPeakWritesInFlight: replayer?.peakWritesInFlight ?? 0,
    };
  }

  function snapshot(): IngestStats {
    return { ...stats, rejected: { ...stats.rejected }, flaggedReadings: { ...stats.flaggedReadings }, pendingLines: batcher.pendingLines, unackedMessages: acks.outstanding, spool: spoolStats() };
  }
  const metrics = createIngestMetrics(snapshot);

  const client = connect(config.mqtt.url, { ...mqttOptions(config), manualConnect: true });
  const acks = new OrderedAcks((messageId) => sendPuback(messageId));
  let stopping = false;
  let stopped: Promise<void> | undefined;
  let resumeReading: (() => void) | undefined;
  const deadLettersInFlight = new Set<Promise<void>>();

  /** One write request, timed for the metrics. */
  async function timedWrite(body: string | Buffer, lines: number, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    try {
      await writer.write(body, signal);
      metrics.observeWrite((performance.now() - started) / 1000, lines);
    } catch (err) {
      if (refusalOf(err)) metrics.observeWrite((performance.now() - started) / 1000, lines);
      throw err;
    }
  }

  function publishLetter(letter: DeadLetter): Promise<void> {
    events.emit('deadLetter', letter);
    return new Promise<void>((resolve, reject) => {
      client.publish(deadLetterTopic, JSON.stringify(letter), { qos: 1 }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /**
   * Write a batch; after a 400, split it so that the accepted lines are written and the refused ones dead-lettered
   * (one dead letter per source message topic run, payload = the refused lines, detail = InfluxDB's reason). Resolves
   * with the number of refused lines once their dead letters are confirmed; rejects when InfluxDB cannot be reached.
   */
  async function writeLines(body: string | Buffer, lineCount: number, sources: readonly LineSource[], signal: AbortSignal): Promise<number> {
    try {
      await timedWrite(body, lineCount, signal);
      stats.writtenLines += lineCount;
      return 0;
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err;
      stats.writeErrors++;
      events.emit('writeError', err as InfluxError);
      const lines = (typeof body === 'string' ? body : body.toString('utf8')).split('\n');
      const outcome = await splitRefusedBatch(lines, refusal, (part) => timedWrite(part, 0, signal), refusalOf);
      stats.writtenLines += outcome.acceptedLines;
      const topicOf = topicAt(sources);
      const byTopic = new Map<string, { lines: string[]; reason: string }>();
      for (const refused of outcome.refused) {
        const topic = topicOf(refused.index);
        const entry = byTopic.get(topic) ?? { lines: [], reason: refused.reason };
        entry.lines.push(refused.line);
        byTopic.set(topic, entry);
      }
      // Refused lines are the only copy of readings that were valid: in as many letters as the cap needs, none cut.
      await Promise.all(
        [...byTopic].flatMap(([topic, { lines: refusedLines, reason }]) =>
          chunkLines(refusedLines, maxLetterPayload).map((chunk) => publishLetter(deadLetterFor(DEAD_LETTER_STAGE, topic, Buffer.from(chunk), 'write_rejected', reason, maxLetterPayload))),
        ),
      );
      for (const [, { lines: refusedLines }] of byTopic) {
        stats.rejected.write_rejected = (stats.rejected.write_rejected ?? 0) + 1;
        stats.rejectedMessages++;
        stats.refusedLines += refusedLines.length;
      }
      return outcome.refused.length;
    }
  }

  async function spoolBatch(batch: SpooledBatch): Promise<void> {
    if (!queue || !config.spool) throw new Error('no spool configured');
    const record = await encodeSpoolRecord(batch, config.spool.gzipLevel);
    try {
      await queue.append([record]);
      spoolFull = false;
    } catch (err) {
      if (err instanceof DiskQueueFullError) spoolFull = true;
      throw err;
    }
    replayer?.notify();
  }

  /**
   * Makes one batch durable: InfluxDB when the spool is empty and InfluxDB answers, else the spool. Batches are
   * appended to the spool in the order they were cut: a batch waits for every earlier one to be written or spooled
   * first (with several writes in flight, a later batch can fail before an earlier one has finished retrying).
   */
  async function deliver(body: string, signal: AbortSignal, tickets: readonly MessageTicket[], turn: BatchTurn): Promise<Delivery> {
    let lineCount = 0;
    for (const t of tickets) lineCount += t.readings;
    const sources = (): LineSource[] => mergeSources(tickets.map((t) => ({ topic: t.topic, lines: t.readings })));
    const spoolInTurn = async (): Promise<Delivery> => {
      await turn.earlierSettled();
      await spoolBatch({ sources: sources(), body });
      return { kind: 'spooled' };
    };
    if (queue && queue.length > 0) return spoolInTurn();
    try {
      return { kind: 'written', refusedLines: await writeLines(body, lineCount, sources(), signal) };
    } catch (err) {
      if (!queue || signal.aborted || !(err instanceof InfluxError)) throw err;
      // InfluxDB unreachable, failing or refusing credentials: keep the batch on disk and acknowledge it.
      stats.writeErrors++;
      events.emit('writeError', err);
      return spoolInTurn();
    }
  }

  const replayer = queue
    ? new SpoolReplayer({
        queue,
        retryPauseMs: config.retry.pauseMs,
        // The same write budget as live batches: while the spool holds batches, live ones go to it, not to InfluxDB.
        concurrency: config.write.concurrency,
        async deliver(batch, signal) {
          let lines = 0;
          for (const s of batch.sources) lines += s.lines;
          await writeLines(batch.body, lines, batch.sources, signal);
        },
        async onUnreadable(record, error) {
          await publishLetter(deadLetterFor(DEAD_LETTER_STAGE, 'spool', record.data, 'spool_unreadable', error.message, maxLetterPayload));
          stats.rejected.spool_unreadable = (stats.rejected.spool_unreadable ?? 0) + 1;
          stats.rejectedMessages++;
        },
        onReplayed(sources) {
          for (const s of sources) stats.replayedReadings += s.lines;
          maybeResume();
        },
        onError(err) {
          stats.writeErrors++;
          events.emit('spoolError', err instanceof Error ? err : new Error(String(err)));
        },
      })
    : undefined;

  const batcher = new WriteBatcher<MessageTicket, Delivery>({
    maxLines: config.batch.maxLines,
    maxDelayMs: config.batch.maxDelayMs,
    highWaterLines,
    retryPauseMs: config.retry.pauseMs,
    concurrency: config.write.concurrency,
    write: deliver,
    // Refusals are settled inside deliver (split and dead-lettered); nothing reaches the batcher as one.
    isRejection: () => false,
    onWritten(tickets, lines, latencyMs, delivery) {
      if (lines > 0) stats.lastWriteLatencyMs = latencyMs;
      for (const t of tickets) {
        if (!t.ack) continue;
        if (delivery?.kind === 'spooled') stats.spooledReadings += t.readings;
        else stats.writtenReadings += t.readings;
        acks.complete(t.ack);
      }
    },
    onRejected() {
      // unreachable: see isRejection
    },
    onWriteError(err) {
      // A full spool: the write failure before it was counted in deliver(); the batch is tried again after a pause.
      if (err instanceof DiskQueueFullError) return void events.emit('spoolError', err);
      stats.writeErrors++;
      events.emit('writeError', err instanceof CleanstreamError ? err : new TransportError('INFLUX_WRITE', String(err), true, { url: writer.writeUrl }, { cause: err }));
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
    const published = publishLetter(deadLetterFor(DEAD_LETTER_STAGE, topic, payload, reason, detail, maxLetterPayload)).then(
      () => acks.complete(ack),
      // Unconfirmed: leave the original unacknowledged, so the broker delivers it (and we dead-letter it) again.
      (err: Error) => void events.emit('mqttError', err),
    );
    deadLettersInFlight.add(published);
    void published.then(() => {
      deadLettersInFlight.delete(published);
      maybeResume();
    });
  }

  function countFlagged(reason: string): void {
    const flagged = stats.flaggedReadings;
    // Gateways name their own reasons: bound the metric's label values.
    const key = Object.hasOwn(flagged, reason) || Object.keys(flagged).length < MAX_FLAG_REASONS ? reason : 'other';
    flagged[key] = (flagged[key] ?? 0) + 1;
  }

  function accept(topic: string, payload: Buffer, ack: AckTicket): void {
    stats.receivedMessages++;
    let verdict: ReturnType<typeof validateMessage>;
    try {
      verdict = validateMessage(topic, payload, registry, { now: Date.now(), maxFutureSkewMs, maxAgeMs: backfill ? undefined : maxAgeMs });
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
    const readings = verdict.batch.readings;
    for (let i = 0; i < count; i++) {
      const reason = readings[i]!.reason;
      if (reason !== undefined) countFlagged(reason);
    }
    batcher.add(batchToLines(verdict.batch), count, { ack, topic, readings: count });
    if (loads) {
      const late = loads.lateReadings;
      addLoads(loads.add(verdict.batch.plant, verdict.batch.readings, (r) => unitFactor(r.quantity, r.unit) ?? Number.NaN));
      stats.lateLoadReadings += loads.lateReadings - late;
    }
  }

  /** Load lines go behind the readings they were computed from, in the same write path (spool included). */
  function addLoads(computed: OutfallLoad[]): void {
    if (computed.length === 0 || stopped) return;
    stats.loadLines += computed.length;
    batcher.add(computed.map(loadLine).join('\n'), computed.length, { ack: undefined, topic: DERIVED_TOPIC, readings: computed.length });
  }
  const idleLoads = loads ? setInterval(() => addLoads(loads.closeIdle()), Math.min(config.loads?.idleCloseMs ?? 1000, 1000)) : undefined;
  idleLoads?.unref();

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
  watchClientIdClash(client, config.clientId, (message, context) => events.emit('mqttError', new TransportError('MQTT_CLIENT_ID_CLASH', message, true, context)));

  let http: HealthServer | undefined;
  const cleanUpAfterFailedStart = async (): Promise<void> => {
    client.end(true);
    await batcher.close(0);
    await http?.close();
    await queue?.close();
  };
  try {
    if (config.http) {
      http = await startHealthServer({
        host: config.http.host,
        port: config.http.port,
        registry: metrics.registry,
        ready() {
          const problems: string[] = [];
          if (!stats.connected) problems.push('not connected to the broker');
          if (spoolFull) problems.push('the spool is full: not reading from the broker until it drains');
          else if (stats.paused) problems.push('backpressure: too much unwritten, not reading from the broker');
          return problems;
        },
      });
    }
    const subscribed = connectAndSubscribe(client, config.subscription, opts.connectTimeoutMs ?? 30_000, config.mqtt.url);
    client.connect();
    await subscribed;
  } catch (err) {
    await cleanUpAfterFailedStart();
    throw err;
  }
  replayer?.start();

  if (startupProblems.length) setImmediate(() => startupProblems.forEach((p) => events.emit('writeError', p)));

  async function settleDeadLetters(): Promise<void> {
    while (deadLettersInFlight.size > 0) await Promise.all([...deadLettersInFlight]);
  }

  function addLoadsBeforeStop(computed: OutfallLoad[]): void {
    if (computed.length === 0) return;
    stats.loadLines += computed.length;
    batcher.add(computed.map(loadLine).join('\n'), computed.length, { ack: undefined, topic: DERIVED_TOPIC, readings: computed.length });
  }

  const ingest = Object.assign(events, {
    httpUrl: http?.url,
    async flush(): Promise<void> {
      await batcher.flush();
      await settleDeadLetters();
    },
    stop(): Promise<void> {
      stopped ??= (async () => {
        stopping = true;
        clearInterval(idleLoads);
        if (loads) addLoadsBeforeStop(loads.closeAll());
        maybeResume();
        await batcher.close(stopTimeoutMs);
        await replayer?.stop();
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([settleDeadLetters(), new Promise((resolve) => (timer = setTimeout(resolve, Math.min(stopTimeoutMs, 2000))))]);
        clearTimeout(timer);
        // A graceful end waits for the broker to confirm our publishes; do not wait for a broker that is gone.
        const ended = new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
        const gaveUp = await Promise.race([ended.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), 2000)))]);
        clearTimeout(timer);
        if (gaveUp) await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
        await queue?.close();
        await http?.close();
      })();
      return stopped;
    },
    stats: snapshot,
  });
  return ingest;
}
