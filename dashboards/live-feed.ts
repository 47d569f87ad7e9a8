/**
 * One MQTT subscription per dashboard server, fanned out to its live clients, with a ring buffer of recent batches
 * so that a client reconnecting with `Last-Event-ID` can be sent what it missed.
 *
 * Event ids are `<boot>-<n>`: `boot` is random per feed, so an id from before a restart is recognised as foreign
 * (the client is told it missed data) rather than matched against unrelated numbers.
 */
import { randomBytes } from 'node:crypto';
import { connect, type MqttClient } from 'mqtt';
import type { FastifyBaseLogger } from 'fastify';
import { QUANTITIES, unitFactor, type QuantityId } from '../core/catalog.ts';
import { PayloadError } from '../core/errors.ts';
import { decodeBatch, type Quality, type ReadingBatch } from '../core/reading.ts';
import { parseReadingsTopic, topics } from '../core/topics.ts';

export interface LiveReading {
  meter: string;
  quantity: QuantityId;
  /** In the catalog's canonical unit, like InfluxDB, whatever unit the gateway sent. */
  value: number | null;
  unit: string;
  ts: number;
  quality: Quality;
}

export interface LiveBatch {
  id: string;
  plant: string;
  gateway: string;
  seq: number;
  sentAt: number;
  readings: LiveReading[];
}

export type UnnumberedBatch = Omit<LiveBatch, 'id'>;

/** A decoded batch with every value converted to its quantity's canonical unit. */
export function toLiveBatch(batch: ReadingBatch): UnnumberedBatch {
  return {
    plant: batch.plant,
    gateway: batch.gateway,
    seq: batch.seq,
    sentAt: batch.sentAt,
    readings: batch.readings.map((r) => {
      const factor = unitFactor(r.quantity, r.unit) ?? Number.NaN; // decodeBatch has already refused unknown units
      return { meter: r.meter, quantity: r.quantity, value: r.value === null ? null : r.value * factor, unit: QUANTITIES[r.quantity].unit, ts: r.ts, quality: r.quality };
    }),
  };
}

export interface Replay {
  batches: LiveBatch[];
  /** False when batches after `lastId` were already evicted, or the id is not from this feed: the client has a gap. */
  complete: boolean;
}

/** The last `capacity` batches, numbered in arrival order. */
export class RecentBatches {
  private readonly slots: (LiveBatch | undefined)[];
  private next = 1;
  readonly boot: string;

  constructor(
    readonly capacity: number,
    boot = randomBytes(4).toString('hex'),
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.slots = new Array<LiveBatch | undefined>(capacity);
    this.boot = boot;
  }

  push(batch: UnnumberedBatch): LiveBatch {
    const n = this.next++;
    const numbered: LiveBatch = { id: `${this.boot}-${n}`, ...batch };
    this.slots[n % this.capacity] = numbered;
    return numbered;
  }

  /** What came after `lastId`, oldest first. */
  after(lastId: string): Replay {
    const oldest = Math.max(1, this.next - this.capacity);
    const all = (from: number): LiveBatch[] => {
      const out: LiveBatch[] = [];
      for (let n = from; n < this.next; n++) out.push(this.slots[n % this.capacity] as LiveBatch);
      return out;
    };
    const match = /^([0-9a-f]+)-(\d+)$/.exec(lastId);
    const last = match && match[1] === this.boot ? Number(match[2]) : undefined;
    if (last === undefined || last >= this.next) return { batches: all(oldest), complete: false };
    return { batches: all(Math.max(oldest, last + 1)), complete: last + 1 >= oldest };
  }
}

export interface LiveFeedOptions {
  mqtt: { url: string; username?: string; password?: string };
  /** Batches kept for resuming clients (default 1000). */
  bufferSize?: number;
  log: FastifyBaseLogger;
}

export type BatchListener = (batch: LiveBatch) => void;

export class LiveFeed {
  private readonly recent: RecentBatches;
  private readonly listeners = new Set<BatchListener>();
  private client: MqttClient | undefined;
  private subscribed = false;
  private readonly warnedReasons = new Set<string>();

  constructor(private readonly options: LiveFeedOptions) {
    this.recent = new RecentBatches(options.bufferSize ?? 1000);
  }

  /** Connects in the background and keeps reconnecting: a broker that is down now is not a reason not to serve history. */
  start(): void {
    if (this.client) return;
    const { url, username, password } = this.options.mqtt;
    const log = this.options.log;
    const client = connect(url, {
      clientId: `cleanstream-dashboard-${randomBytes(4).toString('hex')}`,
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
    });
    this.client = client;
    client.on('connect', () => {
      // QoS 0: a live view that misses a message during a reconnect is told so by the ids, and history is in InfluxDB.
      client.subscribe(topics.readingsFilter(), { qos: 0 }, (err) => {
        if (err) {
          log.warn({ err, broker: url }, `dashboard: cannot subscribe to ${topics.readingsFilter()}: ${err.message}`);
          return;
        }
        this.subscribed = true;
        log.info({ broker: url }, 'dashboard: subscribed to live readings');
      });
    });
    client.on('close', () => {
      if (this.subscribed) log.warn({ broker: url }, 'dashboard: broker connection lost; reconnecting');
      this.subscribed = false;
    });
    client.on('error', (err) => log.warn({ err, broker: url }, `dashboard: mqtt: ${err.message}`));
    client.on('message', (topic, payload) => this.receive(topic, payload));
  }

  private receive(topic: string, payload: Buffer): void {
    const where = parseReadingsTopic(topic);
    if (!where) return;
    let batch: ReadingBatch;
    try {
      batch = decodeBatch(payload);
      if (batch.plant !== where.plant) throw new PayloadError('bad_envelope', `plant ${batch.plant} in the payload, ${where.plant} in the topic`);
    } catch (err) {
      // Ingest dead-letters bad messages with details; here one line per kind of problem is enough.
      const reason = err instanceof PayloadError ? err.reason : 'unknown';
      if (!this.warnedReasons.has(reason)) {
        this.warnedReasons.add(reason);
        this.options.log.warn({ topic, reason }, `dashboard: skipping undecodable readings (${(err as Error).message}); further ones with this reason are not logged`);
      }
      return;
    }
    const live = this.recent.push(toLiveBatch(batch));
    for (const listener of this.listeners) listener(live);
  }

  /** Calls `listener` for every batch from now on; returns the function that stops it. */
  subscribe(listener: BatchListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  after(lastId: string): Replay {
    return this.recent.after(lastId);
  }

  get clients(): number {
    return this.listeners.size;
  }

  status(): { connected: boolean; subscribed: boolean } {
    return { connected: this.client?.connected ?? false, subscribed: this.subscribed };
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.subscribed = false;
    this.listeners.clear();
    if (client) await client.endAsync(true);
  }
}
