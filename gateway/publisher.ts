/**
 * The gateway's MQTT publisher with store-and-forward: one ReadingBatch per plant per scan, QoS 1 by default, to
 * cleanstream/v1/readings/{plant}/{gateway}; `online`/`offline` retained on cleanstream/v1/status/{gateway}
 * (offline as the last will, MQTT 3.1.1 §3.1.2.5, so a crashed gateway is seen as offline too).
 *
 * Every batch goes through the disk queue (core/disk-queue.ts), connected or not: it is appended (fsync'd) first,
 * then read back in FIFO order and published, and acked from the queue only when its PUBACK arrives (MQTT 3.1.1
 * §4.3.2). One path for every case is what makes the guarantee simple to state: a batch handed to the publisher is
 * either on the broker or on disk, through a broker outage, a gateway restart or a SIGKILL. The price is one fsync
 * per group of batches (scans arriving in the same event-loop turn, or while the previous append was being written,
 * are appended together). Acknowledged batches are recorded in the queue at most every `ackIntervalMs` (and at once
 * when flushing, stopping or losing the connection): recording costs two fsyncs, and a crash before it only means
 * that up to that much already-delivered data is sent again, which at-least-once delivery allows.
 *
 * Size: a plant's readings from one scan go in one batch, split into batches of at most `maxReadingsPerBatch`
 * (a 10,000-item OPC UA subscription would otherwise make 1 MB messages, beyond what many brokers accept and large
 * enough to cost the process memory out of proportion: every copy of it is a large object).
 *
 * Order: batches are published in queue order with at most `window` in flight. When the connection drops, what was
 * in flight is taken back from MQTT.js (so it does not resend its own copies) and the queue is rewound to the oldest
 * unacknowledged batch: after a reconnect everything is sent again in the original order. A batch whose PUBACK was
 * lost may therefore arrive twice (at-least-once); `seq` lets consumers see it. `seq` is the batch's queue position,
 * so it keeps increasing across gateway restarts.
 *
 * A batch the broker refuses (MQTT 5 PUBACK reason code >= 0x80, e.g. 0x87 Not authorized; or, under MQTT 3.1.1,
 * which has no negative PUBACK, the broker closing the connection each time that batch is the only one in flight)
 * would block the queue for ever. It is moved to `rejectedFile` (JSON lines, with the reason) and reported: never
 * dropped silently. When the queue is full (maxBytes), new batches are refused and counted (the oldest data is kept).
 *
 * Reconnecting uses exponential backoff with jitter (MQTT.js's fixed period is replaced after every failure), so a
 * fleet of gateways with a wrong password does not hammer the broker once a second.
 */
import { EventEmitter } from 'node:events';
import { appendFile } from 'node:fs/promises';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { watchClientIdClash } from '../bus/client-id-clash.ts';
import { mqttConnectOptions, type MqttConnection } from '../core/config.ts';
import { DiskQueueFullError, type DiskQueue, type QueuedRecord } from '../core/disk-queue.ts';
import { TransportError, toError } from '../core/errors.ts';
import { encodeBatchAround, type BatchReading, type Reading, type ReadingBatch } from '../core/reading.ts';
import { topics } from '../bus/topics.ts';
import { Backoff, type BackoffPolicy } from '../core/backoff.ts';
import { decodeSpoolRecord, encodeSpoolRecord } from './spool-record.ts';

export const STATUS_ONLINE = 'online';
export const STATUS_OFFLINE = 'offline';

export const DEFAULT_RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: 30_000, jitter: 0.2 };

export interface PublisherOptions {
  gatewayId: string;
  mqtt: MqttConnection;
  /** The store-and-forward queue, opened by the caller (who also closes it, after stop()). */
  queue: DiskQueue;
  /** JSON-lines file receiving batches the broker refused. */
  rejectedFile: string;
  qos?: 0 | 1;
  /** Batches published and not yet acknowledged at most. */
  window?: number;
  /** Readings per batch at most: a larger scan of one plant is split into several batches. */
  maxReadingsPerBatch?: number;
  /** Delivered batches are removed from the disk queue at most this often (ms); 0 removes each as it is acknowledged. */
  ackIntervalMs?: number;
  /** Closes in a row with the same lone batch in flight before it is taken as refused (MQTT 3.1.1 brokers). */
  closesBeforeReject?: number;
  /** After a refusal, batches for the same topic are rejected without sending for this long. */
  refusedTopicRetryMs?: number;
  reconnectBackoff?: BackoffPolicy;
  /** Called when the broker has acknowledged a batch (at QoS 0: when it was written). */
  onPublished?: (topic: string, batch: ReadingBatch) => void;
  now?: () => number;
}

