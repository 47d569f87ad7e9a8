/**
 * The rules engine: compiles rules into operators bound to series (plant × meter × quantity), feeds them readings in
 * event-time order through each series' reorder buffer, and turns their verdicts into alert transitions.
 *
 * It does no I/O and reads no wall clock: event time comes from the readings and processing time from the injected
 * clock, so the same feed and clock give the same transitions. snapshot()/restore() carry window, buffer and alert
 * state across a restart (rules/checkpoint.ts writes them to disk).
 *
 * Hot path (per reading): three map lookups, a unit factor cached per series, an insert into a typed-array buffer and
 * one call per bound operator with scalar arguments. Objects are made only when a series is first seen and when an
 * alert changes.
 */
import { createHash } from 'node:crypto';
import { QUANTITIES, unitFactor, type QuantityDef, type QuantityId } from '../core/catalog.ts';
import type { Plant, PlantRegistry } from '../core/plants.ts';
import type { Quality, ReadingBatch } from '../core/reading.ts';
import { AlertBook, type Alert, type AlertSlot, type AlertTransition, type Describe, type SlotState } from './alerts.ts';
import type { RuleConfig } from './config.ts';
import { RULE_KINDS } from './kinds/index.ts';
import { BAD, GOOD, UNCERTAIN, type BindContext, type Operator, type QualityCode, type RuleKind } from './kinds/types.ts';
import type { LimitLookup, LimitsCatalog } from './limits/catalog.ts';
import type { BaselineBook } from './baselines.ts';
import { ReorderBuffer, type ReorderState, type SampleSink } from './windows.ts';

export interface LateReading {
  plant: string;
  meter: string;
  quantity: QuantityId;
  ts: number;
  watermark: number;
  /** The rules that did not see it. */
  rules: string[];
}

export interface EngineOptions {
  rules: readonly RuleConfig[];
  limits: LimitsCatalog;
  /** Without one, every plant and meter is judged but industry/region selectors and catalog limits match nothing. */
  registry?: PlantRegistry;
  /** Static baselines for `baseline` rules (they need the registry too). */
  baselines?: BaselineBook;
  allowedLatenessMs?: number;
  idleFlushMs?: number;
  clock?: () => number;
  onTransition?: (t: AlertTransition) => void;
  onLate?: (late: LateReading) => void;
}

export interface EngineStats {
  readings: number;
  /** Readings of series no rule watches (or, with a registry, not in it). */
  unwatched: number;
  /** Readings whose unit does not fit the quantity (cannot be judged). */
  badUnit: number;
  late: number;
  lateByRule: Record<string, number>;
  series: number;
  openAlerts: number;
  transitions: Record<string, number>;
}

export interface EngineSnapshot {
  version: 1;
  takenAt: number;
  series: { key: [plant: string, meter: string, quantity: string]; buffer: ReorderState; lastArrival: number | null; ops: OpState[] }[];
  meters: { key: [plant: string, meter: string]; ops: OpState[] }[];
  alerts: SlotState[];
  lateByRule: Record<string, number>;
}

interface OpState {
  rule: string;
  /** Changes when the rule's definition changes: state of a different rule is not restored into it. */
  fingerprint: string;
  state: unknown;
}

interface RuleRuntime {
  rule: RuleConfig;
  kind: RuleKind;
  fingerprint: string;
  late: number;
}

interface Binding {
  rt: RuleRuntime;
  op: Operator;
  slot: AlertSlot;
}

const NO_LIMIT: LimitLookup = { limit: undefined, validFrom: -Infinity, validUntil: Infinity };

function qualityCode(q: Quality): QualityCode {
  return q === 'good' ? GOOD : q === 'uncertain' ? UNCERTAIN : BAD;
}

class Series implements SampleSink {
  readonly buffer: ReorderBuffer;
  /** Operators fed with samples (everything but deadman rules). */
  readonly samplers: Binding[] = [];
  /** Operators told of every arrival (deadman rules). */
  readonly watchers: Binding[] = [];
  lastArrival = -Infinity;
  private signalledWatermark = -Infinity;
  lastUnit = '';
  lastFactor: number | undefined;

  constructor(
    readonly plant: string,
    readonly meter: string,
    readonly quantity: QuantityId,
    allowedLatenessMs: number,
  ) {
    this.buffer = new ReorderBuffer(allowedLatenessMs);
  }

