/**
 * The gateway's MQTT publisher: one ReadingBatch per plant per scan, QoS 1 by default, to
 * cleanstream/v1/readings/{plant}/{gateway}; `online`/`offline` retained on cleanstream/v1/status/{gateway}
 * (offline as the last will, MQTT 3.1.1 §3.1.2.5, so a crashed gateway is seen as offline too).
 *
 * While the broker is unreachable, batches wait in MQTT.js's outgoing store (memory, in order) and are sent on
 * reconnect; each batch counts as published only when its PUBACK arrives (MQTT 3.1.1 §4.3.2). `flush()` waits for
 * that. Nothing is dropped silently: a batch that cannot be kept (the in-memory bound) or fails is counted and
 * reported as an error. Disk store-and-forward across gateway restarts is a later layer.
 */
import { EventEmitter } from 'node:events';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { mqttConnectOptions, type MqttConnection } from '../core/config.ts';
import { TransportError, toError } from '../core/errors.ts';
import { encodeBatch, PAYLOAD_VERSION, type BatchReading, type Reading, type ReadingBatch } from '../core/reading.ts';
import { topics } from '../core/topics.ts';

export const STATUS_ONLINE = 'online';
export const STATUS_OFFLINE = 'offline';

export interface PublisherOptions {
  gatewayId: string;
  mqtt: MqttConnection;
  qos?: 0 | 1;
  /**
   * Batches handed over but not yet acknowledged, beyond which new batches are refused (counted in droppedBatches
   * and reported). MQTT packet identifiers are 16-bit (MQTT 3.1.1 §2.3.1): more in flight than that cannot be told apart.
   */
  maxPendingBatches?: number;
  /** Called when the broker has acknowledged a batch (at QoS 0: when it was written). */
  onPublished?: (topic: string, batch: ReadingBatch) => void;
  now?: () => number;
}

export interface PublisherStats {
  connected: boolean;
  /** Batches acknowledged by the broker, and the readings in them. */
  batchesPublished: number;
  readingsPublished: number;
  /** Handed over, not yet acknowledged (waiting for the broker or in flight). */
  pendingBatches: number;
  publishErrors: number;
  /** Refused because maxPendingBatches were waiting already. */
  droppedBatches: number;
  /** The seq the next batch will carry. */
  nextSeq: number;
}

export interface PublisherEvents {
  error: [err: TransportError];
  connected: [];
  disconnected: [];
}

/** Split a scan by plant, keeping each plant's readings in scan order; plants in order of first appearance. */
export function splitByPlant(readings: readonly Reading[]): Map<string, BatchReading[]> {
  const byPlant = new Map<string, BatchReading[]>();
  for (const { plant, ...reading } of readings) {
    let list = byPlant.get(plant);
    if (!list) {
      list = [];
      byPlant.set(plant, list);
    }
    list.push(reading);
  }
  return byPlant;
}

export function mqttClientOptions(gatewayId: string, mqtt: MqttConnection): IClientOptions {
  return {
    ...mqttConnectOptions(mqtt),
    clientId: mqtt.clientId ?? `cleanstream-${gatewayId}`,
    clean: true,
    will: { topic: topics.status(gatewayId), payload: Buffer.from(STATUS_OFFLINE), qos: 1, retain: true },
  };
}

export class Publisher extends EventEmitter<PublisherEvents> {
  private readonly client: MqttClient;
  private readonly gatewayId: string;
  private readonly qos: 0 | 1;
  private readonly maxPending: number;
  private readonly now: () => number;
  private readonly onPublished: PublisherOptions['onPublished'];
  private readonly pending = new Set<Promise<void>>();
  private seq = 0;
  private counters = { batchesPublished: 0, readingsPublished: 0, publishErrors: 0, droppedBatches: 0 };
  private lastConnectionError: string | undefined;
  private stopped = false;

