/**
 * `baseline`: a plant's mean over a window is above its clean-production baseline by more than a margin ("COD over
 * the hour 20% above the plant's pre-upgrade level": the upgrade has stopped working). The baseline is the plant's
 * own value (`level: plant`) or its industry's grade I/II/III from the baseline files (rules/baselines.ts), for the
 * quantity the selector names, in its canonical unit.
 *
 * This kind judges a quantity's own level; per-unit-product intensities (water m3/t, energy kgce/t, COD kg/t) against
 * the same baselines are the `intensity` kind (rules/kinds/intensity.ts), which judges several series of a plant.
 */
import { z } from 'zod';
import { durationMs } from '../../core/config.ts';
import { TumblingMeanOperator } from './tumbling.ts';
import { fmt, whereOf, withUnit, type AlertPort, type BindContext, type MessageFacts, type RuleKind } from './types.ts';

export const baselineParams = z
  .strictObject({
    level: z.enum(['plant', 'I', 'II', 'III']).default('plant'),
    meanOverMs: durationMs.default(3_600_000),
    minSamples: z.number().int().positive().default(1),
    /** Raised when the mean is more than this percentage above the baseline. */
    marginPct: z.number().nonnegative(),
    /** Cleared when the mean is at or below baseline × (1 + clearMarginPct/100); default 0 (back at the baseline). */
    clearMarginPct: z.number().nonnegative().default(0),
  })
  .refine((p) => p.clearMarginPct <= p.marginPct, { path: ['clearMarginPct'], message: 'expected at most marginPct' });
export type BaselineParams = z.output<typeof baselineParams>;

class BaselineDeviation extends TumblingMeanOperator {
  constructor(
    private readonly p: BaselineParams,
    private readonly baseline: number | undefined,
  ) {
    super(p.meanOverMs);
  }

  protected judge(alert: AlertPort): void {
    const b = this.baseline;
    const w = this.window;
    if (b === undefined || w.closedCount < this.p.minSamples) return;
    const end = w.closedStart + w.sizeMs;
    const raiseAbove = b * (1 + this.p.marginPct / 100);
    if (w.closedMean > raiseAbove) alert.trigger(end, w.closedMean, { max: raiseAbove });
    else if (w.closedMean <= b * (1 + this.p.clearMarginPct / 100)) alert.clear(end, w.closedMean);
    else alert.relax();
  }

}

export const baselineKind: RuleKind<typeof baselineParams> = {
  kind: 'baseline',
  params: baselineParams,
  needsQuantity: true,
  create: (params: BaselineParams, ctx: BindContext) => new BaselineDeviation(params, ctx.baseline?.(params.level)),
  describe(params: BaselineParams, f: MessageFacts) {
    const mins = fmt(params.meanOverMs / 60_000);
    const level = params.level === 'plant' ? "the plant's baseline" : `the level ${params.level} baseline`;
    const levelZh = params.level === 'plant' ? '本厂基准值' : `${params.level} 级基准值`;
    const above = f.threshold?.max !== undefined ? withUnit(f.threshold.max, f.unit) : '?';
    const where = whereOf(f);
    return {
      en: `${f.what.en} at ${where.en}: ${mins} min mean ${withUnit(f.value, f.unit)} is more than ${params.marginPct}% above ${level} (alert above ${above})`,
      zh: `${where.zh} ${f.what.zh} ${mins} 分钟均值 ${withUnit(f.value, f.unit, 'zh')}，超过${levelZh} ${params.marginPct}% 以上（报警线 ${above}）`,
    };
  },
};
