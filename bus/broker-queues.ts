/**
 * A bound on what the embedded broker holds for one persistent session (clean session off: ingest, rules).
 *
 * aedes keeps every QoS 1 message for a persistent session in memory until the client acknowledges it; while ingest
 * is stopped that is the whole feed (measured: `cleanstream broker` grew by ~26 MB/s, to 374 MB RSS after 10 s of a
 * 150k readings/s feed). Past `maxBytes` queued for a session, the broker refuses further QoS 1 publishes to topics that
 * session subscribes to: the publisher's connection is closed (MQTT 3.1.1 has no negative PUBACK), so a gateway keeps
 * the batch in its disk store-and-forward queue and sends it again when the session has drained. Nothing is dropped.
 *
 * Until the session has drained to half the bound, the publishers cut this way are refused at CONNECT with "server
 * unavailable" (0x03) rather than let in and cut again: a gateway (gateway/publisher.ts) takes a connection closed
 * several times in a row with the same lone batch in flight as a refusal of that batch and sets it aside, while a
 * refused CONNECT only makes it retry later.
 */

/** The part of aedes' persistence (aedes-persistence 11, promise style as aedes 1.2 calls it) that is accounted. */
interface QueuePersistence {
  outgoingEnqueue(sub: { clientId: string }, packet: QueuedPacket): Promise<void>;
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: QueuedPacket): Promise<void>;
  outgoingClearMessageId(client: { id: string }, packet: unknown): Promise<QueuedPacket | undefined>;
  subscriptionsByTopic(topic: string): Promise<{ clientId: string }[]>;
}

interface QueuedPacket {
  topic?: string;
  payload?: Uint8Array | string;
}

/** Bytes a queued message costs: its payload and topic, and a stored packet object around them. */
function queuedBytes(packet: QueuedPacket | undefined): number {
  if (!packet) return 0;
  return 200 + (packet.topic?.length ?? 0) + (packet.payload?.length ?? 0);
}

export class SessionQueueBound {
  private readonly bytes = new Map<string, number>();
  private readonly full = new Set<string>();
  /** Publishers cut for a full session, let in again once no session is full. */
  private readonly held = new Set<string>();
  private persistence: QueuePersistence | undefined;

  constructor(readonly maxBytes: number) {}

  /** Wraps the persistence's queue methods to count each session's queued bytes. */
  attach(persistence: QueuePersistence): void {
    this.persistence = persistence;
    const enqueue = persistence.outgoingEnqueue.bind(persistence);
    const enqueueCombi = persistence.outgoingEnqueueCombi.bind(persistence);
    const clear = persistence.outgoingClearMessageId.bind(persistence);
    persistence.outgoingEnqueue = async (sub, packet) => {
      await enqueue(sub, packet);
      this.add(sub.clientId, queuedBytes(packet));
    };
    persistence.outgoingEnqueueCombi = async (subs, packet) => {
      await enqueueCombi(subs, packet);
      for (const sub of subs) this.add(sub.clientId, queuedBytes(packet));
    };
    persistence.outgoingClearMessageId = async (client, packet) => {
      const removed = await clear(client, packet);
      if (removed) this.add(client.id, -queuedBytes(removed));
      return removed;
    };
  }

  /** Bytes queued for a session. */
  queued(clientId: string): number {
    return this.bytes.get(clientId) ?? 0;
  }

  /** The sessions past the bound that would queue a message on this topic; empty when it may be accepted. */
  async fullSessionsFor(topic: string): Promise<string[]> {
    if (!this.full.size || !this.persistence) return [];
    const subs = await this.persistence.subscriptionsByTopic(topic);
    return [...new Set(subs.map((s) => s.clientId).filter((id) => this.full.has(id)))];
  }

  /** Remembers a publisher cut because a session it publishes to was full. */
  hold(publisherId: string): void {
    this.held.add(publisherId);
  }

  /** Whether this publisher must wait (a session it was cut for has not drained yet). */
  isHeld(publisherId: string): boolean {
    return this.held.has(publisherId);
  }

  private add(clientId: string, delta: number): void {
    const bytes = Math.max(0, (this.bytes.get(clientId) ?? 0) + delta);
    if (bytes === 0) this.bytes.delete(clientId);
    else this.bytes.set(clientId, bytes);
    if (bytes >= this.maxBytes) this.full.add(clientId);
    else if (bytes <= this.maxBytes / 2 && this.full.delete(clientId) && !this.full.size) this.held.clear();
  }
}
