/**
 * Messages already judged, by gateway: a batch seen again (the broker redelivering what was not acknowledged after a
 * reconnect, or a gateway link that duplicates sends) is not judged twice. A batch is known by its gateway, seq and
 * sentAt, so a gateway that restarts its seq at 0 is not mistaken for a duplicate (its sentAt differs).
 * Kept in checkpoints, bounded per gateway. With 1,000 gateways that is a million keys: a checkpoint takes them in
 * slices while messages keep coming (beginSnapshot), as the engine does its series.
 */
interface GatewayKeys {
  keys: Set<string>;
  order: string[];
  /** The snapshot capture this gateway's keys were last taken for. */
  capturedFor: number;
}

export interface RecentCapture {
  /** Up to `max` more gateways, as JSON object members (`"gw-1":["12:1700000000000",…]`); done when none are left. */
  take(max: number): { pieces: string[]; done: boolean };
  /** Stop capturing (the checkpoint could not be written). */
  abandon(): void;
}

interface Capture {
  id: number;
  /** The gateways at the start, and their names. */
  pending: GatewayKeys[];
  names: string[];
  cursor: number;
  /** Gateways copied just before they changed, not yet taken. */
  copied: [name: string, keys: string[]][];
}

export class RecentMessages {
  private readonly byGateway = new Map<string, GatewayKeys>();
  private capture: Capture | undefined;
  private captures = 0;

  constructor(private readonly perGateway = 1024) {}

  /** True the first time a batch is seen; false for a repeat. */
  firstSight(gateway: string, seq: number, sentAt: number): boolean {
    let g = this.byGateway.get(gateway);
    if (!g) this.byGateway.set(gateway, (g = { keys: new Set(), order: [], capturedFor: this.capture?.id ?? 0 }));
    const key = `${seq}:${sentAt}`;
    if (g.keys.has(key)) return false;
    if (this.capture && g.capturedFor !== this.capture.id) this.captureBeforeChange(gateway, g);
    g.keys.add(key);
    g.order.push(key);
    if (g.order.length > this.perGateway) g.keys.delete(g.order.shift()!);
    return true;
  }

  snapshot(): Record<string, string[]> {
    return Object.fromEntries([...this.byGateway].map(([gw, g]) => [gw, g.order.slice()]));
  }

  /** Start a snapshot of the keys as they are now, taken in slices (see RulesEngine.beginSnapshot). */
  beginSnapshot(): RecentCapture {
    if (this.capture) this.advance(this.capture, Infinity); // its writer still takes what it captured
    const capture: Capture = { id: ++this.captures, pending: [...this.byGateway.values()], names: [...this.byGateway.keys()], cursor: 0, copied: [] };
    this.capture = capture;
    return {
      take: (max) => this.take(capture, max),
      abandon: () => {
        if (this.capture === capture) this.capture = undefined;
      },
    };
  }

  restore(state: Record<string, string[]> | undefined): void {
    this.byGateway.clear();
    for (const [gw, keys] of Object.entries(state ?? {})) {
      const order = keys.slice(-this.perGateway);
      this.byGateway.set(gw, { keys: new Set(order), order, capturedFor: 0 });
    }
  }

  /** JSON is made here, in the writer's slices: a gateway copied on the hot path costs an array copy, not a stringify. */
  private take(capture: Capture, max: number): { pieces: string[]; done: boolean } {
    const pieces: string[] = [];
    const member = (name: string, keys: string[]): string => `${JSON.stringify(name)}:${JSON.stringify(keys)}`;
    while (pieces.length < max && capture.copied.length) {
      const [name, keys] = capture.copied.pop()!;
      pieces.push(member(name, keys));
    }
    while (pieces.length < max && capture.cursor < capture.pending.length) {
      const g = capture.pending[capture.cursor]!;
      const name = capture.names[capture.cursor++]!;
      if (g.capturedFor === capture.id) continue;
      g.capturedFor = capture.id;
      pieces.push(member(name, g.order));
    }
    if (capture.cursor >= capture.pending.length && this.capture === capture) this.capture = undefined;
    return { pieces, done: capture.cursor >= capture.pending.length && !capture.copied.length };
  }

  /** Copy what a capture still lacks now (a new capture begins while it is being written). */
  private advance(capture: Capture, max: number): void {
    const stop = Math.min(capture.pending.length, capture.cursor + max);
    for (; capture.cursor < stop; capture.cursor++) {
      const g = capture.pending[capture.cursor]!;
      if (g.capturedFor !== capture.id) this.copyInto(capture, capture.names[capture.cursor]!, g);
    }
    if (this.capture === capture) this.capture = undefined;
  }

  private captureBeforeChange(gateway: string, g: GatewayKeys): void {
    this.copyInto(this.capture!, gateway, g);
  }

  private copyInto(c: Capture, gateway: string, g: GatewayKeys): void {
    g.capturedFor = c.id;
    c.copied.push([gateway, g.order.slice()]);
  }
}
