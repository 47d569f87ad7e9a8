/**
 * Acks held until a checkpoint covers them: the acknowledgement policy of a consumer whose state is made durable by
 * checkpoints (the HJ 212 uplink, the rules engine) rather than message by message (ingest). Each message's ack
 * (bus/subscriber.ts) is held, in arrival order, when the message is handled; `mark()` when a checkpoint's state is
 * taken says what it covers, and `release(mark)` once that checkpoint is durable calls their acks, oldest first.
 *
 * Tens of thousands of PUBACKs written at once would hold the event loop (and the alerts behind it) for tens of ms, so
 * a release calls at most ACKS_PER_TURN per turn. A consumer that calls `connectionLost()` drops the acks of the lost
 * connection (and ignores marks taken on it): the transport ignores them anyway and delivers their messages again. One
 * that does not (the uplink) calls them, and the subscriber ignores them.
 */
import type { AckMark } from './mqtt-acks.ts';
import type { Ack } from './sink.ts';

const ACKS_PER_TURN = 2_000;

export class HeldAcks {
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

  /** Acks held and not called yet. */
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
