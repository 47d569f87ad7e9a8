/**
 * Messages already judged, by gateway: a batch seen again (the broker redelivering what was not acknowledged after a
 * reconnect, or a gateway link that duplicates sends) is not judged twice. A batch is known by its gateway, seq and
 * sentAt, so a gateway that restarts its seq at 0 is not mistaken for a duplicate (its sentAt differs).
 * Kept in checkpoints, bounded per gateway.
 */
export class RecentMessages {
  private readonly byGateway = new Map<string, { keys: Set<string>; order: string[] }>();

  constructor(private readonly perGateway = 1024) {}

  /** True the first time a batch is seen; false for a repeat. */
  firstSight(gateway: string, seq: number, sentAt: number): boolean {
    let g = this.byGateway.get(gateway);
    if (!g) this.byGateway.set(gateway, (g = { keys: new Set(), order: [] }));
    const key = `${seq}:${sentAt}`;
    if (g.keys.has(key)) return false;
    g.keys.add(key);
    g.order.push(key);
    if (g.order.length > this.perGateway) g.keys.delete(g.order.shift()!);
    return true;
  }

  snapshot(): Record<string, string[]> {
    return Object.fromEntries([...this.byGateway].map(([gw, g]) => [gw, g.order.slice()]));
  }

  restore(state: Record<string, string[]> | undefined): void {
    this.byGateway.clear();
    for (const [gw, keys] of Object.entries(state ?? {})) {
      const order = keys.slice(-this.perGateway);
      this.byGateway.set(gw, { keys: new Set(order), order });
    }
  }
}