  deliver(ts: number, value: number, quality: QualityCode): void {
    const s = this.samplers;
    for (let i = 0; i < s.length; i++) s[i]!.op.sample(ts, value, quality, s[i]!.slot);
  }

  /** After a release: tell window operators how far event time is complete. */
  signalWatermark(): void {
    const w = this.buffer.watermark;
    if (w <= this.signalledWatermark) return;
    this.signalledWatermark = w;
    const s = this.samplers;
    for (let i = 0; i < s.length; i++) s[i]!.op.watermark?.(w, s[i]!.slot);
  }
}

export class RulesEngine {
  private readonly runtimes: RuleRuntime[];
  private readonly byId = new Map<string, RuleRuntime>();
  private readonly tree = new Map<string, Map<string, Map<QuantityId, Series | undefined>>>();
  private readonly allSeries: Series[] = [];
  /** Meter-wide deadman bindings, by plant → meter. */
  private readonly meterWatchers = new Map<string, Map<string, Binding[]>>();
  private readonly book: AlertBook;
  private readonly clock: () => number;
  private readonly allowedLatenessMs: number;
  private readonly idleFlushMs: number;
  private readonly counts = { readings: 0, unwatched: 0, badUnit: 0, late: 0 };
  private readonly transitions: Record<string, number> = {};
  private readonly hasMeterWide: boolean;

  constructor(private readonly opts: EngineOptions) {
    this.clock = opts.clock ?? Date.now;
    this.allowedLatenessMs = opts.allowedLatenessMs ?? 5_000;
    this.idleFlushMs = opts.idleFlushMs ?? 10_000;
    const onTransition = opts.onTransition;
    this.book = new AlertBook(this.clock, (t) => {
      this.transitions[t.transition] = (this.transitions[t.transition] ?? 0) + 1;
      onTransition?.(t);
    });
    this.runtimes = opts.rules
      .filter((r) => r.enabled)
      .map((rule) => ({ rule, kind: RULE_KINDS[rule.kind] as RuleKind, fingerprint: fingerprint(rule), late: 0 }));
    for (const rt of this.runtimes) this.byId.set(rt.rule.id, rt);
    this.hasMeterWide = this.runtimes.some((rt) => rt.rule.kind === 'stale' && !rt.rule.selector.quantity);
    this.watchRegistryMeters();
  }

