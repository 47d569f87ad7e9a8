/**
 * `repeated`: the limit is exceeded N times within a sliding event-time window ("COD over 90 three times in 24 h"):
 * a plant that keeps touching the limit briefly, none of them long enough for `sustained`. A time is an excursion,
 * i.e. an entry into violation (a run of samples over the limit counts once). The alert clears once fewer than
 * `clearBelowTimes` (default N) excursions remain in the window and the value is within the limit.
 */
import { z } from 'zod';
import { durationMs } from '../../core/config.ts';
import { formatThreshold, limitSpecSchema, ThresholdTracker } from './threshold.ts';
import { fmt, usable, whereOf, type AlertPort, type BindContext, type MessageFacts, type Operator, type QualityCode, type RuleKind } from './types.ts';

export const repeatedParams = z
  .strictObject({
    limit: limitSpecSchema,
    times: z.number().int().min(2),
    withinMs: durationMs,
    clearBelowTimes: z.number().int().positive().optional(),
  })
  .refine((p) => p.clearBelowTimes === undefined || p.clearBelowTimes <= p.times, { path: ['clearBelowTimes'], message: 'expected at most times' });
export type RepeatedParams = z.output<typeof repeatedParams>;

interface RepeatedState {
  starts: number[];
  violating: boolean;
}

class Repeated implements Operator {
  /** Event times at which excursions began, oldest first (at most `times` + a few are kept). */
  private starts: number[] = [];
  private violating = false;
  private readonly clearBelow: number;

  constructor(
    private readonly threshold: ThresholdTracker,
    private readonly p: RepeatedParams,
  ) {
    this.clearBelow = p.clearBelowTimes ?? p.times;
  }

  sample(ts: number, value: number, quality: QualityCode, alert: AlertPort): void {
    if (!usable(value, quality)) return;
    const t = this.threshold.at(ts);
    if (!t) return;
    const from = ts - this.p.withinMs;
    while (this.starts.length && this.starts[0]! <= from) this.starts.shift();
    const over = this.threshold.violates(value);
    if (over && !this.violating) this.starts.push(ts);
    this.violating = over;
    if (this.starts.length >= this.p.times) {
      if (over) alert.trigger(ts, this.starts.length, t);
      else alert.relax();
    } else if (alert.open && !over && this.starts.length < this.clearBelow) {
      alert.clear(ts, this.starts.length);
    }
  }

  snapshot(): RepeatedState {
    return { starts: this.starts.slice(), violating: this.violating };
  }

  restore(state: unknown): void {
    const s = state as RepeatedState;
    this.starts = s.starts.slice();
    this.violating = s.violating;
  }
}

export const repeatedKind: RuleKind<typeof repeatedParams> = {
  kind: 'repeated',
  params: repeatedParams,
  needsQuantity: true,
  create: (params: RepeatedParams, ctx: BindContext) => new Repeated(new ThresholdTracker(params.limit, undefined, ctx), params),
  describe(params: RepeatedParams, f: MessageFacts) {
    const h = fmt(params.withinMs / 3_600_000);
    const lim = formatThreshold(f.threshold, f.unit);
    const range = f.threshold?.min !== undefined && f.threshold.max !== undefined;
    const where = whereOf(f);
    return {
      en: `${f.what.en} at ${where.en} ${range ? 'left the range' : 'exceeded the limit'} ${lim} ${fmt(f.value)} times within ${h} h (alert at ${params.times})`,
      zh: `${where.zh} ${f.what.zh} ${h} 小时内 ${fmt(f.value)} 次${range ? '超出范围' : '超过限值'} ${lim}（${params.times} 次即报警）`,
    };
  },
  valueUnit: () => null,
};