export interface PublisherStats {
  connected: boolean;
  /** Batches acknowledged by the broker, and the readings in them. */
  batchesPublished: number;
  readingsPublished: number;
  /** Batches waiting on disk (or about to be written there), including those in flight. */
  queuedBatches: number;
  queueBytes: number;
  queueMaxBytes: number;
  inFlightBatches: number;
  publishErrors: number;
  /** Refused because the disk queue was full or could not be written. */
  droppedBatches: number;
  /** Refused by the broker and moved to the rejected file. */
  rejectedBatches: number;
  /** The seq the next batch will carry. */
  nextSeq: number;
  /** Batches lost to disk damage found in the queue when it was opened (core/disk-queue.ts, `recovery`). */
  lostBatches: number;
}

export interface PublisherEvents {
  error: [err: TransportError];
  connected: [];
  disconnected: [];
}

/** Split a scan by plant, keeping each plant's readings in scan order; plants in order of first appearance. */
export function splitByPlant(readings: readonly Reading[]): Map<string, BatchReading[]> {
  const byPlant = new Map<string, BatchReading[]>();
  let plant: string | undefined;
  let list: BatchReading[] = [];
  for (const r of readings) {
    if (r.plant !== plant) {
      plant = r.plant;
      let existing = byPlant.get(plant);
      if (!existing) byPlant.set(plant, (existing = []));
      list = existing;
    }
    // Field by field rather than `{ plant, ...rest }`: this runs for every reading, and a rest copy is several
    // times slower. The order of the fields is the order they have in a Reading, so the JSON is the same.
    // `reason` only when there is one: most readings have none, and their JSON stays as it was.
    if (r.reason === undefined) list.push({ meter: r.meter, quantity: r.quantity, unit: r.unit, value: r.value, ts: r.ts, quality: r.quality });
    else list.push({ meter: r.meter, quantity: r.quantity, unit: r.unit, value: r.value, ts: r.ts, quality: r.quality, reason: r.reason });
  }
  return byPlant;
}

export const DEFAULT_MAX_READINGS_PER_BATCH = 1_000;
export const DEFAULT_ACK_INTERVAL_MS = 1_000;

/** A plant's readings from one scan in batches of at most `max` readings, in scan order. */
export function chunkReadings(readings: BatchReading[], max: number): BatchReading[][] {
  if (readings.length <= max) return [readings];
  const chunks: BatchReading[][] = [];
  for (let i = 0; i < readings.length; i += max) chunks.push(readings.slice(i, i + max));
  return chunks;
}

export function mqttClientOptions(gatewayId: string, mqtt: MqttConnection): IClientOptions {
  return {
    ...mqttConnectOptions(mqtt),
    clientId: mqtt.clientId ?? `cleanstream-${gatewayId}`,
    clean: true,
    // MQTT.js would otherwise build a cache of 65,536 two-byte Buffers for packet ids (about 5 MB of heap) to save
    // one tiny allocation per publish.
    writeCache: false,
    will: { topic: topics.status(gatewayId), payload: Buffer.from(STATUS_OFFLINE), qos: 1, retain: true },
  };
}

/** CONNACK return codes 4/5 (MQTT 3.1.1 §3.2.2.3) and reason codes 0x86/0x87 (MQTT 5 §3.2.2.2): a credentials problem. */
function isAuthRefusal(err: Error): boolean {
  const code = (err as Error & { code?: unknown }).code;
  return code === 4 || code === 5 || code === 0x86 || code === 0x87;
}

interface InFlight {
  id: number;
  topic: string;
  payload: Buffer;
  readings: number;
  done: boolean;
}

