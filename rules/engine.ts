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
 *
 * Memory (1,000 plants × 20 meters × 100 rules is 2,000,000 bindings): a series is bound to its rules when its first
 * reading arrives; a binding is one small object that is its own alert port, its alert slot (and message closure)
 * made on the first trigger; stateless operators (instantaneous limits) are shared by every series of a rule, or of
 * a plant when the limit is the plant's catalog limit; the context an operator is created with is one per plant ×
 * quantity, not per binding.
 */
import { createHash } from 'node:crypto';
import { CleanstreamError } from '../core/errors.ts';
import { quantityDef, unitFactor, type QuantityDef, type QuantityId } from '../core/catalog.ts';
import type { Plant, PlantRegistry } from '../core/plants.ts';
import type { Quality, ReadingBatch } from '../core/reading.ts';
import { AlertBook, type Alert, type AlertSlot, type AlertTransition, type Describe, type SlotState } from './alerts.ts';
import type { RuleConfig } from './config.ts';
import { RULE_KINDS } from './kinds/index.ts';
import { BAD, GOOD, isPlantOperator, UNCERTAIN, type AlertPort, type BindContext, type Operator, type QualityCode, type RuleKind, type Threshold } from './kinds/types.ts';
import type { LimitLookup, LimitsCatalog } from './limits/catalog.ts';
import type { BaselineBook, EnergyCoefficients, EnergyQuantity } from './baselines.ts';
import { ReorderBuffer, SharedWindows, type BucketedState, type ReorderState, type SampleSink } from './windows.ts';

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
  /** Static baselines for `baseline` and `intensity` rules (they need the registry too). */
  baselines?: BaselineBook;
  /** Standard-coal coefficients for `intensity` rules on energy. */
  energy?: EnergyCoefficients;
  allowedLatenessMs?: number;
  idleFlushMs?: number;
  clock?: () => number;
  /** Event time between history rows of an open alert's re-triggers (default 5 min; new peaks always get one). */
  retriggerRowIntervalMs?: number;
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

/**
 * A snapshot being taken without stopping the engine (RulesEngine.beginSnapshot), plant by plant: each plant's state
 * (its series, its meter-wide and plant-level operators, its open alerts) exactly as it is when its turn comes, so
 * nothing is copied on the hot path. `head` is complete at once; the series come as JSON texts from take(), in plant
 * order, and the plants' own entries from takePlants() once take() is done.
 *
 * A plant taken after readings arrived for it holds what those readings did: whoever feeds the engine records which
 * batches reached a plant still `pending` (the service records their message keys) and hands them to `includedOf`
 * when the plant is taken, so that a restart from this snapshot does not judge them again.
 */
export interface SnapshotCapture {
  readonly head: Omit<EngineSnapshot, 'series'>;
  /**
   * The engine's generation this capture covers: changes made before it began. A delta capture after this one is
   * durable asks for `{ changedSince: generation + 1 }`.
   */
  readonly generation: number;
  /** Series entries of the next plants, about `max` of them, as JSON texts of EngineSnapshot['series'] items; done when every plant is taken. */
  take(max: number): { pieces: string[]; done: boolean };
  /** The entries of the plants taken so far (JSON texts of EngineSnapshot['plants'] items); done once take() was done and all are handed out. */
  takePlants(max: number): { pieces: string[]; done: boolean };
  /** Whether the plant is still to be taken (a batch judged for it now is in this snapshot). */
  pending(plant: string): boolean;
  /** Stop capturing (the checkpoint could not be written). */
  abandon(): void;
}

export interface SnapshotOptions {
  /** Take only the plants changed in or after this generation (an incremental checkpoint). */
  changedSince?: number;
  /** The batches (message keys) judged for a plant since the capture began, asked when the plant is taken. */
  includedOf?: (plant: string) => string[];
  /** Told once a plant is taken. */
  onTaken?: (plant: string) => void;
}

