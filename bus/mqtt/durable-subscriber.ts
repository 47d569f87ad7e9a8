/**
 * The durable subscriber (bus/subscriber.ts) over MQTT 3.1.1 or 5 with MQTT.js: a persistent session with the
 * consumer's fixed client id (clean off; on MQTT 5 a session expiry, core/config.ts durableSessionOptions), QoS 1
 * subscriptions whose refusal fails start(), PUBACKs deferred until the consumer acknowledges and sent in arrival
 * order (bus/mqtt-acks.ts), optional decode and dedup, and a warning when another process shares the client id.
 *
 * Subscriptions are made once, at the first connection: the persistent session keeps them across reconnects.
 */
import { EventEmitter } from 'node:events';
import { connect, type MqttClient } from 'mqtt';
import { durableSessionOptions, mqttConnectOptions, type MqttConnection } from '../../core/config.ts';
import { toError, TransportError } from '../../core/errors.ts';
import { watchClientIdClash } from '../client-id-clash.ts';
import { decodeDelivery } from '../decode.ts';
import { OrderedAcks, takeOverAcks, type AckTicket } from '../mqtt-acks.ts';
import type { BusMessage, DecodeOptions, DurableSubscriber, MessageHandler, SubscriberEvents, SubscriberStats } from '../subscriber.ts';

export interface MqttSubscriberOptions<T> {
  mqtt: MqttConnection;
  /** Fixed: the broker finds the session, and what it queued, by it. */
  clientId: string;
  /** MQTT 5 only: how long the broker keeps the session after a disconnect. */
  sessionExpirySeconds: number;
  /** Topic filters, subscribed at QoS 1. */
  subscriptions: readonly string[];
  /** How long start() waits for the broker and the SUBACK (default 30 s). */
  connectTimeoutMs?: number;
  /** How long stop() waits for the broker to confirm the last publishes before it closes the socket (default 2 s). */
  endTimeoutMs?: number;
  decode?: DecodeOptions<T>;
}

type PublishPacket = Parameters<MqttClient['handleMessage']>[0];

/** SUBACK return codes from 0x80 up are failures (MQTT 3.1.1 §3.9.3: 0x80; MQTT 5 §3.9.3: reason codes ≥ 0x80). */
const SUBACK_FAILURE = 0x80;

export function createMqttSubscriber<T = unknown>(options: MqttSubscriberOptions<T>): DurableSubscriber<T> {
  return new MqttDurableSubscriber(options);
}

class MqttDurableSubscriber<T> extends EventEmitter<SubscriberEvents> implements DurableSubscriber<T> {
  readonly name: string;
  private readonly client: MqttClient;
  private readonly acks: OrderedAcks;
  private handler: MessageHandler<T> | undefined;
  private delivering = false;
  private stopped: Promise<void> | undefined;
  /** The client was ended (a failed start) or never started: nothing left to close. */
  private ended = false;
  private readonly counts = { received: 0, acknowledged: 0, duplicates: 0, decodeErrors: 0, connections: 0 };

  constructor(private readonly options: MqttSubscriberOptions<T>) {
    super();
    this.name = `${options.mqtt.url} as ${options.clientId}`;
    this.client = connect(options.mqtt.url, {
      ...mqttConnectOptions(options.mqtt),
      clientId: options.clientId,
      ...durableSessionOptions(options.mqtt, options.sessionExpirySeconds),
      manualConnect: true,
    });
    const sendPuback = takeOverAcks(this.client, (packet, proceed) => this.onPublish(packet, proceed));
    this.acks = new OrderedAcks((messageId) => {
      this.counts.acknowledged++;
      sendPuback(messageId);
    });
    this.client.on('connect', () => {
      this.counts.connections++;
      this.emit('connected');
    });
    let wasConnected = false;
    this.client.on('connect', () => (wasConnected = true));
    this.client.on('close', () => {
      // Packet ids of a lost connection mean other messages on the next one: its acks are forgotten, the broker redelivers.
      this.acks.reset();
      if (wasConnected) this.emit('disconnected');
      wasConnected = false;
    });
    this.client.on('error', (err) => this.emit('transportError', err));
    watchClientIdClash(this.client, options.clientId, (message, context) => this.emit('transportError', new TransportError('MQTT_CLIENT_ID_CLASH', message, true, context)));
  }

  get connected(): boolean {
    return this.client.connected;
  }

  async start(handler: MessageHandler<T>): Promise<void> {
    if (this.handler) throw new Error('the subscriber is already started');
    this.handler = handler;
    this.delivering = true;
    const subscribed = this.connectAndSubscribe();
    this.client.connect();
    try {
      await subscribed;
    } catch (err) {
      this.delivering = false;
      this.ended = true;
      await new Promise<void>((resolve) => this.client.end(true, {}, () => resolve()));
      throw err;
    }
  }