export class Publisher extends EventEmitter<PublisherEvents> {
  private readonly client: MqttClient;
  private readonly gatewayId: string;
  private readonly url: string;
  private readonly username: string | undefined;
  private readonly queue: DiskQueue;
  /** The next plantSeq of each plant (ReadingBatch.plantSeq), from 0 at start. */
  private plantSeqs = new Map<string, number>();
  private readonly rejectedFile: string;
  private readonly qos: 0 | 1;
  private readonly window: number;
  private readonly maxReadingsPerBatch: number;
  private readonly ackIntervalMs: number;
  private readonly closesBeforeReject: number;
  private readonly reconnectBackoff: Backoff;
  private readonly now: () => number;
  private readonly onPublished: PublisherOptions['onPublished'];
  private counters = { batchesPublished: 0, readingsPublished: 0, publishErrors: 0, droppedBatches: 0, rejectedBatches: 0 };
  /**
   * Batches handed over and not yet appended to the queue, their readings already JSON: scans arrive in bursts
   * (10,000 OPC UA notifications a second) and wait here for an fsync, long enough for their objects to outlive
   * a few young-generation collections and be promoted; one string per batch is far less for the old generation.
   */
  private staged: { plant: string; readingsJson: string; count: number }[] = [];
  private spooling: Promise<void> | undefined;
  private inflight: InFlight[] = [];
  /** Incremented on every connection loss: callbacks of an older connection are ignored. */
  private epoch = 0;
  private pumping = false;
  private pumpWanted = false;
  /** The queue id up to which the broker acknowledged everything, and up to which the queue has recorded it. */
  private ackTarget: number;
  private ackedTo: number;
  private acking: Promise<void> | undefined;
  private ackTimer: NodeJS.Timeout | undefined;
  private ackUrgent = false;
  private lastAckAt = -Infinity;
  /** After a connection was lost with batches in flight, send one at a time until one is acknowledged. */
  private cautious = false;
  private rejecting: Promise<void> | undefined;
  /**
   * Topics the broker refused, until when: later batches for them go straight to the rejected file, so that one
   * plant the ACL does not allow cannot stall the others behind it. Tried again after refusedTopicRetryMs.
   */
  private readonly refusedTopics = new Map<string, number>();
  private readonly refusedTopicRetryMs: number;
  private lastLoneClose: { id: number; count: number } | undefined;
  private lastConnectionError: string | undefined;
  private stopping = false;

  constructor(options: PublisherOptions) {
    super();
    this.gatewayId = options.gatewayId;
    this.url = options.mqtt.url;
    this.username = options.mqtt.username;
    this.queue = options.queue;
    this.rejectedFile = options.rejectedFile;
    this.qos = options.qos ?? 1;
    this.window = options.window ?? 64;
    this.maxReadingsPerBatch = options.maxReadingsPerBatch ?? DEFAULT_MAX_READINGS_PER_BATCH;
    this.ackIntervalMs = options.ackIntervalMs ?? DEFAULT_ACK_INTERVAL_MS;
    this.ackedTo = this.ackTarget = options.queue.ackedId;
    this.closesBeforeReject = options.closesBeforeReject ?? 3;
    this.refusedTopicRetryMs = options.refusedTopicRetryMs ?? 10 * 60_000;
    this.reconnectBackoff = new Backoff(options.reconnectBackoff ?? DEFAULT_RECONNECT_BACKOFF);
    this.now = options.now ?? Date.now;
    this.onPublished = options.onPublished;
    const clientOptions = mqttClientOptions(options.gatewayId, options.mqtt);
    clientOptions.reconnectPeriod = this.reconnectBackoff.next();
    this.client = connect(options.mqtt.url, clientOptions);
    this.client.on('connect', () => {
      this.lastConnectionError = undefined;
      this.reconnectBackoff.reset();
      this.client.options.reconnectPeriod = this.reconnectBackoff.next();
      this.client.publish(topics.status(this.gatewayId), STATUS_ONLINE, { qos: 1, retain: true });
      this.emit('connected');
      this.kick();
    });
    // Runs before MQTT.js's own 'close' listener, which schedules the reconnect with options.reconnectPeriod.
    this.client.prependListener('close', () => this.onConnectionClosed());
    this.client.on('offline', () => this.emit('disconnected'));
    this.client.on('error', (err) => this.onClientError(err));
    watchClientIdClash(this.client, clientOptions.clientId ?? options.gatewayId, (message, context) => this.emit('error', new TransportError('MQTT_CLIENT_ID_CLASH', message, true, context)));
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /**
   * Queue the readings of one scan: one batch per plant (or several, of at most maxReadingsPerBatch readings), written
   * to disk together with the other scans of the same event-loop turn.
   */
  publishScan(readings: readonly Reading[]): void {
    if (this.stopping || readings.length === 0) return;
    for (const [plant, plantReadings] of splitByPlant(readings)) {
      for (const chunk of chunkReadings(plantReadings, this.maxReadingsPerBatch)) this.staged.push({ plant, readingsJson: JSON.stringify(chunk), count: chunk.length });
    }
    if (!this.spooling) this.spooling = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.spool());
  }

