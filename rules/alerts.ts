/**
 * Alerts and their lifecycle: raised → acknowledged → cleared (or raised → cleared).
 *
 * There is at most one open alert per rule × plant × meter (ThingsBoard's "one active alarm per originator and
 * type"): when the condition comes back while the alert is still open, the alert is updated (count, last value)
 * rather than a second one raised. Clearing needs the rule's separate clear condition, so a value hovering at the
 * limit stays one alert. An alert not acknowledged within the rule's `escalate.afterMs` of processing time is
 * escalated once: severity raised (by default one step) and an `escalated` transition emitted.
 *
 * Alert ids are derived from the key and the event time of the raise, so replaying the same feed (after a restore)
 * gives the same ids: a consumer sees a re-published alert as the same alert.
 *
 * History rows: every transition is published, but a re-trigger (`updated`) of an open alert is marked for the
 * history (`historyRow`) only when `retriggerRowIntervalMs` of event time has passed since the alert's last row, or
 * when it reached a new peak (a value further beyond the bound than any row so far says). A value hovering at its
 * limit re-triggers every few seconds: the history keeps a bounded number of rows an hour with the count, the peak
 * and the last value, instead of one row per crossing.
 */
import { SEVERITIES, type Alert, type Localized, type Severity, type TransitionKind } from '../core/alert.ts';
import { crossedBound, type AlertPort, type Threshold } from './kinds/types.ts';

// The alert format is core's (core/alert.ts, shared with dashboards); this module builds alerts of it.
export { SEVERITIES };
export type { Alert, AlertState, Severity, TransitionKind } from '../core/alert.ts';

export interface AlertTransition {
  transition: TransitionKind;
  alert: Alert;
  /** False for a re-trigger the history skips (see above); every other transition has a row. */
  historyRow?: boolean;
}

/** Default of `history.retriggerRowIntervalMs`: one re-trigger row per 5 minutes of an open alert, plus new peaks. */
export const DEFAULT_RETRIGGER_ROW_INTERVAL_MS = 300_000;

export interface AlertRule {
  id: string;
  severity: Severity;
  escalate?: { afterMs: number; to?: Severity | undefined } | undefined;
}

export type Describe = (value: number, threshold: Threshold | undefined) => Localized;

/** State kept in checkpoints for one slot with an open alert. */
export interface SlotState {
  key: [rule: string, plant: string, meter: string];
  alert: Alert;
  violating: boolean;
  openedAt: number;
  /** Event time of the alert's last history row, and how far beyond its bound the peak was then (absent in older checkpoints). */
  lastRowAt?: number;
  rowExcess?: number;
  peakExcess?: number;
}

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** How far `value` is beyond the bound it crossed (below a minimum counts down); the value itself without a bound. */
function excessOf(value: number, limit: number | null, threshold: Threshold | undefined): number {
  if (limit === null || !threshold) return value;
  return threshold.min === limit && (threshold.max === undefined || value < threshold.min) ? limit - value : value - limit;
}

/** One rule × plant × meter: where its operators report, and its open alert if any. */
export class AlertSlot implements AlertPort {
  alert: Alert | undefined;
  /** Whether the last judgement found the condition met (a change back to met is a re-trigger). */
  private violating = false;
  /** Processing time the alert was raised at, for escalation. */
  private openedAt = 0;
  /** How far beyond its bound the alert's peak is. */
  private peakExcess = -Infinity;
  /** Event time of the alert's last history row, and the peak's excess then: a re-trigger row is due after the interval or above it. */
  private lastRowAt = 0;
  private rowExcess = -Infinity;

  constructor(
    private readonly book: AlertBook,
    readonly rule: AlertRule,
    readonly plant: string,
    readonly meter: string,
    readonly quantity: string | null,
    private readonly describe: Describe,
    /** The unit of the values the rule reports (Alert.unit). */
    private readonly unit: string | null = null,
  ) {}

  get open(): boolean {
    return this.alert !== undefined;
  }

