/**
 * The one contract every consumer of the bus implements (the twin of gateway/driver.ts on the other side, eKuiper's
 * sink lifecycle): a sink is started, written to, flushed and stopped, and says how it is doing. Ingest (InfluxDB),
 * the rules engine and the HJ 212 uplink are sinks; a durable subscriber (bus/subscriber.ts) feeds them, and their
 * start-up functions only wire one to the other:
 *
 *   await sink.start();
 *   await subscriber.start((message) => sink.write(message, message.ack));
 *   …
 *   await subscriber.stop(() => sink.stop());
 *
 * What the subscriber relies on, and bus/sink-contract.ts checks for every sink:
 * - `write` takes the batch and its ack, and calls `ack` exactly once, only once the batch is durable downstream
 *   (written, spooled, dead-lettered and confirmed, covered by a checkpoint), never before; acks may come in any order.
 *   A batch the sink cannot make durable is never acknowledged (the transport delivers it again).
 * - `write` may return a promise: backpressure, the next batch waits until it settles.
 * - `flush` resolves once everything written so far is durable and acknowledged.
 * - `stop` makes durable what it can within its bound, releases its resources and is idempotent; no ack after it
 *   resolves.
 * - `stats` returns a fresh snapshot that includes SinkStats.
 */

/** Called once the batch it came with is durable downstream. */
export type Ack = () => void;

/** What every sink counts, whatever else it reports. */
export interface SinkStats {
  /** Batches handed to write(). */
  receivedMessages: number;
  /** Batches written and not yet acknowledged. */
  pendingMessages: number;
}

export interface Sink<In, Stats extends SinkStats = SinkStats> {
  /** For logs and metrics: `ingest → influxdb http://127.0.0.1:8086/cleanstream`. */
  readonly name: string;
  /** Opens what the sink writes to; resolves once it can take writes (a server still down is retried, not a failure). */
  start(): Promise<void>;
  write(batch: In, ack: Ack): void | Promise<void>;
  flush(): Promise<void>;
  stop(): Promise<void>;
  stats(): Stats;
}