  /** Health JSON on the health topic, QoS 0, only while connected: it is a live signal, not data to keep. */
  publishHealth(payload: unknown): void {
    if (this.client.connected && !this.stopping) this.client.publish(topics.health(this.gatewayId), JSON.stringify(payload), { qos: 0, retain: false });
  }

  private async spool(): Promise<void> {
    while (this.staged.length) {
      const staged = this.staged;
      const count = staged.length;
      this.staged = [];
      // Only this loop appends, so the queue position of each record is known before it is written.
      let seq = this.queue.lastId;
      const sentAt = this.now();
      const records: Buffer[] = [];
      // per plant, taken for good only once the batches are queued (a batch dropped with a full queue leaves no gap)
      const plantSeqs = new Map(this.plantSeqs);
      for (const { plant, readingsJson, count: readings } of staged) {
        const plantSeq = plantSeqs.get(plant) ?? 0;
        plantSeqs.set(plant, plantSeq + 1);
        records.push(encodeSpoolRecord({ topic: topics.readings(plant, this.gatewayId), readings, payload: encodeBatchAround({ gateway: this.gatewayId, plant, seq: seq++, plantSeq, sentAt }, readingsJson) }));
      }
      try {
        await this.queue.append(records);
        this.plantSeqs = plantSeqs;
      } catch (err) {
        this.counters.droppedBatches += count;
        const full = err instanceof DiskQueueFullError;
        this.emit(
          'error',
          new TransportError(
            full ? 'PUBLISH_QUEUE_FULL' : 'PUBLISH_QUEUE_WRITE',
            `gateway ${this.gatewayId}: ${full ? 'the store-and-forward queue is full' : 'cannot write the store-and-forward queue'}; dropped ${count} new batches (${toError(err).message})`,
            false,
            { gateway: this.gatewayId, batches: count, dir: this.queue.dir },
            { cause: err },
          ),
        );
      }
      this.kick();
    }
    this.spooling = undefined;
  }

