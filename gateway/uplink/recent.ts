/**
 * The batches a station has counted lately, by `gateway|seq:sentAt`: a batch the broker delivers again (after a
 * reconnect, or after a crash for what the checkpoint already holds) is not counted twice. Saved with the station's
 * checkpoint, so that what the saved statistics hold and what they are known to hold always go together. Bounded:
 * the uplink acknowledges messages to the broker within `maxUnackedMessages` of them, so redelivery reaches back
 * no further than that.
 */
export class RecentBatches {
  private readonly keys = new Set<string>();
  private order: string[] = [];

  constructor(
    private readonly capacity: number,
    saved: readonly string[] = [],
  ) {
    for (const key of saved.slice(-capacity)) this.add(key);
  }

  /** True the first time `key` is seen; false for a repeat. */
  add(key: string): boolean {
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    this.order.push(key);
    if (this.order.length > 2 * this.capacity) {
      for (const old of this.order.slice(0, this.order.length - this.capacity)) this.keys.delete(old);
      this.order = this.order.slice(-this.capacity);
    }
    return true;
  }

  snapshot(): string[] {
    return this.order.slice(-this.capacity);
  }
}

/** A batch's identity: a gateway that restarts its seq at 0 sends different sentAt values, so it is not a repeat. */
export function batchKey(gateway: string, seq: number, sentAt: number): string {
  return `${gateway}|${seq}:${sentAt}`;
}
