/**
 * `flatline`: the value stays within ε for N samples or for a duration of event time. A stuck analyser (a COD probe
 * fouled or in hold) keeps reporting a plausible, compliant value with good quality: limits never see it.
 * The alert clears on the first sample that leaves the band.
 */
import { z } from 'zod';
import { durationMs } from '../../core/config.ts';
import { fmt, usable, whereOf, withUnit, type AlertPort, type MessageFacts, type Operator, type QualityCode, type RuleKind } from './types.ts';

export const flatlineParams = z
  .strictObject({
    /** Largest spread (max − min, canonical unit) still counted as unchanged. */
    epsilon: z.number().nonnegative(),
    samples: z.number().int().min(2).optional(),
    forMs: durationMs.optional(),
  })
  .refine((p) => p.samples !== undefined || p.forMs !== undefined, { message: 'expected samples, forMs or both' });
export type FlatlineParams = z.output<typeof flatlineParams>;

interface FlatlineState {
  start: number | null;
  count: number;
  min: number;
  max: number;
}

class Flatline implements Operator {
  private start = NaN;
  private count = 0;
  private min = 0;
  private max = 0;

  constructor(private readonly p: FlatlineParams) {}

  sample(ts: number, value: number, quality: QualityCode, alert: AlertPort): void {
    if (!usable(value, quality)) return;
    const min = value < this.min ? value : this.min;
    const max = value > this.max ? value : this.max;
    if (this.count > 0 && max - min <= this.p.epsilon) {
      this.count++;
      this.min = min;
      this.max = max;
      if ((this.p.samples !== undefined && this.count >= this.p.samples) || (this.p.forMs !== undefined && ts - this.start >= this.p.forMs)) {
        alert.trigger(ts, value, undefined);
      }
      return;
    }
    this.start = ts;
    this.count = 1;
    this.min = this.max = value;
    if (alert.open) alert.clear(ts, value);
  }

  snapshot(): FlatlineState {
    return { start: this.start === this.start ? this.start : null, count: this.count, min: this.min, max: this.max };
  }

  restore(state: unknown): void {
    const s = state as FlatlineState;
    this.start = s.start ?? NaN;
    this.count = s.count;
    this.min = s.min;
    this.max = s.max;
  }
}

export const flatlineKind: RuleKind<typeof flatlineParams> = {
  kind: 'flatline',
  params: flatlineParams,
  needsQuantity: true,
  create: (params: FlatlineParams) => new Flatline(params),
  describe(params: FlatlineParams, f: MessageFacts) {
    const span = [params.samples !== undefined ? `${params.samples} samples` : '', params.forMs !== undefined ? `${fmt(params.forMs / 60_000)} min` : ''].filter(Boolean).join(' or ');
    const spanZh = [params.samples !== undefined ? `${params.samples} 个样本` : '', params.forMs !== undefined ? `${fmt(params.forMs / 60_000)} 分钟` : ''].filter(Boolean).join('或');
    const where = whereOf(f);
    const within = withUnit(params.epsilon, f.unit);
    return {
      en: `${f.what.en} at ${where.en} flat at ${withUnit(f.value, f.unit)} (within ${within}) for ${span}: analyser stuck?`,
      zh: `${where.zh} ${f.what.zh}在 ${spanZh}内恒定于 ${withUnit(f.value, f.unit, 'zh')}（波动不超过 ${within}），仪表可能故障`,
    };
  },
};