  /** Feed one batch (processing time: one clock reading for the whole batch). */
  ingestBatch(batch: ReadingBatch): void {
    const now = this.clock();
    const readings = batch.readings;
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i]!;
      this.ingest(batch.plant, r.meter, r.quantity, r.value, r.unit, r.ts, r.quality, now);
    }
  }

  /** Feed one reading; `value` in `unit` (converted to the canonical unit here). */
  ingest(plant: string, meter: string, quantity: QuantityId, value: number | null, unit: string, ts: number, quality: Quality, now = this.clock()): void {
    this.counts.readings++;
    const series = this.seriesFor(plant, meter, quantity);
    const watchers = this.hasMeterWide ? this.meterWatchers.get(plant)?.get(meter) : undefined;
    if (watchers) for (const w of watchers) w.op.arrived?.(now, value !== null, w.slot);
    if (!series) {
      if (!watchers?.length) this.counts.unwatched++;
      return;
    }
    series.lastArrival = now;
    for (const w of series.watchers) w.op.arrived?.(now, value !== null, w.slot);
    if (series.samplers.length === 0) return;
    if (unit !== series.lastUnit) {
      series.lastUnit = unit;
      series.lastFactor = unitFactor(quantity, unit);
    }
    const factor = series.lastFactor;
    if (factor === undefined) {
      this.counts.badUnit++;
      return;
    }
    if (!series.buffer.push(ts, value === null ? NaN : value * factor, qualityCode(quality))) {
      this.late(series, ts);
      return;
    }
    series.buffer.release(series);
    series.signalWatermark();
  }

  /**
   * Processing time passed: deadman checks, escalation, and series quiet for idleFlushMs stop waiting for
   * stragglers. The service calls it every tickMs; tests call it with the time they want.
   */
  tick(now = this.clock()): void {
    for (const s of this.allSeries) {
      if (s.buffer.pending > 0 && now - s.lastArrival >= this.idleFlushMs) {
        s.buffer.flush(s);
        s.signalWatermark();
      }
      for (const w of s.watchers) w.op.tick?.(now, w.slot);
    }
    for (const meters of this.meterWatchers.values()) {
      for (const list of meters.values()) for (const w of list) w.op.tick?.(now, w.slot);
    }
    this.book.tick(now);
  }

  /** Acknowledge an open alert by id, or by rule × plant × meter. False when there is no such unacknowledged alert. */
  acknowledge(target: string | { rule: string; plant: string; meter: string }, by: string, comment?: string): boolean {
    const slot = typeof target === 'string' ? this.book.byId(target) : this.book.find(target.rule, target.plant, target.meter);
    return slot?.acknowledge(by, comment, this.clock()) ?? false;
  }

  openAlerts(): Alert[] {
    return this.book.open();
  }

  stats(): EngineStats {
    const lateByRule: Record<string, number> = {};
    for (const rt of this.runtimes) lateByRule[rt.rule.id] = rt.late;
    return { ...this.counts, lateByRule, series: this.allSeries.length, openAlerts: this.book.open().length, transitions: { ...this.transitions } };
  }

  snapshot(): EngineSnapshot {
    const opStates = (bindings: Binding[]): OpState[] => bindings.map((b) => ({ rule: b.rt.rule.id, fingerprint: b.rt.fingerprint, state: b.op.snapshot() }));
    const meters: EngineSnapshot['meters'] = [];
    for (const [plant, byMeter] of this.meterWatchers) {
      for (const [meter, list] of byMeter) if (list.length) meters.push({ key: [plant, meter], ops: opStates(list) });
    }
    const lateByRule: Record<string, number> = {};
    for (const rt of this.runtimes) if (rt.late) lateByRule[rt.rule.id] = rt.late;
    return {
      version: 1,
      takenAt: this.clock(),
      series: this.allSeries.map((s) => ({
        key: [s.plant, s.meter, s.quantity],
        buffer: s.buffer.snapshot(),
        lastArrival: Number.isFinite(s.lastArrival) ? s.lastArrival : null,
        ops: opStates([...s.samplers, ...s.watchers]) })),
      meters,
      alerts: this.book.snapshot(),
      lateByRule,
    };
  }

  /**
   * Take over the state of a snapshot (call before feeding readings). State of rules that are gone or whose
   * definition changed is dropped; their open alerts stay open only if the rule still exists.
   * Returns what was dropped, for a log line.
   */
  restore(snap: EngineSnapshot): { droppedOps: number; droppedAlerts: number } {
    let droppedOps = 0;
    let droppedAlerts = 0;
    const restoreOps = (bindings: Binding[], states: OpState[]): void => {
      for (const st of states) {
        const b = bindings.find((x) => x.rt.rule.id === st.rule);
        if (b && b.rt.fingerprint === st.fingerprint) b.op.restore(st.state);
        else droppedOps++;
      }
    };
    for (const s of snap.series) {
      const [plant, meter, quantity] = s.key;
      const series = this.seriesFor(plant, meter, quantity as QuantityId);
      if (!series) {
        droppedOps += s.ops.length;
        continue;
      }
      series.buffer.restore(s.buffer);
      series.lastArrival = s.lastArrival ?? -Infinity;
      restoreOps([...series.samplers, ...series.watchers], s.ops);
    }
    for (const m of snap.meters) {
      const [plant, meter] = m.key;
      restoreOps(this.meterWatchersFor(plant, meter), m.ops);
    }
    for (const a of snap.alerts) {
      const rt = this.byId.get(a.key[0]);
      if (!rt) {
        droppedAlerts++;
        continue;
      }
      this.slotFor(rt, a.key[1], a.key[2], a.alert.quantity as QuantityId | null).restore(a);
    }
    for (const [rule, n] of Object.entries(snap.lateByRule)) {
      const rt = this.byId.get(rule);
      if (rt) rt.late = n;
    }
    return { droppedOps, droppedAlerts };
  }

  private late(series: Series, ts: number): void {
    this.counts.late++;
    const rules: string[] = [];
    for (const b of series.samplers) {
      b.rt.late++;
      rules.push(b.rt.rule.id);
    }
    this.opts.onLate?.({ plant: series.plant, meter: series.meter, quantity: series.quantity, ts, watermark: series.buffer.watermark, rules });
  }

  /** The series, created and bound to its rules on first sight; undefined when nothing watches it. */
  private seriesFor(plant: string, meter: string, quantity: QuantityId): Series | undefined {
    let byMeter = this.tree.get(plant);
    if (!byMeter) this.tree.set(plant, (byMeter = new Map()));
    let byQuantity = byMeter.get(meter);
    if (!byQuantity) {
      byMeter.set(meter, (byQuantity = new Map()));
      if (this.hasMeterWide) this.meterWatchersFor(plant, meter);
    }
    if (byQuantity.has(quantity)) return byQuantity.get(quantity);
    const series = this.bind(plant, meter, quantity);
    byQuantity.set(quantity, series);
    if (series) this.allSeries.push(series);
    return series;
  }

  private bind(plant: string, meter: string, quantity: QuantityId): Series | undefined {
    const registry = this.opts.registry;
    if (registry && !registry.knows(plant, meter, quantity)) return undefined;
    const plantDef = registry?.plant(plant);
    const series = new Series(plant, meter, quantity, this.allowedLatenessMs);
    for (const rt of this.runtimes) {
      const sel = rt.rule.selector;
      if (!sel.quantity || sel.quantity !== quantity || !this.selects(rt, plant, plantDef, meter)) continue;
      const binding = this.binding(rt, plant, plantDef, meter, quantity);
      (binding.op.arrived ? series.watchers : series.samplers).push(binding);
    }
    return series.samplers.length || series.watchers.length ? series : undefined;
  }

  private selects(rt: RuleRuntime, plant: string, plantDef: Plant | undefined, meter: string): boolean {
    const sel = rt.rule.selector;
    if (sel.plants && !sel.plants.includes(plant)) return false;
    if (sel.industries && (!plantDef || !sel.industries.includes(plantDef.industry))) return false;
    if (sel.regions && (!plantDef || !sel.regions.includes(plantDef.region))) return false;
    if (sel.meters && !sel.meters.includes(meter)) return false;
    return true;
  }

  private binding(rt: RuleRuntime, plant: string, plantDef: Plant | undefined, meter: string, quantity: QuantityId | undefined): Binding {
    const limits = this.opts.limits;
    const ctx: BindContext = {
      plant: plantDef,
      plantId: plant,
      meter,
      quantity,
      catalogLimit: (atMs, standard) => (plantDef && quantity ? limits.lookup(plantDef, quantity, atMs, standard === undefined ? {} : { standard }) : NO_LIMIT),
      now: this.clock,
      baseline: (level) => (plantDef && quantity ? this.opts.baselines?.lookup(plantDef, quantity, level)?.value : undefined),
    };
    return { rt, op: rt.kind.create(rt.rule.params, ctx), slot: this.slotFor(rt, plant, meter, quantity ?? null) };
  }

  private slotFor(rt: RuleRuntime, plant: string, meter: string, quantity: QuantityId | null): AlertSlot {
    const def: QuantityDef | undefined = quantity ? QUANTITIES[quantity] : undefined;
    const what = def ? def.label : { en: '', zh: '' };
    const unit = def?.unit ?? '';
    const describe: Describe = (value, threshold) => rt.kind.describe(rt.rule.params, { plant, meter, what, unit, value, threshold });
    return this.book.slot(rt.rule, plant, meter, quantity, describe);
  }

  private meterWatchersFor(plant: string, meter: string): Binding[] {
    let byMeter = this.meterWatchers.get(plant);
    if (!byMeter) this.meterWatchers.set(plant, (byMeter = new Map()));
    let list = byMeter.get(meter);
    if (!list) {
      list = [];
      const registry = this.opts.registry;
      const plantDef = registry?.plant(plant);
      const known = !registry || registry.meter(plant, meter) !== undefined;
      for (const rt of known ? this.runtimes : []) {
        if (rt.rule.kind !== 'stale' || rt.rule.selector.quantity || !this.selects(rt, plant, plantDef, meter)) continue;
        list.push(this.binding(rt, plant, plantDef, meter, undefined));
      }
      byMeter.set(meter, list);
    }
    return list;
  }

  /** Deadman rules watch registry meters from the start, so a meter that never reports is caught as well. */
  private watchRegistryMeters(): void {
    const registry = this.opts.registry;
    if (!registry) return;
    const perQuantity = this.runtimes.some((rt) => rt.rule.kind === 'stale' && rt.rule.selector.quantity);
    for (const plant of registry.plants) {
      for (const meter of plant.meters) {
        if (this.hasMeterWide) this.meterWatchersFor(plant.id, meter.id);
        if (perQuantity) for (const q of meter.quantities) this.seriesFor(plant.id, meter.id, q);
      }
    }
  }
}

function fingerprint(rule: RuleConfig): string {
  return createHash('sha1').update(JSON.stringify(rule)).digest('hex').slice(0, 16);
}
