/**
 * The durable subscriber (bus/subscriber.ts) on NATS JetStream: one durable pull consumer per topic filter (nats-server
 * 2.9 has one filter subject per consumer), on the stream that holds the filter's subjects; the streams created or
 * checked at start (bus/nats/streams.ts). Each message is acknowledged on its own when the consumer acknowledges it
 * (JetStream acks by message, in any order) and counted once the server confirms it (double ack). Max ack pending is
 * the backpressure: the server hands out no more than that many unacknowledged messages.
 *
 * What MQTT does by its session, done here by hand:
 * - a message received and not acknowledged (held by the consumer, or waiting behind the one it works on) is kept from
 *   redelivery to the running consumer by an in-progress ack every third of the ack wait: a consumer may hold
 *   messages for minutes (the uplink until a checkpoint);
 * - what was not acknowledged when the consumer stopped or crashed is delivered again once the ack wait
 *   (`ackWaitSeconds`) expires, after what came meanwhile: unlike MQTT's session, not in the original order. stop()
 *   does not nak it: on nats-server 2.9.10 that rewinds the consumer (bus/README.md, NATS).
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, JetStreamApiError, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { toError, TransportError } from '../../core/errors.ts';
import { decodeDelivery } from '../decode.ts';
import type { BusMessage, DecodeOptions, DurableSubscriber, MessageHandler, SubscriberEvents, SubscriberStats } from '../subscriber.ts';
import type { NatsTransportConfig } from './config.ts';
import { busStreams, ensureStreams, type BusStream } from './streams.ts';
import { filterToStreamSubject, patternCovers, subjectToTopic, topicToSubject } from './subjects.ts';

export interface NatsSubscriberOptions<T> {
  nats: NatsTransportConfig;
  /** The consumer's fixed id: its durable consumers are named after it (and its filters), and found again by it. */
  durable: string;
  /** MQTT topic filters (`+`, `#`), as for the MQTT subscriber. */
  subscriptions: readonly string[];
  /** Read only this partition of readings (bus/nats/subjects.ts); all partitions when absent. */
  partition?: number;
  /** How long start() waits for a server (default 30 s). */
  connectTimeoutMs?: number;
  decode?: DecodeOptions<T>;
}

export function createNatsSubscriber<T = unknown>(options: NatsSubscriberOptions<T>): DurableSubscriber<T> {
  return new NatsDurableSubscriber(options);
}

/** A durable consumer name (no `.`, `*`, `>`): the consumer's id and a hash of its filter. */
function consumerName(durable: string, filterSubject: string): string {
  return `${durable.replace(/[^A-Za-z0-9_-]/g, '_')}_${createHash('sha256').update(filterSubject).digest('hex').slice(0, 12)}`;
}

interface Route {
  filter: string;
  subject: string;
  stream: BusStream;
  consumer: string;
}

class NatsDurableSubscriber<T> extends EventEmitter<SubscriberEvents> implements DurableSubscriber<T> {
  readonly name: string;
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private handler: MessageHandler<T> | undefined;
  private delivering = false;
  private isConnected = false;
  private stopped: Promise<void> | undefined;
  private readonly feeds: ConsumerMessages[] = [];
  /** Received from the server and not acknowledged, by `stream:sequence`. */
  private readonly outstanding = new Map<string, JsMsg>();
  /** Of those, handed over (or dropped as duplicates) and waiting for the consumer's ack. */
  private readonly held = new Set<string>();
  private readonly confirming = new Set<Promise<void>>();
  /** One message at a time across all consumers: the handler's backpressure. */
  private turn: Promise<void> = Promise.resolve();
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  private readonly counts = { received: 0, acknowledged: 0, duplicates: 0, decodeErrors: 0, connections: 0 };

