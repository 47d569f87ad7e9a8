/**
 * The durable subscriber: what every consumer of the bus (ingest, rules, the HJ 212 uplink) sees of it, whatever
 * carries the messages. MQTT (bus/mqtt/durable-subscriber.ts) is one transport; a second (NATS JetStream durable
 * consumers, with a per-message ack and subjects for topics) implements the same interface, and no consumer changes.
 *
 * The promises a consumer relies on:
 * - Durable: the subscription outlives the consumer. What it has not acknowledged when it stops or crashes is
 *   delivered again when it comes back (MQTT: persistent session; JetStream: durable consumer).
 * - Acknowledge when safe: each message carries its own `ack()`, called once the consumer has made it durable
 *   downstream (written, spooled, dead-lettered, covered by a checkpoint). Acks may come in any order; the transport
 *   acknowledges in the order it must (MQTT: PUBACKs in arrival order, §4.6). An ack that comes after the connection
 *   it arrived on was lost is ignored: that message is delivered again.
 * - Backpressure: the handler may return a promise; no further message is handed over until it settles.
 * - Refusals are errors: a subscription the server refuses fails start() with a TransportError `MQTT_SUBSCRIBE`
 *   (or the transport's equivalent), never a silent subscriber that receives nothing.
 * - Optional decode and dedup, done once here rather than in every consumer: `decode` turns a payload into the
 *   consumer's type (a failure is handed over as `decodeError`, for the consumer to dead-letter or count); `dedup`
 *   recognises a batch seen before (bus/dedup.ts), which is acknowledged, counted and not handed over.
 */
import type { EventEmitter } from 'node:events';
import type { RecentMessages } from './dedup.ts';

/** One delivery. `T` is what `decode` makes of the payload (unknown when the subscriber does not decode). */
export interface BusMessage<T = unknown> {
  /** MQTT topic, or the JetStream subject written as a topic (`.` → `/`). */
  readonly topic: string;
  readonly payload: Buffer;
  /** The decoded payload, when the subscriber decodes and decoding succeeded. */
  readonly decoded: T | undefined;
  /** Why decoding failed (usually a PayloadError), when it did. The message still needs its ack. */
  readonly decodeError: Error | undefined;
  /**
   * The transport says it delivered this message before (MQTT DUP flag, JetStream redelivery count). A hint only:
   * false does not mean first delivery (aedes resends a resumed session's messages without the DUP flag).
   */
  readonly redelivered: boolean;
  /** This message is durable downstream: it may be acknowledged. Idempotent; any order. */
  ack(): void;
}

/** Handed each message in arrival order. A returned promise holds the next message back until it settles. */
export type MessageHandler<T> = (message: BusMessage<T>) => void | Promise<void>;

/** The identity of a batch for dedup: the sender, its sequence number and its send time (bus/dedup.ts). */
export interface BatchIdentity {
  source: string;
  seq: number;
  sentAt: number;
}

export interface DecodeOptions<T> {
  /** Throws (PayloadError) for a payload that is not a T. */
  decode(topic: string, payload: Buffer): T;
  /**
   * Drop batches seen before: acknowledged, counted in `stats().duplicates`, not handed over. The consumer owns
   * `recent` (it keeps it in its checkpoints, so that dedup survives its restart). `identify` returns undefined for
   * a message that is not a batch (rules: an operator's acknowledgement on its second filter), which is never a duplicate.
   */
  dedup?: { recent: RecentMessages; identify(decoded: T): BatchIdentity | undefined };
}

export interface SubscriberStats {
  connected: boolean;
  /** Messages handed over (duplicates excluded). */
  received: number;
  /** Messages acknowledged to the transport. */
  acknowledged: number;
  /** Messages received on the current connection and not acknowledged yet. */
  unacked: number;
  /** Batches dropped as seen before. */
  duplicates: number;
  /** Messages handed over with a decodeError. */
  decodeErrors: number;
  /** Connections made since start (1 after a start without reconnects). */
  connections: number;
}

export interface SubscriberEvents {
  connected: [];
  disconnected: [];
  /**
   * Transport problems worth a log line: refused credentials, lost connection, client id clash, a handler that threw.
   * Not Node's 'error' event: a broker restarting must never crash a consumer that forgot a listener.
   */
  transportError: [error: Error];
}

/** What a consumer publishes itself (dead letters, alerts, status): confirmed by the server (QoS 1) when it resolves. */
export interface BusPublisher {
  publish(topic: string, payload: string | Buffer, options?: { retain?: boolean }): Promise<void>;
}

export interface DurableSubscriber<T = unknown> extends EventEmitter<SubscriberEvents>, BusPublisher {
  /** The transport and server, for logs: `mqtt://127.0.0.1:1883 as cleanstream-ingest`. */
  readonly name: string;
  /**
   * Connects, subscribes and starts handing messages to `handler` (messages of a resumed session may come before this
   * resolves). Rejects with a TransportError when the server is not reached in time or refuses the subscription.
   */
  start(handler: MessageHandler<T>): Promise<void>;
  /**
   * Stops handing messages over (later ones stay unacknowledged, for the next run), then awaits `drain` while acks
   * and publishes still work (the consumer writing what it holds), then disconnects. Idempotent.
   */
  stop(drain?: () => Promise<void>): Promise<void>;
  readonly connected: boolean;
  stats(): SubscriberStats;
}
