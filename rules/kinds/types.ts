/**
 * What every rule kind is: a schema for its parameters and a factory for a small operator bound to one series
 * (plant × meter × quantity). Operators see samples in event-time order (the engine's reorder buffer guarantees it
 * and handles late data), as scalars: no object per reading on the hot path.
 */
import type { z } from 'zod';
import type { Localized } from '../../core/alert.ts';
import type { QuantityId } from '../../core/catalog.ts';
import type { Plant } from '../../core/plants.ts';
import type { LimitLookup } from '../limits/catalog.ts';
import type { SharedWindows } from '../windows.ts';

/** Quality as a small integer on the hot path. */
export const GOOD = 0;
export const UNCERTAIN = 1;
export const BAD = 2;
export type QualityCode = typeof GOOD | typeof UNCERTAIN | typeof BAD;

/** A value usable for thresholds: present and not bad (uncertain values count, as the source still measured). */
export function usable(value: number, quality: QualityCode): boolean {
  return quality !== BAD && value === value; // value === value is false only for NaN (a null reading)
}

/** What a threshold compared against: the numbers and, when from the catalog, the standard that set them. */
export interface Threshold {
  min?: number;
  max?: number;
  standard?: string;
  verified?: boolean;
}

/**
 * The alert slot of one rule × plant × meter, as an operator sees it. `trigger` raises the alert, or counts a
 * re-trigger when the condition comes back while the alert is still open; `relax` says the condition is gone but
 * the clear condition is not met yet (the hysteresis band); `clear` closes the alert.
 */
export interface AlertPort {
  readonly open: boolean;
  trigger(ts: number, value: number, threshold: Threshold | undefined, detail?: string): void;
  relax(): void;
  clear(ts: number, value: number): void;
  /** Notify again that a still-open alert still holds (stale meters). */
  renotify(now: number, value: number): void;
}

export interface Operator {
  /** One sample of the series, in event-time order. `value` is NaN for a reading without a value. */
  sample(ts: number, value: number, quality: QualityCode, alert: AlertPort): void;
  /** The series' watermark moved: no sample at or before `watermark` will come any more. */
  watermark?(watermark: number, alert: AlertPort): void;
  /** Processing time went by (the engine's clock). */
  tick?(now: number, alert: AlertPort): void;
  /** Any processing-time arrival of a reading for this series, late or not (for deadman rules). */
  arrived?(now: number, hasValue: boolean, alert: AlertPort): void;
  /** JSON-able state for checkpoints; restore() receives what snapshot() returned. */
  snapshot(): unknown;
  restore(state: unknown): void;
}

/** A plant-level operator (RuleKind.plantInputs): it hands out the operator each input series is bound to. */
export interface PlantOperator extends Operator {
  /** The operator for one series of the plant (undefined when it is no input); it reports to `port`. */
  inputFor(meter: string, quantity: QuantityId, port: AlertPort): Operator | undefined;
}

export function isPlantOperator(op: Operator): op is PlantOperator {
  return typeof (op as Partial<PlantOperator>).inputFor === 'function';
}

/** What an operator is created with: one per plant × quantity, shared by the operators of every meter there. */
export interface BindContext {
  plant: Plant | undefined;
  plantId: string;
  quantity: QuantityId | undefined;
  /** The catalog's limit in force at an instant, with the interval that answer holds for (no limit for unknown plants). */
  catalogLimit(atMs: number, standard?: string): LimitLookup;
  /** The engine's processing-time clock (ms). */
  now(): number;
  /** The plant's baseline for the bound quantity at a level (rules/baselines.ts), when the engine has baselines. */
  baseline?(level: 'plant' | 'I' | 'II' | 'III'): number | undefined;
  /** The plant's baseline for a per-unit-product indicator (water_m3_per_t, ...) at a level. */
  baselineOf?(indicator: string, level: 'plant' | 'I' | 'II' | 'III'): number | undefined;
  /** kgce per unit amount of an energy quantity at this plant (rules/baselines/energy-coefficients.yaml). */
  kgcePer?(quantity: QuantityId): number | undefined;
}

/** What an alert message is written from (only when an alert changes, never per sample). */
export interface MessageFacts {
  plant: string;
  meter: string;
  /** The plant's and the meter's names from the registry (the ids when it has none): alert text is for people. */
  plantName: Localized;
  meterName: Localized;
  /** The quantity's label and canonical unit; for meter-wide rules, the meter. */
  what: { en: string; zh: string };
  unit: string;
  value: number;
  threshold: Threshold | undefined;
}