  trigger(ts: number, value: number, threshold: Threshold | undefined): void {
    const a = this.alert;
    if (!a) {
      this.violating = true;
      this.openedAt = this.book.now();
      const alert: Alert = {
        id: `${this.rule.id}.${this.plant}.${this.meter}.${ts}`,
        rule: this.rule.id,
        plant: this.plant,
        meter: this.meter,
        quantity: this.quantity,
        severity: this.rule.severity,
        state: 'raised',
        raisedAt: ts,
        updatedAt: ts,
        value: finiteOrNull(value),
        limit: crossed(value, threshold),
        bound: crossedBound(value, threshold),
        unit: this.unit,
        count: 1,
        escalated: false,
        message: this.describe(value, threshold),
        peak: finiteOrNull(value),
      };
      this.alert = alert;
      this.peakExcess = excessOf(value, alert.limit, threshold);
      this.lastRowAt = ts;
      this.rowExcess = this.peakExcess;
      this.book.opened(this);
      this.book.emit('raised', alert);
      return;
    }
    a.value = finiteOrNull(value);
    const excess = excessOf(value, crossed(value, threshold), threshold);
    if (Number.isFinite(value) && (excess > this.peakExcess || a.peak === undefined || a.peak === null)) {
      this.peakExcess = excess;
      a.peak = value;
    }
    if (this.violating) return;
    this.violating = true;
    a.count++;
    a.updatedAt = Math.max(a.updatedAt, ts);
    a.limit = crossed(value, threshold);
    a.bound = crossedBound(value, threshold);
    a.message = this.describe(value, threshold);
    // by the re-trigger's event time: an acknowledgement's processing time in updatedAt must not shift the interval
    const historyRow = ts - this.lastRowAt >= this.book.retriggerRowIntervalMs || this.peakExcess > this.rowExcess;
    if (historyRow) {
      this.lastRowAt = ts;
      this.rowExcess = this.peakExcess;
    }
    this.book.emit('updated', a, historyRow);
  }

  relax(): void {
    this.violating = false;
  }

  clear(ts: number, value: number): void {
    this.violating = false;
    const a = this.alert;
    if (!a) return;
    a.state = 'cleared';
    a.clearedAt = ts;
    a.updatedAt = Math.max(a.updatedAt, ts);
    a.value = finiteOrNull(value);
    a.message = { en: `Cleared: ${a.message.en}`, zh: `已恢复：${a.message.zh}` };
    this.alert = undefined;
    this.book.closed(this, a);
    this.book.emit('cleared', a);
  }

  renotify(now: number, value: number): void {
    const a = this.alert;
    if (!a) return;
    a.count++;
    a.value = finiteOrNull(value);
    a.updatedAt = now;
    this.book.emit('renotified', a);
  }

  acknowledge(by: string, comment: string | undefined, at: number): boolean {
    const a = this.alert;
    if (!a || a.state !== 'raised') return false;
    a.state = 'acknowledged';
    a.ackedAt = at;
    a.ackedBy = by;
    if (comment !== undefined) a.comment = comment;
    a.updatedAt = Math.max(a.updatedAt, at);
    this.book.emit('acknowledged', a);
    return true;
  }

  escalateIfDue(now: number): void {
    const a = this.alert;
    const rule = this.rule.escalate;
    if (!a || !rule || a.state !== 'raised' || a.escalated || now - this.openedAt < rule.afterMs) return;
    a.escalated = true;
    a.severity = rule.to ?? SEVERITIES[Math.min(SEVERITIES.indexOf(a.severity) + 1, SEVERITIES.length - 1)]!;
    a.updatedAt = Math.max(a.updatedAt, now);
    this.book.emit('escalated', a);
  }

  snapshot(): SlotState | undefined {
    if (!this.alert) return undefined;
    return {
      key: [this.rule.id, this.plant, this.meter],
      alert: { ...this.alert, message: { ...this.alert.message } },
      violating: this.violating,
      openedAt: this.openedAt,
      lastRowAt: this.lastRowAt,
      // JSON has no -Infinity: without a finite peak yet (a raise on a non-finite value) the excesses are left out
      ...(Number.isFinite(this.rowExcess) ? { rowExcess: this.rowExcess } : {}),
      ...(Number.isFinite(this.peakExcess) ? { peakExcess: this.peakExcess } : {}),
    };
  }

