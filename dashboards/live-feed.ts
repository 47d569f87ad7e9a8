/**
 * One MQTT connection per dashboard server: readings and alert states in, fanned out to its live clients as numbered
 * events, with a ring buffer of recent events so that a client reconnecting with `Last-Event-ID` can be sent what it
 * missed (readings and alert changes alike). The same connection forwards acknowledgements to the rules stage.
 *
 * Event ids are `<boot>-<n>`: `boot` is random per feed, so an id from before a restart is recognised as foreign
 * (the client is told it missed data) rather than matched against unrelated numbers.
 */
import { randomBytes } from 'node:crypto';
import { connect, type MqttClient } from 'mqtt';
import type { FastifyBaseLogger } from 'fastify';
import { quantityDef, unitFactor } from '../core/catalog.ts';
import { PayloadError, TransportError } from '../core/errors.ts';
import { decodeBatch, DEFAULT_MAX_FUTURE_SKEW_MS, type BatchReading, type ReadingBatch } from '../core/reading.ts';
import { parseReadingsTopic, topics } from '../bus/topics.ts';
import type { Alert, AlertAck } from '../core/alert.ts';
import { AlertBoard, parseAlertPayload, parseAlertTopic, type AlertSlotKey } from './alerts.ts';

/** A batch's reading as the stream sends it: in the catalog's canonical unit, like InfluxDB, whatever unit the gateway sent. */
export type LiveReading = BatchReading;

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
      return { meter: r.meter, quantity: r.quantity, value: r.value === null ? null : r.value * factor, unit: quantityDef(r.quantity).unit, ts: r.ts, quality: r.quality };
    }),
  };
}

/** What the feed numbers and keeps: a batch of readings, or an alert's new state. */
export type LivePayload = { type: 'readings'; plant: string; batch: UnnumberedBatch } | { type: 'alert'; plant: string; alert: Alert };
export type LiveEvent = LivePayload & { id: string };

export interface Replay {
  events: LiveEvent[];
  /** False when events after `lastId` were already evicted, or the id is not from this feed: the client has a gap. */
  complete: boolean;
}

/** The last `capacity` events, numbered in arrival order. */
export class RecentEvents {
  private readonly slots: (LiveEvent | undefined)[];
  private next = 1;
  readonly boot: string;

  constructor(
    readonly capacity: number,
    boot = randomBytes(4).toString('hex'),
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.slots = new Array<LiveEvent | undefined>(capacity);
    this.boot = boot;
  }

  push(payload: LivePayload): LiveEvent {
    const n = this.next++;
    const numbered: LiveEvent = { ...payload, id: `${this.boot}-${n}` };
    this.slots[n % this.capacity] = numbered;
    return numbered;
  }

  /** What came after `lastId`, oldest first. */
  after(lastId: string): Replay {
    const oldest = Math.max(1, this.next - this.capacity);
    const all = (from: number): LiveEvent[] => {
      const out: LiveEvent[] = [];
      for (let n = from; n < this.next; n++) out.push(this.slots[n % this.capacity] as LiveEvent);
      return out;
    };
    const match = /^([0-9a-f]+)-(\d+)$/.exec(lastId);
    const last = match && match[1] === this.boot ? Number(match[2]) : undefined;
    if (last === undefined || last >= this.next) return { events: all(oldest), complete: false };
    return { events: all(Math.max(oldest, last + 1)), complete: last + 1 >= oldest };
  }
}

export interface LiveFeedOptions {
  mqtt: { url: string; username?: string; password?: string; clientId?: string };
  /** Events kept for resuming clients (default 1000). */
  bufferSize?: number;
  log: FastifyBaseLogger;
}

export type LiveListener = (event: LiveEvent) => void;

export class LiveFeed {
  private readonly recent: RecentEvents;
  private readonly listeners = new Set<LiveListener>();
  /** The last state of every alert slot, from the retained alert topics. */
  readonly alerts = new AlertBoard();
  private alertsSeen = false;
  private client: MqttClient | undefined;
  private subscribed = false;
  private readonly warnedReasons = new Set<string>();

  constructor(private readonly options: LiveFeedOptions) {
    this.recent = new RecentEvents(options.bufferSize ?? 1000);
  }