  constructor(private readonly options: NatsSubscriberOptions<T>) {
    super();
    this.name = `${options.nats.servers.join(',')} as ${options.durable}`;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  async start(handler: MessageHandler<T>): Promise<void> {
    if (this.handler) throw new Error('the subscriber is already started');
    this.handler = handler;
    this.delivering = true;
    const { nats } = this.options;
    const timeoutMs = this.options.connectTimeoutMs ?? 30_000;
    const routes = this.routes();
    try {
      this.nc = await connect({ servers: nats.servers, name: this.options.durable, timeout: timeoutMs, maxReconnectAttempts: -1 });
    } catch (err) {
      this.delivering = false;
      throw new TransportError('NATS_CONNECT', `no connection to the NATS servers ${nats.servers.join(', ')} within ${timeoutMs} ms: ${toError(err).message}`, true, { servers: nats.servers }, { cause: err });
    }
    this.isConnected = true;
    this.counts.connections++;
    this.emit('connected');
    void this.watchStatus(this.nc);
    try {
      const jsm = await jetstreamManager(this.nc, { timeout: timeoutMs });
      await ensureStreams(jsm, nats);
      this.js = jetstream(this.nc, { timeout: timeoutMs });
      for (const route of routes) await this.ensureConsumer(jsm, route);
      for (const route of routes) {
        const consumer = await this.js.consumers.get(route.stream.name, route.consumer);
        const feed = await consumer.consume({ max_messages: Math.min(nats.maxAckPending, 256) });
        this.feeds.push(feed);
        void this.pump(feed);
      }
    } catch (err) {
      this.delivering = false;
      await this.close();
      throw err;
    }
    const ackWaitMs = nats.ackWaitSeconds * 1000;
    this.keepAlive = setInterval(() => {
      for (const m of this.outstanding.values()) m.working();
    }, Math.max(100, Math.floor(ackWaitMs / 3)));
    this.keepAlive.unref();
  }

  stop(drain?: () => Promise<void>): Promise<void> {
    this.stopped ??= (async () => {
      this.delivering = false;
      try {
        await drain?.();
      } finally {
        if (this.nc) {
          await Promise.allSettled([...this.confirming]);
          // Not waiting for the pumps: one may wait on a handler that never settles; what they hold stays unacknowledged.
          for (const feed of this.feeds) feed.stop();
          // Not naked: on nats-server 2.9.10 a nak once the pull has ended rewinds the consumer, which then delivers
          // again a later message that was acknowledged (bus/README.md). What is left comes again after the ack wait.
          this.outstanding.clear();
          this.held.clear();
          await this.close();
        }
      }
    })();
    return this.stopped;
  }

  async publish(topic: string, payload: string | Buffer): Promise<void> {
    if (!this.js) throw new TransportError('NATS_CONNECT', `publishing to ${topic} before the subscriber started`, true, { topic });
    // The server maps a readings subject to its partition before the stream stores it; the stream's ack confirms it.
    await this.js.publish(topicToSubject(topic), typeof payload === 'string' ? payload : new Uint8Array(payload));
  }

  stats(): SubscriberStats {
    return { connected: this.isConnected, unacked: this.held.size, ...this.counts };
  }

  /** Each filter on the stream that holds its subjects; a filter no stream holds is refused before anything connects. */
  private routes(): Route[] {
    const { partition, nats } = this.options;
    if (partition !== undefined && !(Number.isInteger(partition) && partition >= 0 && partition < nats.partitions)) {
      throw new RangeError(`partition ${partition} is not one of the ${nats.partitions} partitions (0 to ${nats.partitions - 1})`);
    }
    const streams = busStreams(nats);
    const refused: string[] = [];
    const routes: Route[] = [];
    for (const filter of this.options.subscriptions) {
      let subject: string;
      try {
        subject = filterToStreamSubject(filter, this.options.partition);
      } catch {
        refused.push(filter);
        continue;
      }
      const stream = streams.find((s) => s.subjects.some((p) => patternCovers(p, subject)));
      if (!stream) refused.push(filter);
      else routes.push({ filter, subject, stream, consumer: consumerName(this.options.durable, subject) });
    }
    if (refused.length) {
      throw new TransportError('NATS_SUBSCRIBE', `no stream holds the subjects of ${refused.join(', ')} (streams: ${streams.map((s) => `${s.name} ${s.subjects.join(' ')}`).join('; ')})`, false, { filters: refused });
    }
    return routes;
  }

  private async ensureConsumer(jsm: JetStreamManager, route: Route): Promise<void> {
    const { nats } = this.options;
    const settings = { max_ack_pending: nats.maxAckPending, ack_wait: nanos(nats.ackWaitSeconds * 1000) };
    try {
      const info = await jsm.consumers.info(route.stream.name, route.consumer);
      if (info.config.max_ack_pending !== settings.max_ack_pending || info.config.ack_wait !== settings.ack_wait) await jsm.consumers.update(route.stream.name, route.consumer, settings);
      return;
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.status === 404)) {
        throw new TransportError('NATS_SUBSCRIBE', `reading consumer ${route.consumer} of ${route.stream.name} for ${route.filter} failed: ${toError(err).message}`, true, { filter: route.filter }, { cause: err });
      }
    }
    try {
      // A new subscription starts with what comes next, as an MQTT subscription does.
      await jsm.consumers.add(route.stream.name, { durable_name: route.consumer, filter_subject: route.subject, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New, ...settings });
    } catch (err) {
      throw new TransportError('NATS_SUBSCRIBE', `the server refused a consumer for ${route.filter} on ${route.stream.name}: ${toError(err).message}`, false, { filter: route.filter }, { cause: err });
    }
  }

  private async pump(feed: ConsumerMessages): Promise<void> {
    for await (const m of feed) {
      const next = this.turn.then(() => this.deliver(m));
      this.turn = next;
      await next;
    }
  }

  private async deliver(m: JsMsg): Promise<void> {
    const key = `${m.info.stream}:${m.seq}`;
    // Delivered again while we still hold it (the ack wait expired before an in-progress ack arrived): one is enough.
    if (this.outstanding.has(key)) return;
    this.outstanding.set(key, m);
    const handler = this.handler;
    if (!this.delivering || !handler) return;
    const topic = subjectToTopic(m.subject);
    const payload = Buffer.from(m.data);
    this.held.add(key);
    let acked = false;
    const ack = (): void => {
      if (acked) return;
      acked = true;
      this.acknowledge(key);
    };
    const decoding = decodeDelivery(this.options.decode, topic, payload);
    if (decoding.duplicate) {
      this.counts.duplicates++;
      return ack();
    }
    const { decoded, decodeError } = decoding;
    if (decodeError) this.counts.decodeErrors++;
    this.counts.received++;
    const message: BusMessage<T> = { topic, payload, decoded, decodeError, redelivered: m.redelivered, ack };
    try {
      await handler(message);
    } catch (err) {
      // Stays unacknowledged: delivered again after a restart (or the ack wait); the next message may come.
      this.emit('transportError', toError(err));
    }
  }

  private acknowledge(key: string): void {
    const m = this.outstanding.get(key);
    if (!m) return;
    this.outstanding.delete(key);
    this.held.delete(key);
    const confirm = m.ackAck().then(
      (confirmed) => {
        if (confirmed) this.counts.acknowledged++;
      },
      (err: unknown) => void this.emit('transportError', toError(err)),
    );
    this.confirming.add(confirm);
    void confirm.finally(() => this.confirming.delete(confirm));
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        this.isConnected = false;
        this.emit('disconnected');
      } else if (status.type === 'reconnect') {
        this.isConnected = true;
        this.counts.connections++;
        this.emit('connected');
      } else if (status.type === 'error') {
        this.emit('transportError', toError(status.error));
      }
    }
  }

  private async close(): Promise<void> {
    clearInterval(this.keepAlive);
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    await nc.flush().catch(() => undefined);
    await nc.close();
    this.isConnected = false;
  }
}
