/**
 * `quality`: the share of bad (or bad and uncertain) readings over a sliding event-time window is above X. A meter
 * that mostly reports errors is not stale (data arrives) and never crosses a limit (no values), yet the plant is
 * blind at that point: this is the rule that says so. The window keeps a count of readings and of bad ones per
 * `resolutionMs` bucket, not every reading, so its far edge is judged to the bucket (rules/windows.ts SlidingSum).
 */
import { z } from 'zod';
import { durationMs } from '../../core/config.ts';
import { defaultResolutionMs, type BucketedState, type SharedWindows, type SlidingSum } from '../windows.ts';
import { fmt, whereOf, type AlertPort, type MessageFacts, type Operator, type QualityCode, type RuleKind } from './types.ts';

export const qualityParams = z
  .strictObject({
    windowMs: durationMs,
    /**
     * Bucket width of the window (rules/windows.ts): the window's far edge is judged to it. Default windowMs / 30;
     * exact for feeds whose samples are at least this far apart.
     */
    resolutionMs: durationMs.optional(),
    /** Share (0–1) of readings that may be bad within the window. */
    maxShare: z.number().min(0).lt(1),
    count: z.enum(['bad', 'not-good']).default('not-good'),
    /** Windows with fewer readings are not judged. */
    minSamples: z.number().int().positive().default(5),
    /** Clears only once the share is at or below this (hysteresis); default maxShare. */
    clearBelowShare: z.number().min(0).lt(1).optional(),
  })
  .refine((p) => p.clearBelowShare === undefined || p.clearBelowShare <= p.maxShare, { path: ['clearBelowShare'], message: 'expected a share at or below maxShare' })
  .refine((p) => p.resolutionMs === undefined || p.resolutionMs <= p.windowMs, { path: ['resolutionMs'], message: 'expected at most windowMs' });
export type QualityParams = z.output<typeof qualityParams>;

class QualityShare implements Operator {
  private readonly window: SlidingSum;
  private readonly clearAt: number;

  constructor(
    private readonly p: QualityParams,
    windows: SharedWindows,
  ) {
    // fed by the engine with every sample's flag before sample() is called
    this.window = windows.flagged(p.count, p.windowMs, p.resolutionMs ?? defaultResolutionMs(p.windowMs));
    this.clearAt = p.clearBelowShare ?? p.maxShare;
  }

  sample(ts: number, _value: number, _quality: QualityCode, alert: AlertPort): void {
    if (this.window.count < this.p.minSamples) return;
    const share = this.window.sum / this.window.count;
    if (share > this.p.maxShare) alert.trigger(ts, share * 100, { max: this.p.maxShare * 100 });
    else if (share <= this.clearAt) alert.clear(ts, share * 100);
    else alert.relax();
  }

  /** The window is the series' (SharedWindows.snapshot), not the rule's. */
  snapshot(): null {
    return null;
  }

  /** A checkpoint from before windows were shared holds the window with each rule. */
  restore(state: unknown): void {
    if (state) this.window.restore(state as BucketedState);
  }
}

export const qualityKind: RuleKind<typeof qualityParams> = {
  kind: 'quality',
  params: qualityParams,
  needsQuantity: true,
  create: (params: QualityParams, _ctx, windows) => new QualityShare(params, windows),
  describe(params: QualityParams, f: MessageFacts) {
    const what = params.count === 'bad' ? 'bad' : 'bad or uncertain';
    const whatZh = params.count === 'bad' ? '坏值' : '坏值或可疑值';
    const min = fmt(params.windowMs / 60_000);
    const where = whereOf(f);
    return {
      en: `${fmt(f.value)}% of ${f.what.en} readings at ${where.en} ${what} over ${min} min (more than ${fmt(params.maxShare * 100)}%)`,
      zh: `${where.zh} ${f.what.zh}在 ${min} 分钟内 ${fmt(f.value)}% 为${whatZh}（超过 ${fmt(params.maxShare * 100)}%）`,
    };
  },
  valueUnit: () => '%',
};
