/**
 * `stale` (deadman): no data from a meter for `afterMs` of processing time. Driven by the engine's clock tick, not by
 * the next message, so it fires on time (ThingsBoard's inactivity alarm fires late or on reconnect), and it notifies
 * again every `renotifyEveryMs` while the meter stays silent (ThingsBoard notifies once). Any arrival clears it,
 * late data included: a gateway replaying its buffer is alive. A reading without a value (quality bad, value null)
 * counts as data only with `countEmpty`, since a meter that reports nothing but errors is as good as silent.
 * Meters in the plant registry are watched from the engine's start, so one that never reports is caught too.
 */
import { z } from 'zod';
import { durationMs } from '../../core/config.ts';
import { fmt, whereOf, type AlertPort, type BindContext, type MessageFacts, type Operator, type RuleKind } from './types.ts';

export const staleParams = z.strictObject({
  afterMs: durationMs,
  /** Default: afterMs. */
  renotifyEveryMs: durationMs.optional(),
  countEmpty: z.boolean().default(false),
});
export type StaleParams = z.output<typeof staleParams>;

interface StaleState {
  lastSeen: number;
  lastNotified: number | null;
}

class Stale implements Operator {
  private lastSeen: number;
  private lastNotified = NaN;
  private readonly renotifyMs: number;

  constructor(
    private readonly p: StaleParams,
    now: number,
  ) {
    this.lastSeen = now;
    this.renotifyMs = p.renotifyEveryMs ?? p.afterMs;
  }

  sample(): void {}

  arrived(now: number, hasValue: boolean, alert: AlertPort): void {
    if (!hasValue && !this.p.countEmpty) return;
    if (now > this.lastSeen) this.lastSeen = now;
    if (alert.open) alert.clear(now, NaN);
  }

  tick(now: number, alert: AlertPort): void {
    const silentMs = now - this.lastSeen;
    if (silentMs < this.p.afterMs) return;
    if (!alert.open) {
      alert.trigger(now, silentMs / 60_000, { max: this.p.afterMs / 60_000 });
      this.lastNotified = now;
    } else if (now - this.lastNotified >= this.renotifyMs) {
      alert.renotify(now, silentMs / 60_000);
      this.lastNotified = now;
    }
  }

  snapshot(): StaleState {
    return { lastSeen: this.lastSeen, lastNotified: this.lastNotified === this.lastNotified ? this.lastNotified : null };
  }

  restore(state: unknown): void {
    const s = state as StaleState;
    this.lastSeen = s.lastSeen;
    this.lastNotified = s.lastNotified ?? NaN;
  }
}

export const staleKind: RuleKind<typeof staleParams> = {
  kind: 'stale',
  params: staleParams,
  needsQuantity: false,
  create: (params: StaleParams, ctx: BindContext) => new Stale(params, ctx.now()),
  describe(params: StaleParams, f: MessageFacts) {
    const after = fmt(params.afterMs / 60_000);
    const where = whereOf(f);
    return {
      en: `No data from ${where.en}${f.what.en ? ` (${f.what.en})` : ''} for ${fmt(f.value)} min (limit ${after} min)`,
      zh: `${where.zh}${f.what.zh ? `（${f.what.zh}）` : ''}已 ${fmt(f.value)} 分钟无数据（限 ${after} 分钟）`,
    };
  },
  valueUnit: () => 'min',
};