/** One plant's state apart from its series: meter-wide and plant-level operators, open alerts, the batches it has judged that a checkpoint's acknowledgements do not cover. */
export interface PlantEntry {
  plant: string;
  meters: EngineSnapshot['meters'];
  alerts: SlotState[];
  /** Message keys (`gateway|seq:sentAt`) of batches already in this state although not acknowledged with the checkpoint. */
  included: string[];
}

export interface EngineSnapshot {
  version: 1;
  takenAt: number;
  series: {
    key: [plant: string, meter: string, quantity: string];
    buffer: ReorderState;
    lastArrival: number | null;
    ops: OpState[];
    /** The sliding windows the series' rules share (SharedWindows), by what they hold. */
    windows?: Record<string, BucketedState>;
  }[];
  /** Meter-wide and plant-level operators of every plant (a whole snapshot; a sliced one has them in `plants`). */
  meters: { key: [plant: string, meter: string]; ops: OpState[] }[];
  /** Open alerts (a whole snapshot; a sliced one has them in `plants`). */
  alerts: SlotState[];
  /** A sliced snapshot: each plant's state apart from its series, taken with them. */
  plants?: PlantEntry[];
  lateByRule: Record<string, number>;
  /**
   * Each rule's fingerprint (it changes when the rule's definition does: state of a different rule is not restored
   * into it), once here rather than with each of the millions of operator states.
   */
  fingerprints?: Record<string, string>;
}

/** An operator's state: its rule and what Operator.snapshot() returned (checkpoints before `fingerprints`: an object with its own). */
type OpState = [rule: string, state: unknown] | { rule: string; fingerprint: string; state: unknown };

interface RuleRuntime {
  rule: RuleConfig;
  kind: RuleKind;
  fingerprint: string;
  late: number;
  /** How its operators are shared (RuleKind.sharing), and the shared ones by plant ('' when one serves the rule). */
  sharing: 'rule' | 'plant' | undefined;
  shared: Map<string, Operator>;
  /** Plant-level kinds: the quantities they read, and their operator's port by plant. */
  plantInputs: ReadonlySet<QuantityId> | undefined;
  ports: Map<string, Binding>;
}

/** Makes the alert slot of a binding when it first needs one. */
interface SlotMaker {
  slotFor(b: Binding): AlertSlot;
}

/**
 * One rule bound to one series (or, for meter-wide deadman rules, one meter): its operator and the alert port it
 * reports to. The alert slot behind the port is made on the first trigger: most bindings never raise anything.
 */
class Binding implements AlertPort {
  slot: AlertSlot | undefined;

  constructor(
    readonly rt: RuleRuntime,
    readonly op: Operator,
    readonly plant: string,
    readonly meter: string,
    readonly quantity: QuantityId | null,
    private readonly slots: SlotMaker,
  ) {}

  get open(): boolean {
    return this.slot !== undefined && this.slot.open;
  }

  trigger(ts: number, value: number, threshold: Threshold | undefined): void {
    (this.slot ??= this.slots.slotFor(this)).trigger(ts, value, threshold);
  }

  relax(): void {
    this.slot?.relax();
  }

  clear(ts: number, value: number): void {
    this.slot?.clear(ts, value);
  }

  renotify(now: number, value: number): void {
    this.slot?.renotify(now, value);
  }
}

const NO_LIMIT: LimitLookup = { limit: undefined, validFrom: -Infinity, validUntil: Infinity };

function qualityCode(q: Quality): QualityCode {
  return q === 'good' ? GOOD : q === 'uncertain' ? UNCERTAIN : BAD;
}

class Series implements SampleSink {
  readonly buffer: ReorderBuffer;
  /** Operators fed with samples (everything but deadman rules). */
  readonly samplers: Binding[] = [];
  /**
   * The samplers whose operators want watermarks (windows), so that the second pass per reading skips the rest:
   * with 100 rules per series most are instantaneous and this halves the calls per reading.
   */
  watermarkers: Binding[] = [];
  /** Operators told of every arrival (deadman rules). */
  readonly watchers: Binding[] = [];
  /** Sliding windows read by several rules, fed here once per sample before the rules judge it. */
  readonly windows = new SharedWindows();
  lastArrival = -Infinity;
  private signalledWatermark = -Infinity;
  lastUnit = '';
  lastFactor: number | undefined;