export type { Localized };

export interface RuleKind<S extends z.ZodType = z.ZodType> {
  kind: string;
  /** The kind's own parameters (merged into the rule's schema next to id, severity, selector). */
  params: S;
  /** Whether the selector must name a quantity (all but deadman rules, which watch a whole meter). */
  needsQuantity: boolean;
  /**
   * `windows`: the sliding windows of the series the operator is bound to, shared with the other rules there (the
   * engine feeds them; the operator reads them). Plant-level operators have none: asking throws.
   */
  create(params: z.output<S>, ctx: BindContext, windows: SharedWindows): Operator;
  /**
   * Whether the operators of a rule keep no state, so that one serves many series: every series of the rule
   * ('rule'), or those of one plant ('plant', when the operator reads the plant's catalog limit or baseline).
   * Undefined: one operator per series.
   */
  sharing?(params: z.output<S>): 'rule' | 'plant' | undefined;
  /**
   * For plant-level kinds (one operator per plant, judging several quantities together): the quantities it reads,
   * from any meter of the plant. The operator's input() receives them (rules/kinds/intensity.ts).
   */
  plantInputs?(params: z.output<S>): readonly QuantityId[];
  /** For plant-level kinds: the meter their alert is on (e.g. the plant's production meter). */
  plantAlertMeter?(params: z.output<S>, plant: Plant | undefined): string;
  describe(params: z.output<S>, facts: MessageFacts): Localized;
  /**
   * The unit of the alert's `value` when it is not the quantity's (a rate per minute, minutes of silence, a share in
   * %); null when the value is a count. Undefined: the quantity's canonical unit.
   */
  valueUnit?(params: z.output<S>, quantityUnit: string): string | null;
}

/** Numbers in messages: at most 4 significant digits, no float noise. */
export function fmt(value: number): string {
  if (value !== value) return 'no value';
  return String(Number(value.toPrecision(4)));
}

/**
 * The unit as printed after a number: none for pH, whose "unit" is the quantity's own name ("pH 7.46", not
 * "pH 7.46 pH"), nor for a unitless value.
 */
export function printedUnit(unit: string | null | undefined): string {
  return !unit || unit === 'pH' ? '' : unit;
}

/** "52.4 mg/L", "7.46" (pH); a missing value says so in the reader's language. */
export function withUnit(value: number, unit: string, lang: 'en' | 'zh' = 'en'): string {
  if (value !== value) return lang === 'zh' ? '无数值' : 'no value';
  const u = printedUnit(unit);
  return u ? `${fmt(value)} ${u}` : fmt(value);
}

/** Where an alert is, in both languages: the plant's and the meter's names. */
export function whereOf(f: Pick<MessageFacts, 'plantName' | 'meterName'>): Localized {
  return { en: `${f.plantName.en}, ${f.meterName.en}`, zh: `${f.plantName.zh} ${f.meterName.zh}` };
}

/** Which bound of a threshold a value crossed: the floor when it is below the minimum, else the ceiling (or the upper limit). */
export function crossedBound(value: number, t: Threshold | undefined): 'min' | 'max' | null {
  if (!t) return null;
  if (t.min !== undefined && (t.max === undefined || value < t.min)) return 'min';
  return t.max !== undefined ? 'max' : null;
}

/**
 * How a value stands to the bound it crossed, in both languages: below the floor / above the ceiling of a range
 * (pH 6–9), above an upper limit; with the bound and its unit ("below the floor 6", "超过限值 90 mg/L").
 */
export function crossingText(value: number, t: Threshold | undefined, unit: string): Localized {
  const bound = crossedBound(value, t);
  if (!t || bound === null) return { en: 'beyond its limit', zh: '超出限值' };
  const limit = withUnit(bound === 'min' ? t.min! : t.max!, unit);
  if (bound === 'min') return { en: `below the floor ${limit}`, zh: `低于下限 ${limit}` };
  if (t.min !== undefined) return { en: `above the ceiling ${limit}`, zh: `高于上限 ${limit}` };
  return { en: `above the limit ${limit}`, zh: `超过限值 ${limit}` };
}
