/**
 * The rules engine's acknowledgements wait for a checkpoint: every message's ack (bus/subscriber.ts) is held, in
 * arrival order, until a checkpoint whose state covers it is durable; then they are called in order, a few thousand
 * per event-loop turn (tens of thousands of PUBACKs written at once would hold the event loop, and the alerts behind
 * it, for tens of ms). Acks held from a connection that was lost are dropped: the transport ignores them anyway and
 * delivers their messages again.
 */
import type { AckMark } from '../bus/mqtt-acks.ts';
import type { Ack } from '../bus/sink.ts';
import type { CheckpointAckSource } from './checkpoint-cycle.ts';

const ACKS_PER_TURN = 2_000;

export class HeldAcks implements CheckpointAckSource {
  private held: Ack[] = [];
  /** Acks called and dropped from `held` on this connection: marks count from the connection's first message. */
  private dropped = 0;
  private acked = 0;
  /** Call up to here (covered by a durable checkpoint), counted from the connection's first message. */
  private target = 0;
  private connection = 0;
  private pumping: Promise<void> | undefined;

  hold(ack: Ack): void {
    this.held.push(ack);
  }

  get outstanding(): number {
    return this.held.length - this.acked;
  }

  mark(): AckMark {
    return { connection: this.connection, count: this.dropped + this.held.length };
  }

  release(mark: AckMark): Promise<void> {
    if (mark.connection === this.connection) this.target = Math.max(this.target, mark.count);
    if (this.pumping) return this.pumping;
    if (!this.pumpTurn()) return Promise.resolve();
    return (this.pumping = new Promise<void>((resolve) => {
      const next = (): void => {
        if (this.pumpTurn()) setImmediate(next);
        else {
          this.pumping = undefined;
          resolve();
        }
      };
      setImmediate(next);
    }));
  }

  /** The connection was lost: what it delivered comes again, its acks are worth nothing. */
  connectionLost(): void {
    this.connection++;
    this.held = [];
    this.dropped = 0;
    this.acked = 0;
    this.target = 0;
  }

  /** Call one turn's acks; true when more are due. */
  private pumpTurn(): boolean {
    const due = this.target - this.dropped;
    const stop = Math.min(due, this.acked + ACKS_PER_TURN);
    while (this.acked < stop) this.held[this.acked++]!();
    if (this.acked < due) return true;
    if ((this.acked > 4096 && this.acked === this.held.length) || this.acked > 65_536) {
      this.held = this.acked === this.held.length ? [] : this.held.slice(this.acked);
      this.dropped += this.acked;
      this.acked = 0;
    }
    return false;
  }
}
