/**
 * The alert format: what the rules stage publishes (retained) on `cleanstream/v1/alerts/{plant}/{rule}/{meter}` and
 * what it takes on `cleanstream/v1/alert-acks/{plant}/{rule}/{meter}` (bus/topics.ts). One schema, and the types
 * inferred from it, for both sides: rules builds alerts of this type (rules/alerts.ts), dashboards validates what it
 * receives with this schema (dashboards/alerts.ts) because the payload crosses a process boundary. A field added
 * here is added for both, so the two cannot drift apart.
 */
import { z } from 'zod';
import { ID_PATTERN } from './reading.ts';

export const SEVERITIES = ['warning', 'minor', 'major', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const ALERT_STATES = ['raised', 'acknowledged', 'cleared'] as const;
export type AlertState = (typeof ALERT_STATES)[number];

/** The transitions an alert goes through; each is published, `updated` is a re-trigger of an open alert. */
export const TRANSITION_KINDS = ['raised', 'updated', 'renotified', 'escalated', 'acknowledged', 'cleared'] as const;
export type TransitionKind = (typeof TRANSITION_KINDS)[number];

/** `min` a floor the value fell below (pH under 6), `max` a ceiling or upper limit it rose above. */
export const ALERT_BOUNDS = ['min', 'max'] as const;
export type AlertBound = (typeof ALERT_BOUNDS)[number];

export const localizedSchema = z.object({ en: z.string(), zh: z.string() });
/** A text in English and Chinese. */
export type Localized = z.output<typeof localizedSchema>;

const idString = z.string().regex(ID_PATTERN);
const finiteOrNull = z.number().finite().nullable();

export const alertSchema = z.object({
  /** `rule.plant.meter.<raisedAt>`: derived from the key and the raise's event time, so a replay gives the same id. */
  id: z.string().min(1).max(300),
  rule: idString,
  plant: idString,
  meter: idString,
  /** Null for meter-wide rules (stale without a quantity). */
  quantity: z.string().nullable(),
  severity: z.enum(SEVERITIES),
  state: z.enum(ALERT_STATES),
  /** Event time of the reading (or, for deadman rules, the processing time) that raised it. */
  raisedAt: z.number().finite(),
  /** When it last changed. */
  updatedAt: z.number().finite(),
  clearedAt: z.number().finite().optional(),
  ackedAt: z.number().finite().optional(),
  ackedBy: z.string().optional(),
  comment: z.string().optional(),
  /** The value at the last trigger (at the clear, once cleared); for rate/quality/stale rules their measure. */
  value: finiteOrNull,
  /** The bound that was crossed (upper or lower), null when the rule has none (flatline). */
  limit: finiteOrNull,
  /** Which bound `limit` is; null without a bound. Absent on alerts from checkpoints older than it. */
  bound: z.enum(ALERT_BOUNDS).nullable().optional(),
  /**
   * The unit of `value`, `limit` and `peak` (the quantity's canonical unit, or the rule's measure: `min` of silence,
   * `%` of bad readings, `mg/L/min`); null for a count. `pH` is a unit here but is not printed after a number.
   * Absent on alerts from checkpoints older than it.
   */
  unit: z.string().max(32).nullable().optional(),
  /** How many times the condition was met since raised (re-triggers, re-notifications). */
  count: z.number().int().nonnegative(),
  /**
   * The value furthest beyond the crossed bound since raised (the highest above a maximum, the lowest below a
   * minimum; the highest for rules without a bound). Absent on alerts published before rules tracked it.
   */
  peak: finiteOrNull.optional(),
  escalated: z.boolean(),
  message: localizedSchema,
});

/** The alert JSON published (retained) on topics.alert(plant, rule, meter). */
export type Alert = z.output<typeof alertSchema>;

/**
 * An acknowledgement, published (QoS 1, not retained) by the dashboard on topics.alertAck(plant, rule, meter): who
 * acknowledged, and their comment. A comment that is not a string is ignored rather than costing the acknowledgement.
 */
export const alertAckSchema = z.object({
  by: z.string().min(1),
  comment: z.string().optional().catch(undefined),
});

export type AlertAck = z.output<typeof alertAckSchema>;

/** The acknowledgement in a payload, or undefined when it is not JSON or names no one (`by`). */
export function parseAlertAck(payload: Buffer): AlertAck | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = alertAckSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}
