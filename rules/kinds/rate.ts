/**
 * `rate`: the value changes faster than X per minute, measured across a sliding event-time window (the newest sample
 * against the oldest one still in the window) so that one noisy sample pair does not decide. Catches a dosing pump
 * failure or a sudden load before the limit itself is crossed. The window keeps one bucket per `resolutionMs`, not
 * every sample, so its oldest sample is judged to the bucket (rules/windows.ts SlidingOldest).
 */
import { z } from 'zod';
import { durationMs } from '../../core/config.ts';
import { defaultResolutionMs, type BucketedState, type SharedWindows, type SlidingOldest } from '../windows.ts';
import { printedUnit, usable, whereOf, withUnit, type AlertPort, type MessageFacts, type Operator, type QualityCode, type RuleKind } from './types.ts';

export const rateParams = z
  .strictObject({
    /** Change per minute (canonical unit) above which the alert is raised. */
    maxPerMinute: z.number().positive(),
    direction: z.enum(['rise', 'fall', 'both']).default('both'),
    windowMs: durationMs.default(60_000),
    /**
     * Bucket width of the window (rules/windows.ts): the window's far edge is judged to it. Default windowMs / 30;
     * exact for feeds whose samples are at least this far apart.
     */
    resolutionMs: durationMs.optional(),
    /** Clears only once the rate is at or below this (hysteresis); default maxPerMinute. */
    clearBelowPerMinute: z.number().nonnegative().optional(),
  })
  .refine((p) => p.clearBelowPerMinute === undefined || p.clearBelowPerMinute <= p.maxPerMinute, {
    path: ['clearBelowPerMinute'],
    message: 'expected a rate at or below maxPerMinute',
  })
  .refine((p) => p.resolutionMs === undefined || p.resolutionMs <= p.windowMs, { path: ['resolutionMs'], message: 'expected at most windowMs' });
export type RateParams = z.output<typeof rateParams>;

class Rate implements Operator {
  private readonly window: SlidingOldest;
  private readonly clearAt: number;

  constructor(
    private readonly p: RateParams,
    windows: SharedWindows,
  ) {
    // fed by the engine with every usable sample before sample() is called
    this.window = windows.oldest(p.windowMs, p.resolutionMs ?? defaultResolutionMs(p.windowMs));
    this.clearAt = p.clearBelowPerMinute ?? p.maxPerMinute;
  }

  sample(ts: number, value: number, quality: QualityCode, alert: AlertPort): void {
    if (!usable(value, quality)) return;
    const dt = ts - this.window.oldestTs();
    if (dt <= 0) return;
    const perMinute = ((value - this.window.oldestValue()) * 60_000) / dt;
    const signed = this.p.direction === 'rise' ? perMinute : this.p.direction === 'fall' ? -perMinute : Math.abs(perMinute);
    if (signed > this.p.maxPerMinute) alert.trigger(ts, perMinute, { max: this.p.maxPerMinute });
    else if (signed <= this.clearAt) alert.clear(ts, perMinute);
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

export const rateKind: RuleKind<typeof rateParams> = {
  kind: 'rate',
  params: rateParams,
  needsQuantity: true,
  create: (params: RateParams, _ctx, windows) => new Rate(params, windows),
  describe(params: RateParams, f: MessageFacts) {
    const where = whereOf(f);
    const perMin = (v: number): string => `${withUnit(v, f.unit)}/min`;
    const perMinZh = (v: number): string => `${withUnit(v, f.unit, 'zh')}/分钟`;
    return {
      en: `${f.what.en} at ${where.en} changing at ${perMin(f.value)}, faster than ${perMin(params.maxPerMinute)}`,
      zh: `${where.zh} ${f.what.zh}变化速率 ${perMinZh(f.value)}，超过 ${perMinZh(params.maxPerMinute)}`,
    };
  },
  valueUnit: (_params: RateParams, unit: string) => `${printedUnit(unit) || unit}/min`,
};
