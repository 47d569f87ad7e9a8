/**
 * Acks held until a checkpoint covers them: the acknowledgement policy of a consumer whose state is made durable by
 * checkpoints (the HJ 212 uplink; the rules engine) rather than message by message (ingest). Each message's ack
 * (bus/subscriber.ts) is held when the message is handled; `mark()` when a checkpoint's state is taken says how many
 * it covers, and `release(mark)` once that checkpoint is durable calls their acks, oldest first.
 *
 * An ack of a connection since lost is still called: the subscriber ignores it, and the transport delivers that
 * message again (bus/subscriber.ts). Tens of thousands of PUBACKs written at once would hold the event loop for tens
 * of ms, so a release calls at most ACKS_PER_TURN per turn.
 */
import type { Ack } from './sink.ts';

const ACKS_PER_TURN = 2_000;

export class HeldAcks {
  private acks: Ack[] = [];
  /** Acks called and dropped from `acks`: marks count from the first ack ever held. */
  private dropped = 0;
  private called = 0;
  /** Call up to here (covered by a durable checkpoint), counted like `dropped`. */
  private target = 0;
  private pumping: Promise<void> | undefined;

  /** Acks held and not called yet. */
  get held(): number {
    return this.acks.length - this.called;
  }

  hold(ack: Ack): void {
    this.acks.push(ack);
  }

  /** What a checkpoint whose state is taken now covers. */
  mark(): number {
    return this.dropped + this.acks.length;
  }

  /** The checkpoint taken at `mark` is durable: call the acks it covers, in order. Settles once they are all called. */
  release(mark: number): Promise<void> {
    this.target = Math.max(this.target, mark);
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

  /** Call one turn's acks; true when more are due. */
  private pumpTurn(): boolean {
    const stop = Math.min(this.target - this.dropped, this.called + ACKS_PER_TURN);
    while (this.called < stop) this.acks[this.called++]!();
    if (this.called < this.target - this.dropped) return true;
    if ((this.called > 4096 && this.called === this.acks.length) || this.called > 65_536) {
      this.acks = this.called === this.acks.length ? [] : this.acks.slice(this.called);
      this.dropped += this.called;
      this.called = 0;
    }
    return false;
  }
}