  /** Connects in the background and keeps reconnecting: a broker that is down now is not a reason not to serve history. */
  start(): void {
    if (this.client) return;
    const { url, username, password } = this.options.mqtt;
    const log = this.options.log;
    const client = connect(url, {
      clientId: this.options.mqtt.clientId ?? `cleanstream-dashboard-${randomBytes(4).toString('hex')}`,
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
      // Alerts at QoS 1: they are few, and the retained state arrives again on every reconnect anyway.
      const filters = { [topics.readingsFilter()]: { qos: 0 as const }, [topics.alertsFilter()]: { qos: 1 as const } };
      client.subscribe(filters, (err, granted) => {
        const refused = granted?.filter((g) => g.qos === 128).map((g) => g.topic) ?? [];
        if (err || refused.length) {
          const why = err?.message ?? `the broker refused ${refused.join(', ')}`;
          log.warn({ err, broker: url }, `dashboard: cannot subscribe to readings and alerts: ${why}`);
          return;
        }
        this.subscribed = true;
        log.info({ broker: url }, 'dashboard: subscribed to live readings and alerts');
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
    const slot = parseAlertTopic(topic);
    if (slot) return this.receiveAlert(slot, payload);
    const where = parseReadingsTopic(topic);
    if (!where) return;
    let batch: ReadingBatch;
    try {
      // Not from the future (as ingest refuses it): a screen never shows a value that claims a time still to come.
      batch = decodeBatch(payload, { now: Date.now(), maxFutureSkewMs: DEFAULT_MAX_FUTURE_SKEW_MS, maxAgeMs: undefined });
      if (batch.plant !== where.plant) throw new PayloadError('bad_envelope', `plant ${batch.plant} in the payload, ${where.plant} in the topic`);
    } catch (err) {
      // Ingest dead-letters bad messages with details; here one line per kind of problem is enough.
      const reason = err instanceof PayloadError ? err.reason : 'internal_error';
      if (!this.warnedReasons.has(reason)) {
        this.warnedReasons.add(reason);
        this.options.log.warn({ topic, reason }, `dashboard: skipping undecodable readings (${(err as Error).message}); further ones with this reason are not logged`);
      }
      return;
    }
    this.emit({ type: 'readings', plant: batch.plant, batch: toLiveBatch(batch) });
  }

  private receiveAlert(slot: AlertSlotKey, payload: Buffer): void {
    this.alertsSeen = true;
    const verdict = parseAlertPayload(payload, slot);
    if (verdict.kind === 'invalid') {
      if (!this.warnedReasons.has('alert')) {
        this.warnedReasons.add('alert');
        this.options.log.warn({ slot, reason: verdict.reason }, `dashboard: skipping an alert message that is not an alert (${verdict.reason}); further ones are not logged`);
      }
      return;
    }
    const alert = verdict.kind === 'alert' ? verdict.alert : null;
    if (this.alerts.apply(slot, alert) && alert) this.emit({ type: 'alert', plant: slot.plant, alert });
  }

  private emit(payload: LivePayload): void {
    const event = this.recent.push(payload);
    for (const listener of this.listeners) listener(event);
  }

  /**
   * Forward an acknowledgement to the rules stage (QoS 1, not retained: an old acknowledgement must not apply to a
   * later alert of the same slot).
   */
  async publishAck(slot: AlertSlotKey, ack: AlertAck): Promise<void> {
    const client = this.client;
    if (!client?.connected) throw new TransportError('MQTT_UNAVAILABLE', 'the dashboard is not connected to the broker: the acknowledgement cannot be forwarded', true, { slot });
    try {
      await client.publishAsync(topics.alertAck(slot.plant, slot.rule, slot.meter), JSON.stringify(ack), { qos: 1, retain: false });
    } catch (err) {
      throw new TransportError('MQTT_PUBLISH', `forwarding the acknowledgement failed: ${(err as Error).message}`, true, { slot }, { cause: err });
    }
  }

  /** Calls `listener` for every event from now on; returns the function that stops it. */
  subscribe(listener: LiveListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  after(lastId: string): Replay {
    return this.recent.after(lastId);
  }

  get clients(): number {
    return this.listeners.size;
  }

  status(): { connected: boolean; subscribed: boolean; alertsSeen: boolean } {
    return { connected: this.client?.connected ?? false, subscribed: this.subscribed, alertsSeen: this.alertsSeen };
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.subscribed = false;
    this.listeners.clear();
    if (client) await client.endAsync(true);
  }
}