  constructor(
    readonly owner: PlantInfo,
    readonly meter: string,
    readonly quantity: QuantityId,
    allowedLatenessMs: number,
  ) {
    this.buffer = new ReorderBuffer(allowedLatenessMs);
  }

  get plant(): string {
    return this.owner.id;
  }

  deliver(ts: number, value: number, quality: QualityCode): void {
    this.windows.feed(ts, value, quality);
    const s = this.samplers;
    for (let i = 0; i < s.length; i++) {
      const b = s[i]!;
      b.op.sample(ts, value, quality, b);
    }
  }

  /** After a release: tell window operators how far event time is complete. */
  signalWatermark(): void {
    const w = this.buffer.watermark;
    if (w <= this.signalledWatermark) return;
    this.signalledWatermark = w;
    const s = this.watermarkers;
    for (let i = 0; i < s.length; i++) s[i]!.op.watermark!(w, s[i]!);
  }
}

/** What a snapshot needs of a plant: its series, when it last changed and whether the capture in progress has taken it. */
interface PlantInfo {
  readonly id: string;
  readonly series: Series[];
  /** The engine generation of its last change (incremental checkpoints take only plants changed since the last one). */
  changedGen: number;
  /** The capture that has yet to take it (0: none). */
  pendingFor: number;
}

interface Capture {
  id: number;
  plants: PlantInfo[];
  cursor: number;
  changedSince: number;
  opts: SnapshotOptions;
  /** Entries of plants taken, for takePlants(). */
  plantPieces: string[];
  /** Series entries taken ahead of take() (a new capture began before this one's writer was done). */
  ready: string[];
}

export class RulesEngine implements SlotMaker {
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
  /** The snapshot capture in progress, if any. */
  private capture: Capture | undefined;
  private captures = 0;
  /** Advanced when a capture begins: a plant's changedGen says after which capture it last changed. */
  private generation = 1;
  private readonly plantInfos = new Map<string, PlantInfo>();
  /** Operator contexts, one per plant × quantity (closures made once, not per binding). */
  private readonly contexts = new Map<string, BindContext>();