  private kick(): void {
    this.pumpWanted = true;
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.pumpWanted) {
        this.pumpWanted = false;
        while (this.client.connected && !this.stopping) {
          const room = (this.cautious ? 1 : this.window) - this.inflight.length;
          if (room <= 0) break;
          if (this.rejecting) await this.rejecting;
          const epoch = this.epoch;
          const records = await this.queue.read(room);
          if (epoch !== this.epoch) {
            // The connection dropped while reading: what was read is not sent now, so hand it out again later.
            this.queue.rewind();
            this.pumpWanted = true;
            break;
          }
          if (records.length === 0) break;
          for (const record of records) this.send(record, epoch);
        }
      }
    } catch (err) {
      this.emit('error', new TransportError('PUBLISH_QUEUE_READ', `gateway ${this.gatewayId}: cannot read the store-and-forward queue: ${toError(err).message}`, true, { gateway: this.gatewayId, dir: this.queue.dir }, { cause: err }));
    } finally {
      this.pumping = false;
    }
  }

  private send(record: QueuedRecord, epoch: number): void {
    let entry: InFlight;
    try {
      const decoded = decodeSpoolRecord(record.data);
      entry = { id: record.id, topic: decoded.topic, payload: decoded.payload, readings: decoded.readings, done: false };
    } catch (err) {
      entry = { id: record.id, topic: '', payload: record.data, readings: 0, done: false };
      this.inflight.push(entry);
      void this.reject(entry, `unreadable spool record: ${toError(err).message}`);
      return;
    }
    this.inflight.push(entry);
    const refusedUntil = this.refusedTopics.get(entry.topic);
    if (refusedUntil !== undefined && refusedUntil > this.now()) {
      void this.reject(entry, 'the broker refused this topic earlier');
      return;
    }
    this.client.publish(entry.topic, entry.payload, { qos: this.qos }, (err) => {
      if (epoch !== this.epoch) return; // taken back when the connection dropped; sent again from the queue
      if (!err) {
        this.cautious = false;
        this.lastLoneClose = undefined;
        entry.done = true;
        this.counters.batchesPublished++;
        this.counters.readingsPublished += entry.readings;
        if (this.onPublished) this.onPublished(entry.topic, JSON.parse(entry.payload.toString('utf8')) as ReadingBatch);
        this.advanceAcks();
        return;
      }
      const code = (err as Error & { code?: unknown }).code;
      if (typeof code === 'number' && code >= 0x80) {
        void this.reject(entry, `the broker refused it: ${err.message} (reason code 0x${code.toString(16)})`);
        return;
      }
      this.counters.publishErrors++;
      this.emit('error', new TransportError('MQTT_PUBLISH', `publishing batch ${entry.id - 1} to ${entry.topic} failed: ${err.message}; it stays queued`, true, { topic: entry.topic, seq: entry.id - 1 }, { cause: err }));
    });
  }

  /** Move a batch the broker will never take to the rejected file, then treat it as done so the queue moves on. */
  private reject(entry: InFlight, reason: string): Promise<void> {
    this.counters.rejectedBatches++;
    const until = this.refusedTopics.get(entry.topic);
    if (entry.topic && (until === undefined || until <= this.now())) this.refusedTopics.set(entry.topic, this.now() + this.refusedTopicRetryMs);
    const line = JSON.stringify({ rejectedAt: new Date(this.now()).toISOString(), gateway: this.gatewayId, topic: entry.topic, reason, payload: entry.payload.toString('utf8') });
    this.emit(
      'error',
      new TransportError('PUBLISH_REFUSED', `broker ${this.url} refused batch ${entry.id - 1} for ${entry.topic} (${reason}); is this gateway allowed to publish for that plant? The batch was moved to ${this.rejectedFile}`, false, {
        gateway: this.gatewayId,
        topic: entry.topic,
        seq: entry.id - 1,
        file: this.rejectedFile,
      }),
    );
    // The file is written before the queue acks past the batch, so a crash in between keeps it.
    return appendFile(this.rejectedFile, line + '\n')
      .catch((err: unknown) => {
        this.emit('error', new TransportError('PUBLISH_REJECTED_WRITE', `cannot write ${this.rejectedFile}: ${toError(err).message}`, false, { file: this.rejectedFile }));
      })
      .then(async () => {
        entry.done = true;
        this.advanceAcks();
        await this.recordAcksNow();
      });
  }

  /** Ack the queue up to the longest acknowledged prefix of what is in flight: the queue's ack is "up to id". */
  private advanceAcks(): void {
    let upTo: number | undefined;
    while (this.inflight[0]?.done) upTo = this.inflight.shift()!.id;
    if (upTo === undefined) return;
    this.ackTarget = Math.max(this.ackTarget, upTo);
    this.requestAck(false);
    this.kick();
  }

  /** Record acknowledged batches in the queue: at once when urgent, else at most every ackIntervalMs. */
  private requestAck(urgent: boolean): void {
    if (this.ackedTo >= this.ackTarget) return;
    if (this.acking) {
      if (urgent) this.ackUrgent = true;
      return;
    }
    const wait = urgent ? 0 : this.lastAckAt + this.ackIntervalMs - Date.now();
    if (wait <= 0) {
      clearTimeout(this.ackTimer);
      this.ackTimer = undefined;
      this.acking = this.recordAcks();
      return;
    }
    if (!this.ackTimer) {
      this.ackTimer = setTimeout(() => {
        this.ackTimer = undefined;
        this.requestAck(false);
      }, wait);
      // Pending acks never keep the process alive: stop() records them itself.
      this.ackTimer.unref();
    }
  }

  private async recordAcks(): Promise<void> {
    const target = this.ackTarget;
    this.lastAckAt = Date.now();
    let failed = false;
    try {
      await this.queue.ack(target);
      this.ackedTo = Math.max(this.ackedTo, target);
    } catch (err) {
      failed = true;
      this.emit('error', new TransportError('PUBLISH_QUEUE_ACK', `gateway ${this.gatewayId}: cannot record delivered batches in the queue: ${toError(err).message} (they may be sent again)`, true, { gateway: this.gatewayId }, { cause: err }));
    } finally {
      this.acking = undefined;
      const urgent = this.ackUrgent && !failed;
      this.ackUrgent = false;
      // A failure is retried at the normal pace, not in a tight loop.
      this.requestAck(urgent);
    }
  }

  /** Resolves when everything acknowledged so far is recorded in the queue (or recording it failed and was reported). */
  private async recordAcksNow(): Promise<void> {
    this.requestAck(true);
    while (this.acking) await this.acking;
  }

  private onConnectionClosed(): void {
    this.epoch++;
    const lost = this.inflight.filter((e) => !e.done);
    this.inflight = [];
    // MQTT.js would resend its own copies on reconnect; the queue is the one source, so take them back.
    for (const id of Object.keys(this.client.outgoing)) this.client.removeOutgoingMessage(Number(id));
    this.queue.rewind();
    // The rewind goes back to what the queue has recorded as delivered; recording the rest now (the queue moves its
    // read position past what it acks) keeps delivered batches from being sent again after the reconnect.
    this.requestAck(true);
    if (lost.length === 1 && this.cautious) {
      const only = lost[0]!;
      const count = this.lastLoneClose?.id === only.id ? this.lastLoneClose.count + 1 : 1;
      this.lastLoneClose = { id: only.id, count };
      if (count >= this.closesBeforeReject) {
        this.lastLoneClose = undefined;
        this.inflight = [only];
        // Sending waits for this: the queue must be acked past the batch before it is read again.
        this.rejecting = this.reject(only, `the broker closed the connection ${count} times in a row while it was the only batch in flight`).finally(() => {
          this.rejecting = undefined;
          this.kick();
        });
      }
    }
    if (lost.length) this.cautious = true;
    this.client.options.reconnectPeriod = this.reconnectBackoff.next();
  }

  private onClientError(err: Error): void {
    // MQTT.js retries by itself; report a cause once, not at every attempt.
    if (err.message === this.lastConnectionError) return;
    this.lastConnectionError = err.message;
    const context = { url: this.url, gateway: this.gatewayId, username: this.username ?? null };
    if (isAuthRefusal(err)) {
      this.emit(
        'error',
        new TransportError('MQTT_AUTH', `broker ${this.url} refused ${this.username === undefined ? 'an anonymous connection' : `user ${JSON.stringify(this.username)}`}: ${err.message}; check mqtt.username and mqtt.password. Retrying with backoff; readings are kept on disk meanwhile`, true, context, { cause: err }),
      );
      return;
    }
    this.emit('error', new TransportError('MQTT_CONNECTION', `broker ${this.url}: ${err.message}`, true, context, { cause: err }));
  }

  private settled(): boolean {
    return !this.spooling && this.staged.length === 0 && this.queue.length === 0 && !this.acking;
  }

  /**
   * Resolves when every batch handed over so far has been acknowledged by the broker (the queue is empty); rejects
   * after timeoutMs (when given) saying how many still wait.
   */
  async flush(timeoutMs?: number): Promise<void> {
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    while (!this.settled()) {
      this.requestAck(true);
      if (Date.now() > deadline) {
        throw new TransportError('FLUSH_TIMEOUT', `gateway ${this.gatewayId}: ${this.waitingBatches()} batches not acknowledged by the broker within ${timeoutMs} ms (they stay queued on disk)`, true, {
          gateway: this.gatewayId,
          queued: this.waitingBatches(),
        });
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Batches the broker has not acknowledged: staged, or on disk and not yet delivered. */
  private waitingBatches(): number {
    // Ids lost to disk damage (core/disk-queue.ts) between ackedTo and ackTarget are in the difference and not in the
    // queue's length: until the ack is recorded the subtraction can go below the truth, never below zero.
    return Math.max(0, this.queue.length - Math.max(0, this.ackTarget - this.ackedTo)) + this.staged.length;
  }

  stats(): PublisherStats {
    return {
      connected: this.client.connected,
      ...this.counters,
      queuedBatches: this.waitingBatches(),
      queueBytes: this.queue.bytes,
      queueMaxBytes: this.queue.maxBytes,
      inFlightBatches: this.inflight.length,
      nextSeq: this.queue.lastId + this.staged.length,
      lostBatches: this.queue.recovery.reduce((sum, d) => sum + d.recordsLost, 0),
    };
  }

  /**
   * Stop sending, wait up to graceMs for acknowledgements of what is in flight, publish `offline` (retained) and
   * disconnect. Whatever is not acknowledged stays in the queue for the next start: nothing is lost by stopping.
   */
  async stop(graceMs = 2_000): Promise<void> {
    if (this.stopping) return;
    await this.spooling;
    this.stopping = true;
    const deadline = Date.now() + graceMs;
    while (this.inflight.some((e) => !e.done) && this.client.connected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await this.recordAcksNow();
    if (this.client.connected) this.client.publish(topics.status(this.gatewayId), STATUS_OFFLINE, { qos: 1, retain: true });
    let timer: NodeJS.Timeout | undefined;
    // end(false) waits for the offline message's PUBACK; bounded because the broker may be gone.
    const ended = await Promise.race([
      this.client.endAsync(false).then(() => true, () => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(200, deadline - Date.now())))),
    ]);
    clearTimeout(timer);
    if (!ended) await this.client.endAsync(true).catch((err: unknown) => toError(err));
    await this.recordAcksNow();
    clearTimeout(this.ackTimer);
  }
}
