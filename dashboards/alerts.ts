/**
 * Alerts as the dashboard sees them: the rules stage publishes each alert's current state retained on
 * `cleanstream/v1/alerts/{plant}/{rule}/{meter}` (bus/topics.ts), so subscribing to the alert topics gives the state
 * of every slot at once, then every change. The board keeps the last state per slot; open alerts are those not
 * cleared. The payload is validated here rather than trusted: it crosses a process boundary.
 */
import { z } from 'zod';
import { TOPIC_ROOT } from '../bus/topics.ts';
import { ID_PATTERN } from '../core/reading.ts';

export const SEVERITIES = ['warning', 'minor', 'major', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const ALERT_STATES = ['raised', 'acknowledged', 'cleared'] as const;
export type AlertState = (typeof ALERT_STATES)[number];

const idString = z.string().regex(ID_PATTERN);
const finiteOrNull = z.number().finite().nullable();

export const alertSchema = z.object({
  id: z.string().min(1).max(300),
  rule: idString,
  plant: idString,
  meter: idString,
  quantity: z.string().nullable(),
  severity: z.enum(SEVERITIES),
  state: z.enum(ALERT_STATES),
  raisedAt: z.number().finite(),
  updatedAt: z.number().finite(),
  clearedAt: z.number().finite().optional(),
  ackedAt: z.number().finite().optional(),
  ackedBy: z.string().optional(),
  comment: z.string().optional(),
  value: finiteOrNull,
  limit: finiteOrNull,
  /** Which bound `limit` is (rules/alerts.ts): a floor (`min`) or a ceiling/upper limit (`max`); absent from older alerts. */
  bound: z.enum(['min', 'max']).nullable().optional(),
  /** The unit of value, limit and peak; null for a count; absent from older alerts. */
  unit: z.string().max(32).nullable().optional(),
  count: z.number().int().nonnegative(),
  /** Absent from alerts published before rules tracked it. */
  peak: finiteOrNull.optional(),
  escalated: z.boolean(),
  message: z.object({ en: z.string(), zh: z.string() }),
});

export type DashboardAlert = z.output<typeof alertSchema>;

export interface AlertSlotKey {
  plant: string;
  rule: string;
  meter: string;
}

/** The slot of an alert topic, or undefined when the topic is not one. */
export function parseAlertTopic(topic: string): AlertSlotKey | undefined {
  const prefix = `${TOPIC_ROOT}/alerts/`;
  if (!topic.startsWith(prefix)) return undefined;
  const parts = topic.slice(prefix.length).split('/');
  if (parts.length !== 3 || !parts.every((p) => ID_PATTERN.test(p))) return undefined;
  const [plant, rule, meter] = parts as [string, string, string];
  return { plant, rule, meter };
}

/** `rule.plant.meter.<raisedAt>` (rules/alerts.ts): the slot an alert id names, so that scope is checked before lookup. */
export function slotOfAlertId(id: string): (AlertSlotKey & { raisedAt: number }) | undefined {
  const parts = id.split('.');
  if (parts.length !== 4) return undefined;
  const [rule, plant, meter, at] = parts as [string, string, string, string];
  if (![rule, plant, meter].every((p) => ID_PATTERN.test(p)) || !/^\d+$/.test(at)) return undefined;
  return { rule, plant, meter, raisedAt: Number(at) };
}

export type PayloadVerdict = { kind: 'alert'; alert: DashboardAlert } | { kind: 'deleted' } | { kind: 'invalid'; reason: string };

/** An empty retained payload deletes the slot's retained message (MQTT 3.1.1 §3.3.1.3). */
export function parseAlertPayload(payload: Buffer, slot: AlertSlotKey): PayloadVerdict {
  if (payload.length === 0) return { kind: 'deleted' };
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString('utf8'));
  } catch {
    return { kind: 'invalid', reason: 'not JSON' };
  }
  const parsed = alertSchema.safeParse(raw);
  if (!parsed.success) return { kind: 'invalid', reason: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') };
  const alert = parsed.data;
  if (alert.plant !== slot.plant || alert.rule !== slot.rule || alert.meter !== slot.meter) {
    return { kind: 'invalid', reason: `alert ${alert.id} names ${alert.plant}/${alert.rule}/${alert.meter}, the topic ${slot.plant}/${slot.rule}/${slot.meter}` };
  }
  return { kind: 'alert', alert };
}

const slotKey = (s: AlertSlotKey): string => `${s.plant}/${s.rule}/${s.meter}`;

export const severityRank = (s: Severity): number => SEVERITIES.indexOf(s);

/** Most severe first, then the most recently raised. */
export function compareAlerts(a: DashboardAlert, b: DashboardAlert): number {
  return severityRank(b.severity) - severityRank(a.severity) || b.raisedAt - a.raisedAt || a.id.localeCompare(b.id);
}

export function isOpen(alert: DashboardAlert): boolean {
  return alert.state !== 'cleared';
}

/** The last published state of every alert slot. */
export class AlertBoard {
  private readonly slots = new Map<string, DashboardAlert>();

  /** Take a slot's state; true when it differs from what the board held (a re-delivered retained message is not a change). */
  apply(slot: AlertSlotKey, alert: DashboardAlert | null): boolean {
    const key = slotKey(slot);
    const held = this.slots.get(key);
    if (alert === null) return this.slots.delete(key);
    if (held && held.id === alert.id && held.updatedAt === alert.updatedAt && held.state === alert.state && held.count === alert.count && held.severity === alert.severity) {
      return false;
    }
    this.slots.set(key, alert);
    return true;
  }

  all(): DashboardAlert[] {
    return [...this.slots.values()];
  }

  open(): DashboardAlert[] {
    return this.all().filter(isOpen);
  }

  byId(id: string): DashboardAlert | undefined {
    const slot = slotOfAlertId(id);
    const held = slot ? this.slots.get(slotKey(slot)) : undefined;
    return held?.id === id ? held : undefined;
  }

  get size(): number {
    return this.slots.size;
  }
}

export type StateFilter = 'open' | AlertState | 'all';

export interface AlertFilter {
  /** Plants the caller may see (and asked for). */
  plants: ReadonlySet<string>;
  state: StateFilter;
  severities?: readonly Severity[];
  /** Alerts that changed at or after this instant (ms). */
  from?: number;
  /** Alerts raised before this instant (ms). */
  to?: number;
}

export function filterAlerts(alerts: readonly DashboardAlert[], f: AlertFilter): DashboardAlert[] {
  return alerts
    .filter((a) => {
      if (!f.plants.has(a.plant)) return false;
      if (f.state === 'open' ? !isOpen(a) : f.state !== 'all' && a.state !== f.state) return false;
      if (f.severities && !f.severities.includes(a.severity)) return false;
      if (f.from !== undefined && a.updatedAt < f.from) return false;
      if (f.to !== undefined && a.raisedAt >= f.to) return false;
      return true;
    })
    .sort(compareAlerts);
}