  constructor(private readonly opts: EngineOptions) {
    this.clock = opts.clock ?? Date.now;
    this.allowedLatenessMs = opts.allowedLatenessMs ?? 5_000;
    this.idleFlushMs = opts.idleFlushMs ?? 10_000;
    const onTransition = opts.onTransition;
    this.book = new AlertBook(this.clock, (t) => {
      this.transitions[t.transition] = (this.transitions[t.transition] ?? 0) + 1;
      this.plantInfo(t.alert.plant).changedGen = this.generation;
      onTransition?.(t);
    }, opts.retriggerRowIntervalMs);
    this.runtimes = opts.rules
      .filter((r) => r.enabled)
      .map((rule) => {
        const kind = RULE_KINDS[rule.kind] as RuleKind;
        const inputs = kind.plantInputs?.(rule.params);
        return { rule, kind, fingerprint: fingerprint(rule), late: 0, sharing: kind.sharing?.(rule.params), shared: new Map<string, Operator>(), plantInputs: inputs ? new Set(inputs) : undefined, ports: new Map<string, Binding>() };
      });
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
    if (watchers?.length) {
      this.plantInfo(plant).changedGen = this.generation;
      for (const w of watchers) w.op.arrived?.(now, value !== null, w);
    }
    if (!series) {
      if (!watchers?.length) this.counts.unwatched++;
      return;
    }
    series.owner.changedGen = this.generation;
    series.lastArrival = now;
    for (const w of series.watchers) w.op.arrived?.(now, value !== null, w);
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
      if (s.watchers.length || s.buffer.pending > 0) s.owner.changedGen = this.generation;
      if (s.buffer.pending > 0 && now - s.lastArrival >= this.idleFlushMs) {
        s.buffer.flush(s);
        s.signalWatermark();
      }
      for (const w of s.watchers) w.op.tick?.(now, w);
    }
    for (const [plant, meters] of this.meterWatchers) {
      let ticked = false;
      for (const list of meters.values()) {
        for (const w of list) {
          ticked = true;
          w.op.tick?.(now, w);
        }
      }
      if (ticked) this.plantInfo(plant).changedGen = this.generation;
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

  /** The whole state at once (tests, and the last checkpoint at stop); the service uses beginSnapshot while running. */
  snapshot(): EngineSnapshot {
    return { ...this.snapshotHead(true), series: this.allSeries.map((s) => this.seriesEntry(s)) };
  }

  /**
   * Start a snapshot to be taken in slices while readings keep coming, plant by plant (see SnapshotCapture): a
   * plant's series, meter-wide operators and alerts are taken together when its turn comes, so a checkpoint of
   * 20,000 series × 100 rules neither copies state on the hot path nor holds alerts up for longer than one slice.
   * A capture still open when the next begins is completed first.
   *
   * With `changedSince` (an incremental checkpoint) only plants changed in or after that generation are taken: the
   * others are on disk already, in the checkpoint whose capture had generation `changedSince - 1` or an older one.
   */
  beginSnapshot(opts: SnapshotOptions = {}): SnapshotCapture {
    if (this.capture) this.finishCapture(this.capture);
    const capture: Capture = { id: ++this.captures, plants: [...this.plantInfos.values()], cursor: 0, changedSince: opts.changedSince ?? 0, opts, plantPieces: [], ready: [] };
    for (const info of capture.plants) info.pendingFor = capture.id;
    this.capture = capture;
    const head = this.snapshotHead(false);
    const generation = this.generation++;
    return {
      head,
      generation,
      take: (max) => {
        const pieces = capture.ready.splice(0, capture.ready.length);
        while (pieces.length < max && capture.cursor < capture.plants.length) this.takePlant(capture, pieces);
        const done = capture.cursor >= capture.plants.length;
        if (done && this.capture === capture) this.capture = undefined;
        return { pieces, done };
      },
      takePlants: (max) => {
        const pieces = capture.plantPieces.splice(0, max);
        return { pieces, done: capture.cursor >= capture.plants.length && !capture.plantPieces.length };
      },
      pending: (plant) => this.capture === capture && this.plantInfos.get(plant)?.pendingFor === capture.id,
      abandon: () => {
        for (const info of capture.plants) if (info.pendingFor === capture.id) info.pendingFor = 0;
        if (this.capture === capture) this.capture = undefined;
      },
    };
  }

  /** Take one plant of a capture: its series entries into `pieces`, its own entry for takePlants(). */
  private takePlant(capture: Capture, pieces: string[]): void {
    const info = capture.plants[capture.cursor++]!;
    if (info.pendingFor !== capture.id) return;
    info.pendingFor = 0;
    if (info.changedGen < capture.changedSince) return; // unchanged since a durable checkpoint took it
    for (const s of info.series) pieces.push(JSON.stringify(this.seriesEntry(s)));
    const entry: PlantEntry = { plant: info.id, meters: this.meterEntries(info.id), alerts: this.book.snapshotPlant(info.id), included: capture.opts.includedOf?.(info.id) ?? [] };
    capture.plantPieces.push(JSON.stringify(entry));
    capture.opts.onTaken?.(info.id);
  }

  /** Take what a capture still lacks now (a new capture begins while it is being written). */
  private finishCapture(capture: Capture): void {
    while (capture.cursor < capture.plants.length) this.takePlant(capture, capture.ready);
    this.capture = undefined;
  }

  private meterEntries(plant: string): EngineSnapshot['meters'] {
    const out: EngineSnapshot['meters'] = [];
    for (const [meter, list] of this.meterWatchers.get(plant) ?? []) if (list.length) out.push({ key: [plant, meter], ops: opStates(list) });
    return out;
  }

  private plantInfo(plant: string): PlantInfo {
    let info = this.plantInfos.get(plant);
    if (!info) this.plantInfos.set(plant, (info = { id: plant, series: [], changedGen: this.generation, pendingFor: 0 }));
    return info;
  }

  /** Everything but the series; with `whole` false (a sliced snapshot) without meters and alerts, which come per plant. */
  private snapshotHead(whole: boolean): Omit<EngineSnapshot, 'series'> {
    const meters: EngineSnapshot['meters'] = [];
    if (whole) for (const plant of this.meterWatchers.keys()) meters.push(...this.meterEntries(plant));
    const lateByRule: Record<string, number> = {};
    for (const rt of this.runtimes) if (rt.late) lateByRule[rt.rule.id] = rt.late;
    const fingerprints: Record<string, string> = {};
    for (const rt of this.runtimes) fingerprints[rt.rule.id] = rt.fingerprint;
    return { version: 1, takenAt: this.clock(), meters, alerts: whole ? this.book.snapshot() : [], lateByRule, fingerprints };
  }

  private seriesEntry(s: Series): EngineSnapshot['series'][number] {
    return {
      key: [s.plant, s.meter, s.quantity],
      buffer: s.buffer.snapshot(),
      lastArrival: Number.isFinite(s.lastArrival) ? s.lastArrival : null,
      ops: opStates(s.samplers.length && s.watchers.length ? [...s.samplers, ...s.watchers] : s.watchers.length ? s.watchers : s.samplers),
      ...(s.windows.size ? { windows: s.windows.snapshot() } : {}),
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
        const [rule, fingerprint, state] = Array.isArray(st) ? [st[0], snap.fingerprints?.[st[0]], st[1]] : [st.rule, st.fingerprint, st.state];
        const b = bindings.find((x) => x.rt.rule.id === rule);
        if (b && fingerprint !== undefined && b.rt.fingerprint === fingerprint) b.op.restore(state);
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
      if (s.windows) series.windows.restore(s.windows);
    }
    const plants = snap.plants ?? [];
    for (const m of [...snap.meters, ...plants.flatMap((p) => p.meters)]) {
      const [plant, meter] = m.key;
      this.plantPortsFor(plant);
      restoreOps(this.meterWatchersFor(plant, meter), m.ops);
    }
    for (const a of [...snap.alerts, ...plants.flatMap((p) => p.alerts)]) {
      const rt = this.byId.get(a.key[0]);
      if (!rt) {
        droppedAlerts++;
        continue;
      }
      const slot = this.slot(rt, a.key[1], a.key[2], a.alert.quantity as QuantityId | null);
      slot.restore(a);
      this.plantInfo(a.key[1]); // so that the next snapshot takes the alert again
      // bindings made before the restore (deadman rules watch registry meters from the start) report to it
      const binding = this.bindingOf(rt, a.key[1], a.key[2]);
      if (binding) binding.slot = slot;
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
    if (series) {
      this.allSeries.push(series);
      series.owner.series.push(series);
      series.owner.changedGen = this.generation;
    }
    return series;
  }

  private bind(plant: string, meter: string, quantity: QuantityId): Series | undefined {
    const registry = this.opts.registry;
    if (registry && !registry.knows(plant, meter, quantity)) return undefined;
    const plantDef = registry?.plant(plant);
    const series = new Series(this.plantInfo(plant), meter, quantity, this.allowedLatenessMs);
    let ctx: BindContext | undefined;
    for (const rt of this.runtimes) {
      const sel = rt.rule.selector;
      if (rt.plantInputs) {
        if (!rt.plantInputs.has(quantity) || !this.selectsPlant(rt, plant, plantDef)) continue;
        const port = this.plantPort(rt, plant, plantDef);
        const op = isPlantOperator(port.op) ? port.op.inputFor(meter, quantity, port) : undefined;
        if (op) series.samplers.push(new Binding(rt, op, plant, meter, quantity, this));
        continue;
      }
      if (!sel.quantity || sel.quantity !== quantity || !this.selects(rt, plant, plantDef, meter)) continue;
      const binding = this.binding(rt, plant, (ctx ??= this.context(plant, plantDef, quantity)), meter, series.windows);
      (binding.op.arrived ? series.watchers : series.samplers).push(binding);
    }
    series.watermarkers = series.samplers.filter((b) => typeof b.op.watermark === 'function');
    return series.samplers.length || series.watchers.length ? series : undefined;
  }

  /**
   * The port of a plant-level rule's operator at a plant: made with the first input series, kept with the
   * meter-wide bindings of its alert meter (so it is snapshot, restored and ticked with them).
   */
  private plantPort(rt: RuleRuntime, plant: string, plantDef: Plant | undefined): Binding {
    let port = rt.ports.get(plant);
    if (port) return port;
    const meter = rt.kind.plantAlertMeter?.(rt.rule.params, plantDef) ?? 'plant';
    port = new Binding(rt, rt.kind.create(rt.rule.params, this.context(plant, plantDef, undefined), NO_SERIES_WINDOWS), plant, meter, null, this);
    if (this.book.size) port.slot = this.book.find(rt.rule.id, plant, meter);
    rt.ports.set(plant, port);
    this.meterWatchersFor(plant, meter).push(port);
    return port;
  }

  /** Every plant-level rule's port at a plant (before restoring their state). */
  private plantPortsFor(plant: string): void {
    const plantDef = this.opts.registry?.plant(plant);
    for (const rt of this.runtimes) if (rt.plantInputs && this.selectsPlant(rt, plant, plantDef)) this.plantPort(rt, plant, plantDef);
  }

  private selectsPlant(rt: RuleRuntime, plant: string, plantDef: Plant | undefined): boolean {
    const sel = rt.rule.selector;
    if (sel.plants && !sel.plants.includes(plant)) return false;
    if (sel.industries && (!plantDef || !sel.industries.includes(plantDef.industry))) return false;
    if (sel.regions && (!plantDef || !sel.regions.includes(plantDef.region))) return false;
    return true;
  }

  private selects(rt: RuleRuntime, plant: string, plantDef: Plant | undefined, meter: string): boolean {
    const sel = rt.rule.selector;
    if (sel.plants && !sel.plants.includes(plant)) return false;
    if (sel.industries && (!plantDef || !sel.industries.includes(plantDef.industry))) return false;
    if (sel.regions && (!plantDef || !sel.regions.includes(plantDef.region))) return false;
    if (sel.meters && !sel.meters.includes(meter)) return false;
    return true;
  }

  private binding(rt: RuleRuntime, plant: string, ctx: BindContext, meter: string, windows: SharedWindows): Binding {
    let op: Operator | undefined;
    const sharedKey = rt.sharing === 'rule' ? '' : rt.sharing === 'plant' ? plant : undefined;
    if (sharedKey !== undefined) op = rt.shared.get(sharedKey);
    if (!op) {
      op = rt.kind.create(rt.rule.params, ctx, windows);
      if (sharedKey !== undefined) rt.shared.set(sharedKey, op);
    }
    const binding = new Binding(rt, op, plant, meter, ctx.quantity ?? null, this);
    // an alert restored or raised before this binding existed
    if (this.book.size) binding.slot = this.book.find(rt.rule.id, plant, meter);
    return binding;
  }

  private context(plant: string, plantDef: Plant | undefined, quantity: QuantityId | undefined): BindContext {
    const key = `${plant}\u0000${quantity ?? ''}`;
    let ctx = this.contexts.get(key);
    if (ctx) return ctx;
    const limits = this.opts.limits;
    ctx = {
      plant: plantDef,
      plantId: plant,
      quantity,
      catalogLimit: (atMs, standard) => (plantDef && quantity ? limits.lookup(plantDef, quantity, atMs, standard === undefined ? {} : { standard }) : NO_LIMIT),
      now: this.clock,
      baseline: (level) => (plantDef && quantity ? this.opts.baselines?.lookup(plantDef, quantity, level)?.value : undefined),
      baselineOf: (indicator, level) => (plantDef ? this.opts.baselines?.lookup(plantDef, indicator, level)?.value : undefined),
      kgcePer: (q) => (ENERGY_QUANTITIES.has(q) ? this.opts.energy?.kgcePer(plant, q as EnergyQuantity) : undefined),
    };
    this.contexts.set(key, ctx);
    return ctx;
  }

  /** @internal a binding's first trigger */
  slotFor(b: Binding): AlertSlot {
    return this.slot(b.rt, b.plant, b.meter, b.quantity);
  }

  private slot(rt: RuleRuntime, plant: string, meter: string, quantity: QuantityId | null): AlertSlot {
    const def: QuantityDef | undefined = quantity ? quantityDef(quantity) : undefined;
    const what = def ? def.label : { en: '', zh: '' };
    const unit = def?.unit ?? '';
    // names for people; a plant or meter the registry does not know (or names not) is called by its id
    const plantName = this.opts.registry?.plant(plant)?.name ?? { en: plant, zh: plant };
    const meterName = this.opts.registry?.meter(plant, meter)?.name ?? { en: meter, zh: meter };
    const describe: Describe = (value, threshold) => rt.kind.describe(rt.rule.params, { plant, meter, plantName, meterName, what, unit, value, threshold });
    const valueUnit = rt.kind.valueUnit ? rt.kind.valueUnit(rt.rule.params, unit) : unit || null;
    return this.book.slot(rt.rule, plant, meter, quantity, describe, valueUnit);
  }

  /** The existing binding of a rule to a meter (any of its series), if any. */
  private bindingOf(rt: RuleRuntime, plant: string, meter: string): Binding | undefined {
    const meterWide = this.meterWatchers.get(plant)?.get(meter)?.find((b) => b.rt === rt);
    if (meterWide) return meterWide;
    for (const series of this.tree.get(plant)?.get(meter)?.values() ?? []) {
      const b = series?.samplers.find((x) => x.rt === rt) ?? series?.watchers.find((x) => x.rt === rt);
      if (b) return b;
    }
    return undefined;
  }

  private meterWatchersFor(plant: string, meter: string): Binding[] {
    let byMeter = this.meterWatchers.get(plant);
    if (!byMeter) {
      this.meterWatchers.set(plant, (byMeter = new Map()));
      this.plantInfo(plant); // its meter-wide state goes into snapshots with the plant
    }
    let list = byMeter.get(meter);
    if (!list) {
      list = [];
      const registry = this.opts.registry;
      const plantDef = registry?.plant(plant);
      const known = !registry || registry.meter(plant, meter) !== undefined;
      for (const rt of known ? this.runtimes : []) {
        if (rt.rule.kind !== 'stale' || rt.rule.selector.quantity || !this.selects(rt, plant, plantDef, meter)) continue;
        list.push(this.binding(rt, plant, this.context(plant, plantDef, undefined), meter, NO_SERIES_WINDOWS));
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

/** What plant-level and meter-wide operators are made with: they are bound to no one series, so they have no series windows. */
class NoSeriesWindows extends SharedWindows {
  override oldest(): never {
    throw new CleanstreamError('RULE_KIND', 'a plant-level or meter-wide rule kind asked for a series window');
  }

  override flagged(): never {
    return this.oldest();
  }
}
const NO_SERIES_WINDOWS = new NoSeriesWindows();

const ENERGY_QUANTITIES = new Set<QuantityId>(['active_energy', 'active_power', 'natural_gas_flow', 'steam_flow']);

/** Operator states for a snapshot; shared operators and those without state of their own (null) are left out. */
function opStates(bindings: readonly Binding[]): OpState[] {
  const out: OpState[] = [];
  for (const b of bindings) {
    if (b.rt.sharing) continue;
    const state = b.op.snapshot();
    if (state !== null) out.push([b.rt.rule.id, state]);
  }
  return out;
}

function fingerprint(rule: RuleConfig): string {
  return createHash('sha1').update(JSON.stringify(rule)).digest('hex').slice(0, 16);
}
