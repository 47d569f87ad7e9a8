/**
 * Thresholds shared by the limit and sustained kinds: where the limit comes from (the catalog or the rule) and the
 * separate clear condition that keeps a signal hovering at the limit from flapping (raise above 90, clear below 85).
 */
import { z } from 'zod';
import { printedUnit, type BindContext, type Threshold } from './types.ts';

export const limitSpecSchema = z.union([
  z.literal('catalog'),
  z.strictObject({ catalog: z.strictObject({ standard: z.string().min(1).optional() }) }),
  z
    .strictObject({ min: z.number().optional(), max: z.number().optional() })
    .refine((l) => l.min !== undefined || l.max !== undefined, { message: 'expected max, min or both' })
    .refine((l) => l.min === undefined || l.max === undefined || l.min < l.max, { message: 'expected min below max' }),
], { error: 'expected "catalog", { catalog: { standard: <name> } }, or { max: <number> } / { min: <number>, max: <number> } with min below max' });
export type LimitSpec = z.output<typeof limitSpecSchema>;

/**
 * The clear condition. `below`/`above` are absolute levels for an upper/lower limit; `deadband` is an absolute
 * distance inside the limit and `deadbandPct` a percentage of it (both work with catalog limits). Without it an
 * alert clears as soon as the value is back within the limit.
 */
export const clearSpecSchema = z
  .strictObject({
    below: z.number().optional(),
    above: z.number().optional(),
    deadband: z.number().nonnegative().optional(),
    deadbandPct: z.number().nonnegative().max(100).optional(),
  })
  .refine((c) => [c.below !== undefined || c.above !== undefined, c.deadband !== undefined, c.deadbandPct !== undefined].filter(Boolean).length === 1, {
    message: 'expected one of below/above, deadband or deadbandPct',
  });
export type ClearSpec = z.output<typeof clearSpecSchema>;

/** Checks across the limit and its clear condition that zod cannot see one field at a time. */
export function thresholdIssues(limit: LimitSpec, clear: ClearSpec | undefined): { path: string[]; message: string }[] {
  const issues: { path: string[]; message: string }[] = [];
  if (typeof limit === 'string' || 'catalog' in limit) return issues;
  if (clear?.below !== undefined && (limit.max === undefined || clear.below > limit.max)) {
    issues.push({ path: ['clear', 'below'], message: limit.max === undefined ? 'expected only with an upper limit (max)' : `expected a level at or below max (${limit.max})` });
  }
  if (clear?.above !== undefined && (limit.min === undefined || clear.above < limit.min)) {
    issues.push({ path: ['clear', 'above'], message: limit.min === undefined ? 'expected only with a lower limit (min)' : `expected a level at or above min (${limit.min})` });
  }
  return issues;
}

/**
 * The threshold in force for one series, re-resolved from the catalog only when event time leaves the interval the
 * last answer holds for (effective dates), so the hot path does two comparisons, not a catalog lookup.
 */
export class ThresholdTracker {
  private current: Threshold | undefined;
  private validFrom = Infinity;
  private validUntil = -Infinity;
  private clearHigh = Infinity;
  private clearLow = -Infinity;

  constructor(
    private readonly spec: LimitSpec,
    private readonly clearSpec: ClearSpec | undefined,
    private readonly ctx: BindContext,
  ) {
    if (typeof spec !== 'string' && !('catalog' in spec)) {
      this.set({ ...(spec.min !== undefined ? { min: spec.min } : {}), ...(spec.max !== undefined ? { max: spec.max } : {}) }, -Infinity, Infinity);
    }
  }

  /** The threshold at event time `ts`, or undefined when the catalog has none for this plant and quantity. */
  at(ts: number): Threshold | undefined {
    if (ts >= this.validFrom && ts < this.validUntil) return this.current;
    const standard = typeof this.spec === 'string' ? undefined : 'catalog' in this.spec ? this.spec.catalog.standard : undefined;
    const lookup = this.ctx.catalogLimit(ts, standard);
    const resolved = lookup.limit;
    if (!resolved) {
      this.set(undefined, lookup.validFrom, lookup.validUntil);
      return undefined;
    }
    this.set(
      {
        ...(resolved.min !== undefined ? { min: resolved.min } : {}),
        ...(resolved.max !== undefined ? { max: resolved.max } : {}),
        standard: resolved.standard,
        verified: resolved.verified,
      },
      resolved.validFrom,
      resolved.validUntil,
    );
    return this.current;
  }

  violates(value: number): boolean {
    const t = this.current;
    if (!t) return false;
    return (t.max !== undefined && value > t.max) || (t.min !== undefined && value < t.min);
  }

  /** Whether the value meets the clear condition (call after at() for the same instant). */
  clears(value: number): boolean {
    return value < this.clearHigh && value > this.clearLow;
  }

  private set(t: Threshold | undefined, from: number, until: number): void {
    this.current = t;
    this.validFrom = from;
    this.validUntil = until;
    const c = this.clearSpec;
    this.clearHigh = Infinity;
    this.clearLow = -Infinity;
    if (!t) return;
    if (t.max !== undefined) {
      // Without a clear condition, "back within the limit" clears: value <= max, i.e. value < next float above max.
      this.clearHigh = c?.below ?? (c?.deadband !== undefined ? t.max - c.deadband : c?.deadbandPct !== undefined ? t.max * (1 - c.deadbandPct / 100) : nextUp(t.max));
    }
    if (t.min !== undefined) {
      this.clearLow = c?.above ?? (c?.deadband !== undefined ? t.min + c.deadband : c?.deadbandPct !== undefined ? t.min * (1 + c.deadbandPct / 100) : nextDown(t.min));
    }
  }
}

function nextUp(x: number): number {
  return x + Math.max(Number.EPSILON * Math.abs(x), Number.MIN_VALUE);
}
function nextDown(x: number): number {
  return x - Math.max(Number.EPSILON * Math.abs(x), Number.MIN_VALUE);
}

/** "90 mg/L" / "6–9" (pH) for messages: the unit once, none for pH. */
export function formatThreshold(t: Threshold | undefined, unit: string): string {
  if (!t) return '—';
  const u = printedUnit(unit);
  const text = t.min !== undefined && t.max !== undefined ? `${t.min}–${t.max}` : `${t.max ?? t.min}`;
  return u ? `${text} ${u}` : text;
}
