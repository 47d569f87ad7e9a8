/**
 * `limit`: the value is above an upper limit or outside a range (pH 6–9). The limit comes from the catalog (the
 * standard for the plant's industry and category, in force at the reading's time) or from the rule. Averaging is
 * instantaneous (every reading is judged) or a mean over tumbling event-time windows: flue gas under GB 13223-2011
 * is judged on hourly means, so one high minute must not raise an alert but a high hour must.
 */
import { z } from 'zod';
import { durationMs } from '../../core/config.ts';
import { TumblingMeanOperator } from './tumbling.ts';
import { clearSpecSchema, formatThreshold, limitSpecSchema, ThresholdTracker } from './threshold.ts';
import { crossingText, fmt, usable, whereOf, withUnit, type AlertPort, type BindContext, type MessageFacts, type Operator, type QualityCode, type RuleKind } from './types.ts';

export const limitParams = z.strictObject({
  limit: limitSpecSchema,
  averaging: z
    .union([
      z.literal('instantaneous'),
      z.strictObject({
        /** Tumbling window length, e.g. 3600000 for hourly means. */
        meanOverMs: durationMs,
        /** Windows with fewer usable samples are not judged (a CEMS hour needs enough valid minutes). */
        minSamples: z.number().int().positive().default(1),
      }),
    ])
    .default('instantaneous'),
  clear: clearSpecSchema.optional(),
});
export type LimitParams = z.output<typeof limitParams>;

class InstantLimit implements Operator {
  constructor(private readonly threshold: ThresholdTracker) {}

  sample(ts: number, value: number, quality: QualityCode, alert: AlertPort): void {
    if (!usable(value, quality)) return;
    const t = this.threshold.at(ts);
    if (!t) return;
    if (this.threshold.violates(value)) alert.trigger(ts, value, t);
    else if (this.threshold.clears(value)) alert.clear(ts, value);
    else alert.relax();
  }

  snapshot(): unknown {
    return null;
  }

  restore(): void {}
}

class MeanLimit extends TumblingMeanOperator {
  constructor(
    private readonly threshold: ThresholdTracker,
    sizeMs: number,
    private readonly minSamples: number,
  ) {
    super(sizeMs);
  }

  /** A window's verdict is dated at its end: that is when the mean became known. */
  protected judge(alert: AlertPort): void {
    const w = this.window;
    if (w.closedCount < this.minSamples) return;
    const end = w.closedStart + w.sizeMs;
    // The limit in force during the window (its last instant), not at the verdict.
    const t = this.threshold.at(end - 1);
    if (!t) return;
    const mean = w.closedMean;
    if (this.threshold.violates(mean)) alert.trigger(end, mean, t);
    else if (this.threshold.clears(mean)) alert.clear(end, mean);
    else alert.relax();
  }

}

export const limitKind: RuleKind<typeof limitParams> = {
  kind: 'limit',
  params: limitParams,
  needsQuantity: true,
  create(params: LimitParams, ctx: BindContext): Operator {
    const threshold = new ThresholdTracker(params.limit, params.clear, ctx);
    if (params.averaging === 'instantaneous') return new InstantLimit(threshold);
    return new MeanLimit(threshold, params.averaging.meanOverMs, params.averaging.minSamples);
  },
  // an instantaneous limit judges each sample on its own: only where the limit comes from tells operators apart
  sharing: (params: LimitParams) => (params.averaging !== 'instantaneous' ? undefined : typeof params.limit === 'string' || 'catalog' in params.limit ? 'plant' : 'rule'),
  describe(params: LimitParams, f: MessageFacts) {
    const t = f.threshold;
    const range = t?.min !== undefined && t.max !== undefined;
    const mean = params.averaging === 'instantaneous' ? '' : ` (${fmt(params.averaging.meanOverMs / 60_000)} min mean)`;
    const meanZh = params.averaging === 'instantaneous' ? '' : `（${fmt(params.averaging.meanOverMs / 60_000)} 分钟均值）`;
    const unverified = t?.verified === false;
    const notes = {
      en: [range ? `range ${formatThreshold(t, f.unit)}` : '', t?.standard ? `${t.standard}${unverified ? ', UNVERIFIED' : ''}` : ''].filter(Boolean).join('; '),
      zh: [range ? `范围 ${formatThreshold(t, f.unit)}` : '', t?.standard ? `${t.standard}${unverified ? '，数值未核实' : ''}` : ''].filter(Boolean).join('；'),
    };
    const crossing = crossingText(f.value, t, f.unit);
    const where = whereOf(f);
    return {
      en: `${f.what.en}${mean} ${withUnit(f.value, f.unit)} at ${where.en} is ${crossing.en}${notes.en ? ` (${notes.en})` : ''}`,
      zh: `${where.zh} ${f.what.zh}${meanZh} ${withUnit(f.value, f.unit, 'zh')}，${crossing.zh}${notes.zh ? `（${notes.zh}）` : ''}`,
    };
  },
};