  stop(drain?: () => Promise<void>): Promise<void> {
    this.stopped ??= (async () => {
      // Messages arriving from now on are left unacknowledged, for the broker to deliver again to the next run.
      this.delivering = false;
      try {
        await drain?.();
      } finally {
        await this.end();
      }
    })();
    return this.stopped;
  }

  publish(topic: string, payload: string | Buffer, options: { retain?: boolean } = {}): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.client.publish(topic, payload, { qos: 1, retain: options.retain ?? false }, (err) => (err ? reject(err) : resolve()));
    });
  }

  stats(): SubscriberStats {
    return { connected: this.client.connected, unacked: this.acks.outstanding, ...this.counts };
  }

  private onPublish(packet: PublishPacket, proceed: () => void): void {
    const handler = this.handler;
    if (!this.delivering || !handler) return proceed();
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const ack = this.ackFor(this.acks.track(packet.qos > 0 ? packet.messageId : undefined));
    const decoding = decodeDelivery(this.options.decode, packet.topic, payload);
    if (decoding.duplicate) {
      this.counts.duplicates++;
      ack();
      return proceed();
    }
    const { decoded, decodeError } = decoding;
    if (decodeError) this.counts.decodeErrors++;
    this.counts.received++;
    const message: BusMessage<T> = { topic: packet.topic, payload, decoded, decodeError, redelivered: packet.dup === true, ack };
    let held: void | Promise<void>;
    try {
      held = handler(message);
    } catch (err) {
      // The message stays unacknowledged (the broker delivers it again after a reconnect); the next one may come.
      this.emit('transportError', toError(err));
      return proceed();
    }
    if (!held) return proceed();
    held.then(proceed, (err: unknown) => {
      this.emit('transportError', toError(err));
      proceed();
    });
  }

  /**
   * Made outside onPublish: a closure created there would share its scope with the other closures there, which
   * hold MQTT.js's `proceed` and through it the whole PUBLISH packet. A consumer holding acks until a checkpoint (rules:
   * 10,000 messages) would keep every payload alive with them (bench/rules.ts at 20,000 readings/s: 395 MB RSS, 315 MB without).
   */
  private ackFor(ticket: AckTicket): () => void {
    return () => this.acks.complete(ticket);
  }

  private connectAndSubscribe(): Promise<void> {
    const { client } = this;
    const url = this.options.mqtt.url;
    const filters = [...this.options.subscriptions];
    const timeoutMs = this.options.connectTimeoutMs ?? 30_000;
    const named = filters.length === 1 ? filters[0]! : `${filters[0]} and ${filters.length - 1} more`;
    return new Promise((resolve, reject) => {
      const fail = (err: Error): void => {
        clearTimeout(timer);
        client.off('connect', onConnect);
        reject(err);
      };
      const timer = setTimeout(
        () => fail(new TransportError('MQTT_CONNECT', `no connection to the broker at ${url} within ${timeoutMs} ms`, true, { url, clientId: this.options.clientId })),
        timeoutMs,
      );
      const onConnect = (): void => {
        client.subscribe(filters, { qos: 1 }, (err, granted) => {
          // MQTT.js 5.16 reports a failure code in a SUBACK as an error that carries the SUBACK (one code per filter).
          const codes = (err as (Error & { packet?: { granted?: unknown[] } }) | null)?.packet?.granted ?? granted?.map((g) => g.qos) ?? [];
          const refused = filters.filter((_, i) => typeof codes[i] === 'number' && codes[i] >= SUBACK_FAILURE);
          if (refused.length) {
            const returnCodes = refused.map((f) => codes[filters.indexOf(f)] as number);
            return fail(new TransportError('MQTT_SUBSCRIBE', `the broker refused the subscription to ${refused.join(', ')} (SUBACK ${returnCodes.map((c) => `0x${c.toString(16)}`).join(', ')})`, false, { url, filters: refused, returnCodes }));
          }
          if (err) return fail(new TransportError('MQTT_SUBSCRIBE', `subscribing to ${named} failed: ${err.message}`, true, { url, filters }, { cause: err }));
          clearTimeout(timer);
          resolve();
        });
      };
      client.once('connect', onConnect);
    });
  }

  /** A graceful end waits for the broker to confirm our publishes; it does not wait for a broker that is gone. */
  private async end(): Promise<void> {
    // Never started: MQTT.js has no stream to close (its end() throws then).
    if (this.ended || !this.handler) return void (this.ended = true);
    this.ended = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ended = new Promise<void>((resolve) => this.client.end(false, {}, () => resolve()));
    const gaveUp = await Promise.race([ended.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), this.options.endTimeoutMs ?? 2000)))]);
    clearTimeout(timer);
    if (gaveUp) await new Promise<void>((resolve) => this.client.end(true, {}, () => resolve()));
  }
}
