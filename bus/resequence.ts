/**
 * Batches back in each gateway's publish order (ReadingBatch.seq), before the engine judges them.
 *
 * Brokers do not keep order across a reconnect: after a crash, aedes hands a persistent session the messages queued
 * while it was away and the ones it had sent but not had acknowledged in no particular order relative to each
 * other, and a link that reorders sends does the same on a small scale. The engine judges in event-time order and
 * refuses what is older than a series' watermark, so without this the redelivered older readings would be late and
 * their alerts lost. A batch ahead of the next expected seq waits (bounded in count and processing time) for the
 * gap to fill; when it does not fill in time (a message really lost, e.g. QoS 0) the waiting batches go on in seq
 * order. A batch behind the expected seq is passed on as it is (the engine judges it or counts it late), and one
 * sent after everything seen from its gateway yet with a lower seq means the gateway restarted its counter.
 * What waits is kept in checkpoints, since its messages are acknowledged with the checkpoint.
 *
 * A batch that carries `plantSeq` is put in order within its gateway × plant stream by that counter instead: a rules
 * partition that owns only some of a gateway's plants sees gaps in `seq` where the other plants' batches were, and
 * would otherwise hold every batch for `waitMs` waiting for them.
 */
import type { ReadingBatch } from '../core/reading.ts';

export interface ResequencerOptions {
  /** How long (processing time) a gap may hold later batches back. */
  waitMs: number;
  /** Batches held per gateway at most; past it the gap is given up. */
  maxPending: number;
}

export interface GatewayOrderState {
  next: number;
  lastSentAt: number;
  pending: ReadingBatch[];
}

interface GatewayOrder {
  next: number;
  lastSentAt: number;
  pending: Map<number, ReadingBatch>;
  gapSince: number;
}

export class Resequencer {
  private readonly gateways = new Map<string, GatewayOrder>();
  /** Batches that waited for a gap that never filled. */
  gapsSkipped = 0;
  reordered = 0;

  constructor(
    private readonly deliver: (batch: ReadingBatch) => void,
    private readonly opts: ResequencerOptions,
  ) {}

  get pending(): number {
    let n = 0;
    for (const g of this.gateways.values()) n += g.pending.size;
    return n;
  }

  push(batch: ReadingBatch, now: number): void {
    const stream = streamOf(batch);
    const seq = orderOf(batch);
    let g = this.gateways.get(stream);
    if (!g) this.gateways.set(stream, (g = { next: seq, lastSentAt: -Infinity, pending: new Map(), gapSince: NaN }));
    if (seq === g.next) {
      g.lastSentAt = Math.max(g.lastSentAt, batch.sentAt);
      this.deliver(batch);
      g.next++;
      this.drain(g, now);
    } else if (seq > g.next) {
      g.lastSentAt = Math.max(g.lastSentAt, batch.sentAt);
      g.pending.set(seq, batch);
      this.reordered++;
      if (g.gapSince !== g.gapSince) g.gapSince = now;
      if (g.pending.size > this.opts.maxPending) this.skipGap(g, now);
    } else if (batch.sentAt > g.lastSentAt && g.pending.size === 0) {
      // newer than anything from this gateway, yet an old seq: it restarted its counter
      g.lastSentAt = batch.sentAt;
      this.deliver(batch);
      g.next = seq + 1;
    } else {
      this.deliver(batch);
    }
  }

  /** Give up on gaps older than waitMs. */
  tick(now: number): void {
    for (const g of this.gateways.values()) {
      if (g.pending.size && now - g.gapSince >= this.opts.waitMs) this.skipGap(g, now);
    }
  }

  snapshot(): Record<string, GatewayOrderState> {
    const out: Record<string, GatewayOrderState> = {};
    for (const [gw, g] of this.gateways) {
      out[gw] = { next: g.next, lastSentAt: Number.isFinite(g.lastSentAt) ? g.lastSentAt : 0, pending: [...g.pending.values()].sort((a, b) => orderOf(a) - orderOf(b)) };
    }
    return out;
  }

  restore(state: Record<string, GatewayOrderState> | undefined, now: number): void {
    this.gateways.clear();
    for (const [gw, s] of Object.entries(state ?? {})) {
      this.gateways.set(gw, { next: s.next, lastSentAt: s.lastSentAt, pending: new Map(s.pending.map((b) => [orderOf(b), b])), gapSince: s.pending.length ? now : NaN });
    }
  }

  private skipGap(g: GatewayOrder, now: number): void {
    let lowest = Infinity;
    for (const seq of g.pending.keys()) if (seq < lowest) lowest = seq;
    if (lowest === Infinity) return;
    this.gapsSkipped++;
    g.next = lowest;
    this.drain(g, now);
  }

  private drain(g: GatewayOrder, now: number): void {
    for (let b = g.pending.get(g.next); b; b = g.pending.get(g.next)) {
      g.pending.delete(g.next);
      this.deliver(b);
      g.next++;
    }
    g.gapSince = g.pending.size ? now : NaN;
  }
}

/** The stream a batch is ordered in: its gateway × plant when it carries plantSeq, else its gateway. */
function streamOf(b: ReadingBatch): string {
  return b.plantSeq === undefined ? b.gateway : `${b.gateway}|${b.plant}`;
}

/** Its place in that stream. */
function orderOf(b: ReadingBatch): number {
  return b.plantSeq ?? b.seq;
}