  constructor(options: PublisherOptions) {
    super();
    this.gatewayId = options.gatewayId;
    this.qos = options.qos ?? 1;
    this.maxPending = options.maxPendingBatches ?? 50_000;
    this.now = options.now ?? Date.now;
    this.onPublished = options.onPublished;
    this.client = connect(options.mqtt.url, mqttClientOptions(options.gatewayId, options.mqtt));
    this.client.on('connect', () => {
      this.lastConnectionError = undefined;
      this.client.publish(topics.status(this.gatewayId), STATUS_ONLINE, { qos: 1, retain: true });
      this.emit('connected');
    });
    this.client.on('offline', () => this.emit('disconnected'));
    this.client.on('error', (err) => {
      // MQTT.js retries every reconnectPeriod; report a cause once, not once a second.
      if (err.message === this.lastConnectionError) return;
      this.lastConnectionError = err.message;
      this.emit('error', new TransportError('MQTT_CONNECTION', `broker ${options.mqtt.url}: ${err.message}`, true, { url: options.mqtt.url, gateway: this.gatewayId }, { cause: err }));
    });
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** Publish the readings of one scan: one batch per plant. Returns the batches handed to the client. */
  publishScan(readings: readonly Reading[]): ReadingBatch[] {
    if (this.stopped || readings.length === 0) return [];
    const batches: ReadingBatch[] = [];
    for (const [plant, plantReadings] of splitByPlant(readings)) {
      if (this.pending.size >= this.maxPending) {
        this.counters.droppedBatches++;
        this.emit('error', new TransportError('PUBLISH_BACKLOG_FULL', `gateway ${this.gatewayId}: ${this.pending.size} batches wait for the broker; dropped a batch of ${plantReadings.length} readings for ${plant}`, true, { gateway: this.gatewayId, plant, readings: plantReadings.length }));
        continue;
      }
      const batch: ReadingBatch = { v: PAYLOAD_VERSION, gateway: this.gatewayId, plant, seq: this.seq++, sentAt: this.now(), readings: plantReadings };
      this.send(topics.readings(plant, this.gatewayId), batch);
      batches.push(batch);
    }
    return batches;
  }

  private send(topic: string, batch: ReadingBatch): void {
    const done = new Promise<void>((resolve, reject) => {
      this.client.publish(topic, encodeBatch(batch), { qos: this.qos }, (err) => {
        if (err) {
          this.counters.publishErrors++;
          const error = new TransportError('MQTT_PUBLISH', `publishing batch ${batch.seq} (${batch.readings.length} readings for ${batch.plant}) failed: ${err.message}`, true, { topic, seq: batch.seq }, { cause: err });
          this.emit('error', error);
          reject(error);
          return;
        }
        this.counters.batchesPublished++;
        this.counters.readingsPublished += batch.readings.length;
        this.onPublished?.(topic, batch);
        resolve();
      });
    });
    this.pending.add(done);
    const settle = (): void => {
      this.pending.delete(done);
    };
    done.then(settle, settle);
  }

  /**
   * Resolves when every batch handed over so far has been acknowledged; rejects if any of them failed, or after
   * timeoutMs (when given) with those still waiting.
   */
  async flush(timeoutMs?: number): Promise<void> {
    const waiting = [...this.pending];
    if (waiting.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const all = Promise.allSettled(waiting);
    const outcome = await (timeoutMs === undefined
      ? all
      : Promise.race([all, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)))]));
    clearTimeout(timer);
    if (outcome === 'timeout') {
      throw new TransportError('FLUSH_TIMEOUT', `gateway ${this.gatewayId}: ${this.pending.size} batches not acknowledged by the broker within ${timeoutMs} ms`, true, { gateway: this.gatewayId, pending: this.pending.size });
    }
    const failed = outcome.filter((r) => r.status === 'rejected').length;
    if (failed) {
      throw new TransportError('FLUSH_FAILED', `gateway ${this.gatewayId}: ${failed} of ${waiting.length} batches failed to publish`, true, { gateway: this.gatewayId, failed });
    }
  }

  stats(): PublisherStats {
    return { connected: this.client.connected, ...this.counters, pendingBatches: this.pending.size, nextSeq: this.seq };
  }

  /**
   * Publish `offline` (retained) and disconnect. Batches still unacknowledged after `graceMs` are reported as an
   * error (call flush() first to wait for them).
   */
  async stop(graceMs = 2_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.client.connected) {
      this.client.publish(topics.status(this.gatewayId), STATUS_OFFLINE, { qos: 1, retain: true });
    }
    let timer: NodeJS.Timeout | undefined;
    // end(false) waits for in-flight QoS 1 messages; bounded because the broker may be gone.
    const ended = await Promise.race([
      this.client.endAsync(false).then(() => true, () => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
    ]);
    clearTimeout(timer);
    const unacknowledged = this.pending.size;
    if (!ended) await this.client.endAsync(true).catch((err: unknown) => toError(err));
    if (unacknowledged > 0) {
      this.emit('error', new TransportError('PUBLISH_UNACKNOWLEDGED_AT_STOP', `gateway ${this.gatewayId}: stopped with ${unacknowledged} batches not acknowledged by the broker; they are lost`, false, { gateway: this.gatewayId, unacknowledged }));
    }
  }
}
