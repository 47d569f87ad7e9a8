/**
 * `sustained`: the limit is exceeded continuously for a duration of event time ("COD > 90 for 30 min"), like
 * ThingsBoard's duration condition. Any usable sample back within the limit restarts the count; the alert clears
 * on the clear condition (hysteresis) like `limit`.
 */
import { z } from 'zod';
import { durationMs } from '../../core/config.ts';
import { clearSpecSchema, limitSpecSchema, ThresholdTracker } from './threshold.ts';
import { crossingText, fmt, usable, whereOf, withUnit, type AlertPort, type BindContext, type MessageFacts, type Operator, type QualityCode, type RuleKind } from './types.ts';

export const sustainedParams = z.strictObject({
  limit: limitSpecSchema,
  /** How long the limit must be exceeded without a break. */
  forMs: durationMs,
  clear: clearSpecSchema.optional(),
});
export type SustainedParams = z.output<typeof sustainedParams>;

interface SustainedState {
  since: number | null;
}

class Sustained implements Operator {
  /** Event time of the first sample of the current run over the limit, NaN when not over. */
  private since = NaN;

  constructor(
    private readonly threshold: ThresholdTracker,
    private readonly forMs: number,
  ) {}

  sample(ts: number, value: number, quality: QualityCode, alert: AlertPort): void {
    if (!usable(value, quality)) return;
    const t = this.threshold.at(ts);
    if (!t) return;
    if (this.threshold.violates(value)) {
      if (this.since !== this.since) this.since = ts;
      if (ts - this.since >= this.forMs) alert.trigger(ts, value, t);
      return;
    }
    this.since = NaN;
    if (this.threshold.clears(value)) alert.clear(ts, value);
    else alert.relax();
  }

  /** Null when not over the limit (the state a new operator starts in): most series are, and a checkpoint leaves them out. */
  snapshot(): SustainedState | null {
    return this.since === this.since ? { since: this.since } : null;
  }

  restore(state: unknown): void {
    this.since = (state as SustainedState).since ?? NaN;
  }
}

export const sustainedKind: RuleKind<typeof sustainedParams> = {
  kind: 'sustained',
  params: sustainedParams,
  needsQuantity: true,
  create: (params: SustainedParams, ctx: BindContext) => new Sustained(new ThresholdTracker(params.limit, params.clear, ctx), params.forMs),
  describe(params: SustainedParams, f: MessageFacts) {
    const min = fmt(params.forMs / 60_000);
    const crossing = crossingText(f.value, f.threshold, f.unit);
    const where = whereOf(f);
    return {
      en: `${f.what.en} at ${where.en} ${crossing.en} for ${min} min or more (now ${withUnit(f.value, f.unit)})`,
      zh: `${where.zh} ${f.what.zh}持续 ${min} 分钟以上${crossing.zh}（当前 ${withUnit(f.value, f.unit, 'zh')}）`,
    };
  },
};
