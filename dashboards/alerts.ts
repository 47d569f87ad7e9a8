/**
 * Alerts as the dashboard sees them: the rules stage publishes each alert's current state retained on
 * `cleanstream/v1/alerts/{plant}/{rule}/{meter}` (bus/topics.ts), so subscribing to the alert topics gives the state
 * of every slot at once, then every change. The board keeps the last state per slot; open alerts are those not
 * cleared. The payload is validated here rather than trusted: it crosses a process boundary.
 */
import { alertSchema, SEVERITIES, type Alert, type AlertState, type Severity } from '../core/alert.ts';
import { TOPIC_ROOT } from '../bus/topics.ts';
import { ID_PATTERN } from '../core/reading.ts';

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

export type PayloadVerdict = { kind: 'alert'; alert: Alert } | { kind: 'deleted' } | { kind: 'invalid'; reason: string };

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
export function compareAlerts(a: Alert, b: Alert): number {
  return severityRank(b.severity) - severityRank(a.severity) || b.raisedAt - a.raisedAt || a.id.localeCompare(b.id);
}

export function isOpen(alert: Alert): boolean {
  return alert.state !== 'cleared';
}

/** The last published state of every alert slot. */
export class AlertBoard {
  private readonly slots = new Map<string, Alert>();

  /** Take a slot's state; true when it differs from what the board held (a re-delivered retained message is not a change). */
  apply(slot: AlertSlotKey, alert: Alert | null): boolean {
    const key = slotKey(slot);
    const held = this.slots.get(key);
    if (alert === null) return this.slots.delete(key);
    if (held && held.id === alert.id && held.updatedAt === alert.updatedAt && held.state === alert.state && held.count === alert.count && held.severity === alert.severity) {
      return false;
    }
    this.slots.set(key, alert);
    return true;
  }

  all(): Alert[] {
    return [...this.slots.values()];
  }

  open(): Alert[] {
    return this.all().filter(isOpen);
  }

  byId(id: string): Alert | undefined {
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

export function filterAlerts(alerts: readonly Alert[], f: AlertFilter): Alert[] {
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