  restore(state: SlotState): void {
    this.alert = { ...state.alert, message: { ...state.alert.message } };
    this.violating = state.violating;
    this.openedAt = state.openedAt;
    // Checkpoints from before history throttling: the alert's last change stands for its last row, its value for its peak.
    this.alert.peak ??= this.alert.value;
    if (this.alert.unit === undefined) this.alert.unit = this.unit;
    const peak = this.alert.peak;
    this.peakExcess = state.peakExcess ?? (peak === null ? -Infinity : this.alert.limit === null ? peak : Math.abs(peak - this.alert.limit));
    this.lastRowAt = state.lastRowAt ?? this.alert.updatedAt;
    this.rowExcess = state.rowExcess ?? this.peakExcess;
    this.book.opened(this);
  }
}

/** The bound of the threshold that `value` crossed (the upper one when it is not below the lower). */
function crossed(value: number, t: Threshold | undefined): number | null {
  if (!t) return null;
  if (t.min !== undefined && (t.max === undefined || value < t.min)) return t.min;
  return t.max ?? null;
}

/** All slots; hands every transition to one listener, as a copy the listener may keep. */
export class AlertBook {
  private readonly slots = new Map<string, AlertSlot>();
  private readonly openById = new Map<string, AlertSlot>();
  /** Slots with an open alert, by plant (a checkpoint takes a plant's alerts with its series). */
  private readonly openByPlant = new Map<string, Set<AlertSlot>>();

  constructor(
    readonly now: () => number,
    private readonly listener: (t: AlertTransition) => void,
    /** Event time between two history rows of an open alert's re-triggers (new peaks aside). */
    readonly retriggerRowIntervalMs = DEFAULT_RETRIGGER_ROW_INTERVAL_MS,
  ) {}

  slot(rule: AlertRule, plant: string, meter: string, quantity: string | null, describe: Describe, unit: string | null = null): AlertSlot {
    const key = `${rule.id}\u0000${plant}\u0000${meter}`;
    let slot = this.slots.get(key);
    if (!slot) {
      slot = new AlertSlot(this, rule, plant, meter, quantity, describe, unit);
      this.slots.set(key, slot);
    }
    return slot;
  }

  /** How many slots exist (a slot is made on a binding's first trigger, or restored). */
  get size(): number {
    return this.slots.size;
  }

  find(rule: string, plant: string, meter: string): AlertSlot | undefined {
    return this.slots.get(`${rule}\u0000${plant}\u0000${meter}`);
  }

  byId(id: string): AlertSlot | undefined {
    return this.openById.get(id);
  }

  open(): Alert[] {
    return [...this.openById.values()].map((s) => copy(s.alert!));
  }

  tick(now: number): void {
    for (const slot of this.openById.values()) slot.escalateIfDue(now);
  }

  snapshot(): SlotState[] {
    const out: SlotState[] = [];
    for (const slot of this.openById.values()) {
      const s = slot.snapshot();
      if (s) out.push(s);
    }
    return out;
  }

  /** The open alerts of one plant, as snapshot() has them. */
  snapshotPlant(plant: string): SlotState[] {
    const out: SlotState[] = [];
    for (const slot of this.openByPlant.get(plant) ?? []) {
      const s = slot.snapshot();
      if (s) out.push(s);
    }
    return out;
  }

  /** @internal slots report their open/closed alerts here */
  opened(slot: AlertSlot): void {
    this.openById.set(slot.alert!.id, slot);
    let slots = this.openByPlant.get(slot.plant);
    if (!slots) this.openByPlant.set(slot.plant, (slots = new Set()));
    slots.add(slot);
  }

  /** @internal */
  closed(slot: AlertSlot, alert: Alert): void {
    this.openById.delete(alert.id);
    const slots = this.openByPlant.get(slot.plant);
    slots?.delete(slot);
    if (slots?.size === 0) this.openByPlant.delete(slot.plant);
  }

  /** @internal */
  emit(transition: TransitionKind, alert: Alert, historyRow = true): void {
    this.listener(historyRow ? { transition, alert: copy(alert) } : { transition, alert: copy(alert), historyRow });
  }
}

function copy(a: Alert): Alert {
  return { ...a, message: { ...a.message } };
}
