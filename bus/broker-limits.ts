/**
 * Limits the embedded broker applies before aedes sees a byte: the size of each MQTT packet (a small one until the
 * client is logged in, the largest batch after) and the rate of new connections per remote address.
 *
 * aedes' parser (mqtt-packet) has no size limit: it buffers a packet until its declared length has arrived, so a
 * CONNECT declaring 200 MB made an unauthenticated client cost up to that much memory. The guard reads only the
 * fixed headers (MQTT 3.1.1 §2.2: one type byte, a remaining length of 1 to 4 bytes) and skips the bodies, so the
 * connection is cut as soon as an oversize packet announces itself.
 */

/** Defaults, sized from the project's own traffic (deploy/README.md, "Broker limits"). */
export const BROKER_LIMITS = {
  /** Before CONNACK: a CONNECT carries a client id, credentials and a small will; 64 KiB is far more. */
  maxConnectBytes: 64 * 1024,
  /**
   * After login: a gateway batch is at most 1,000 readings by default (gateway `publish.maxReadingsPerBatch`), at
   * most ~190 bytes each in JSON with 64-character ids: ~195 KB. 1 MiB leaves room for 5,000 such readings.
   */
  maxPacketBytes: 1024 * 1024,
  /**
   * After login, for ingest and rules users (and every client of a broker without users): they publish a message they
   * refuse again as a dead letter, its payload JSON-escaped (up to 6 times longer for control characters) or base64.
   * A dead letter the broker cut would never be confirmed, and the refused message would come back for ever.
   */
  maxConsumerPacketBytes: 8 * 1024 * 1024,
  /** A client must send CONNECT within this time of opening the connection. */
  connectTimeoutMs: 5_000,
  /**
   * Bytes of QoS 1 messages held for one persistent session (ingest stopped) before publishes to its topics are
   * refused and stay in the gateways' store-and-forward queues (bus/broker-queues.ts). The broker's RSS levels off
   * at about its start plus 1.4 times this (measured: 447 MB with 256 MiB); 128 MiB is ~5 s of the 150k readings/s
   * bench feed and hours of the demo's.
   */
  maxSessionQueueBytes: 128 * 1024 * 1024,
  /** New connections per remote address: a burst, then a steady rate (a token bucket). */
  connectionBurst: 30,
  connectionsPerSecond: 2,
} as const;

export type BrokerLimits = { -readonly [K in keyof typeof BROKER_LIMITS]: number };

/** The MQTT maximum remaining length (§2.2.3): 268,435,455. */
const MAX_REMAINING_LENGTH = 268_435_455;

/**
 * Follows the packet boundaries of one connection's byte stream. `feed` returns the total size of the first packet
 * whose size exceeds `limit()` (judged as soon as its length is known), or undefined.
 */
export class PacketSizeGuard {
  private skip = 0;
  private inLength = false;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;

  constructor(private readonly limit: () => number) {}

  feed(chunk: Uint8Array): number | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      if (!this.inLength) {
        // the packet type byte
        this.inLength = true;
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        i++;
        continue;
      }
      const byte = chunk[i++]!;
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if (byte & 0x80) {
        // a fifth length byte is malformed (§2.2.3): no packet can be that long
        if (this.lengthBytes === 4) return MAX_REMAINING_LENGTH + 6;
        continue;
      }
      this.inLength = false;
      const size = 1 + this.lengthBytes + this.length;
      if (size > this.limit()) return size;
      this.skip = this.length;
    }
    return undefined;
  }
}

/** A token bucket per remote address: `burst` connections at once, then `perSecond`. */
export class ConnectionRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes a token for this address; false when it has none left. */
  allow(address: string): boolean {
    const t = this.now();
    const bucket = this.buckets.get(address) ?? { tokens: this.burst, at: t };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((t - bucket.at) / 1000) * this.perSecond);
    bucket.at = t;
    if (this.buckets.size > 10_000) this.forgetFull(t);
    this.buckets.set(address, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Addresses whose bucket has refilled are indistinguishable from new ones: drop them, so the map stays small. */
  private forgetFull(t: number): void {
    for (const [address, bucket] of this.buckets) {
      if (bucket.tokens + ((t - bucket.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(address);
    }
  }
}
