/**
 * The batches a station has counted lately, by `gateway|seq:sentAt`: a batch the broker delivers again (after a
 * reconnect, or after a crash for what the checkpoint already holds) is not counted twice. Saved with the station's
 * checkpoint, so that what the saved statistics hold and what they are known to hold always go together.
 *
 * Only batches the broker may still deliver again are kept: those not yet acknowledged, and those acknowledged by
 * the last releases (a PUBACK written just before a connection drops may never reach the broker). The uplink calls
 * `rotate()` after each release of acknowledgements; keys older than GENERATIONS releases are dropped, so a checkpoint
 * holds a few intervals' worth of keys, not the station's history.
 */
const GENERATIONS = 3;

export class RecentBatches {
  /** Newest first: keys added since the last release, then since the one before... */
  private generations: Set<string>[] = [new Set()];

  constructor(saved: readonly string[] = []) {
    // what a checkpoint held may be delivered again until the next releases
    if (saved.length) this.generations.push(new Set(saved));
  }

  /** True the first time `key` is seen; false for a repeat. */
  add(key: string): boolean {
    for (const g of this.generations) if (g.has(key)) return false;
    this.generations[0]!.add(key);
    return true;
  }

  /** Acknowledgements were released: what they covered can no longer come again, once a few more releases went by. */
  rotate(): void {
    this.generations.unshift(new Set());
    if (this.generations.length > GENERATIONS) this.generations.length = GENERATIONS;
  }

  get size(): number {
    return this.generations.reduce((n, g) => n + g.size, 0);
  }

  /** Oldest first. */
  snapshot(): string[] {
    return this.generations.toReversed().flatMap((g) => [...g]);
  }
}

/** A batch's identity: a gateway that restarts its seq at 0 sends different sentAt values, so it is not a repeat. */
export function batchKey(gateway: string, seq: number, sentAt: number): string {
  return `${gateway}|${seq}:${sentAt}`;
}
