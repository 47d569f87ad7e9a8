/**
 * Faults: what goes wrong between a plant's true value and what a gateway publishes, scripted per plant, meter,
 * quantity and time window. Sample faults transform one point's sample (value, quality, source timestamp); feed faults
 * (duplicate, out_of_order) act on published batches and are applied by the feed generator (feed.ts).
 *
 * Every operator is a pure function of (fault, the layers below it, t): the servers, the feed and a test see the same
 * faulted value for the same instant. Faults on one point stack in the order they are listed, each on the result of
 * the ones before it (an excursion then tampering = a rising true load reported clipped under the limit).
 */
import type { QuantityId } from '../core/catalog.ts';
import { CleanstreamError } from '../core/errors.ts';
import type { Quality } from '../core/reading.ts';
import type { PlantModel } from './model.ts';
import { hashString, uniform } from './noise.ts';

export const SAMPLE_FAULT_KINDS = [
  'spike',
  'drift',
  'stuck',
  'dropout',
  'comm_loss',
  'out_of_range',
  'nan',
  'clock_skew',
  'counter_reset',
  'tampering',
  'excursion',
] as const;
export const FEED_FAULT_KINDS = ['duplicate', 'out_of_order'] as const;
export const FAULT_KINDS = [...SAMPLE_FAULT_KINDS, ...FEED_FAULT_KINDS] as const;
export type SampleFaultKind = (typeof SAMPLE_FAULT_KINDS)[number];
export type FeedFaultKind = (typeof FEED_FAULT_KINDS)[number];
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Modbus exception codes a dropped point answers with (Modbus Application Protocol V1.1b3 section 7). */
export const GATEWAY_TARGET_FAILED = 0x0b;
export const SLAVE_DEVICE_FAILURE = 0x04;

/**
 * Where and when a fault applies: [fromMs, toMs). No meter = every meter of the plant; no quantity = every quantity of
 * the meter. With `everyMs` the window comes again every everyMs after fromMs, without end (a demo's cycle): each
 * occurrence is a fault of its own, starting from the value at its own start.
 */
export interface FaultTarget {
  plant: string;
  meter?: string;
  quantity?: QuantityId;
  fromMs: number;
  toMs: number;
  /** The period of a repeating window (at least toMs − fromMs). */
  everyMs?: number;
}

export type FaultEffect =
  /** value × factor + add */
  | { kind: 'spike'; factor: number; add: number }
  /** value + perHour × hours since the window opened (calibration drift) */
  | { kind: 'drift'; perHour: number }
  /** the value at the window's start, held (a frozen analyser still reporting good quality) */
  | { kind: 'stuck' }
  /** no value for this point: OPC UA BadSensorFailure; Modbus answers `exception` to a read that touches it */
  | { kind: 'dropout'; exception: typeof GATEWAY_TARGET_FAILED | typeof SLAVE_DEVICE_FAILURE }
  /** the device does not answer at all: OPC UA BadNoCommunication; Modbus sends no response for the unit */
  | { kind: 'comm_loss' }
  /** a fixed reading outside the physical range (sensor over-range); Modbus integer encodings saturate */
  | { kind: 'out_of_range'; value: number }
  /** NaN: float32 NaN on Modbus (the integer encodings' invalid sentinel), Double NaN with a Bad status on OPC UA */
  | { kind: 'nan' }
  /** the source timestamp is off by offsetMs (OPC UA only: Modbus carries no timestamp) */
  | { kind: 'clock_skew'; offsetMs: number }
  /** a counter restarts from startAt at the window's start and totalises from there */
  | { kind: 'counter_reset'; startAt: number }
  /** readings above limit × (1 − margin) are reported just under it, whatever the true value */
  | { kind: 'tampering'; limit: number; margin: number }
  /**
   * A process excursion (treatment-plant upset, NOx excursion): the value rises over `riseMs` (the treatment plant's
   * lag) by `peak − value at start` (or to value × factor), holds, and returns over `fallMs` before the window closes.
   */
  | { kind: 'excursion'; peak?: number; factor?: number; riseMs: number; fallMs: number }
  /** every `every`-th batch of the plant in the window is published twice */
  | { kind: 'duplicate'; every: number }
  /** every `every`-th batch of the plant in the window is published after the next one */
  | { kind: 'out_of_order'; every: number };

export type Fault = FaultTarget & FaultEffect;
export type SampleFault = Fault & { kind: SampleFaultKind };
export type FeedFault = Fault & { kind: FeedFaultKind };

export function isFeedFault(fault: Fault): fault is FeedFault {
  return fault.kind === 'duplicate' || fault.kind === 'out_of_order';
}

/** A point's sample after faults. */
export interface FaultedSample {
  /** NaN when the source gives no number (nan, dropout, comm_loss). */
  value: number;
  quality: Quality;
  /** The source timestamp (ms): the tick, unless the clock is skewed. */
  ts: number;
  /** Why the point has no reading: it answers an error, or its device is silent. */
  missing?: 'dropout' | 'comm_loss';
  /** For a dropout: the Modbus exception code to answer. */
  exception?: number;
}

export type PointSampler = (tMs: number) => FaultedSample;

/** The start of the fault's occurrence that covers t, or undefined when none does. */
export function occurrenceAt(fault: FaultTarget, tMs: number): number | undefined {
  if (tMs < fault.fromMs) return undefined;
  const from = fault.everyMs === undefined ? fault.fromMs : fault.fromMs + Math.floor((tMs - fault.fromMs) / fault.everyMs) * fault.everyMs;
  return tMs < from + (fault.toMs - fault.fromMs) ? from : undefined;
}

export function faultActive(fault: FaultTarget, tMs: number): boolean {
  return occurrenceAt(fault, tMs) !== undefined;
}

export function faultCovers(fault: FaultTarget, plant: string, meter: string, quantity: QuantityId): boolean {
  return fault.plant === plant && (fault.meter === undefined || fault.meter === meter) && (fault.quantity === undefined || fault.quantity === quantity);
}

const MS_PER_HOUR = 3_600_000;

/** 0 → 1 with zero slope at both ends: an upset builds and fades rather than stepping. */
function smoothstep(x: number): number {
  const c = x <= 0 ? 0 : x >= 1 ? 1 : x;
  return c * c * (3 - 2 * c);
}

/** How far an excursion has developed at t: 0 before it, 1 at full height. */
export function excursionShape(fault: FaultTarget & { riseMs: number; fallMs: number }, tMs: number): number {
  const from = occurrenceAt(fault, tMs);
  if (from === undefined) return 0;
  const rising = fault.riseMs > 0 ? smoothstep((tMs - from) / fault.riseMs) : 1;
  const falling = fault.fallMs > 0 ? smoothstep((from + fault.toMs - fault.fromMs - tMs) / fault.fallMs) : 1;
  return Math.min(rising, falling);
}

/**
 * One fault applied on top of `below` (the point's sampler with the earlier faults). Outside the fault's window the
 * result is `below` unchanged. `key` seeds the fault's own noise (tampering's wobble under the limit).
 */
export function applyFault(fault: SampleFault, below: PointSampler, key: number): PointSampler {
  const at = (tMs: number, effect: (s: FaultedSample, from: number) => FaultedSample): FaultedSample => {
    const s = below(tMs);
    const from = occurrenceAt(fault, tMs);
    return from === undefined ? s : effect(s, from);
  };
  /** A value taken once per occurrence at its start (stuck's held value, an excursion's base, a counter at its reset). */
  const atOccurrenceStart = (): ((from: number) => number) => {
    let cached: { from: number; value: number } | undefined;
    return (from) => {
      if (cached?.from !== from) cached = { from, value: below(from).value };
      return cached.value;
    };
  };
  switch (fault.kind) {
    case 'spike':
      return (t) => at(t, (s) => ({ ...s, value: s.value * fault.factor + fault.add }));
    case 'drift':
      return (t) => at(t, (s, from) => ({ ...s, value: s.value + (fault.perHour * (t - from)) / MS_PER_HOUR }));
    case 'stuck': {
      const held = atOccurrenceStart();
      return (t) => at(t, (s, from) => ({ ...s, value: held(from) }));
    }
    case 'dropout':
      return (t) => at(t, (s) => ({ ...s, value: Number.NaN, quality: 'bad', missing: 'dropout', exception: fault.exception }));
    case 'comm_loss':
      return (t) => at(t, (s) => ({ ...s, value: Number.NaN, quality: 'bad', missing: 'comm_loss' }));
    case 'out_of_range':
      return (t) => at(t, (s) => ({ ...s, value: fault.value }));
    case 'nan':
      return (t) => at(t, (s) => ({ ...s, value: Number.NaN, quality: 'bad' }));
    case 'clock_skew':
      return (t) => at(t, (s) => ({ ...s, ts: s.ts + fault.offsetMs }));
    case 'counter_reset': {
      const atReset = atOccurrenceStart();
      return (t) => at(t, (s, from) => ({ ...s, value: fault.startAt + s.value - atReset(from) }));
    }
    case 'tampering': {
      const ceiling = fault.limit * (1 - fault.margin);
      // reported values wobble within the top half of the margin so that the clipping is not a flat line
      const wobble = (fault.limit * fault.margin) / 2;
      return (t) => at(t, (s) => (s.value > ceiling ? { ...s, value: ceiling - wobble * uniform(key, Math.floor(t / 1000)) } : s));
    }
    case 'excursion': {
      const startValue = atOccurrenceStart();
      return (t) =>
        at(t, (s, from) => {
          const shape = excursionShape(fault, t);
          if (fault.factor !== undefined) return { ...s, value: s.value * (1 + shape * (fault.factor - 1)) };
          const base = startValue(from);
          return { ...s, value: s.value + shape * ((fault.peak ?? base) - base) };
        });
    }
  }
}

/** The faulted samples of every point of a set of plant models; points without faults cost one model sample. */
export interface FaultPlan {
  /** The faulted sampler of one point (built once, then cached): for hot loops. */
  sampler(plant: string, meter: string, quantity: QuantityId): PointSampler;
  sample(plant: string, meter: string, quantity: QuantityId, tMs: number): FaultedSample;
  /** Whether a comm_loss covering the whole plant (no meter given) is active: its device does not answer at all. */
  deviceSilent(plant: string, tMs: number): boolean;
  /** The duplicate / out_of_order faults of a plant, in scenario order. */
  feedFaults(plant: string): FeedFault[];
}

export function createFaultPlan(models: ReadonlyMap<string, PlantModel>, faults: readonly Fault[] = []): FaultPlan {
  const samplers = new Map<string, PointSampler>();
  const sampleFaults = faults.map((f, index) => ({ f, index })).filter((x): x is { f: SampleFault; index: number } => !isFeedFault(x.f));
  const silentFaults = sampleFaults.filter(({ f }) => f.kind === 'comm_loss' && f.meter === undefined).map(({ f }) => f);

  const build = (plant: string, meter: string, quantity: QuantityId): PointSampler => {
    const model = models.get(plant);
    if (!model) throw new CleanstreamError('SIM_UNKNOWN_POINT', `no simulated plant ${plant}`, { plant, meter, quantity });
    let sampler: PointSampler = (t) => ({ value: model.sample(meter, quantity, t).value, quality: 'good', ts: t });
    for (const { f, index } of sampleFaults) {
      if (faultCovers(f, plant, meter, quantity)) sampler = applyFault(f, sampler, hashString(`${plant}\u0000${meter}\u0000${quantity}\u0000${index}`, model.seed >>> 0));
    }
    return sampler;
  };

  const sampler = (plant: string, meter: string, quantity: QuantityId): PointSampler => {
    const key = `${plant}\u0000${meter}\u0000${quantity}`;
    let found = samplers.get(key);
    if (!found) {
      found = build(plant, meter, quantity);
      samplers.set(key, found);
    }
    return found;
  };

  return {
    sampler,
    sample: (plant, meter, quantity, tMs) => sampler(plant, meter, quantity)(tMs),
    deviceSilent: (plant, tMs) => silentFaults.some((f) => f.plant === plant && faultActive(f, tMs)),
    feedFaults: (plant) => faults.filter((f): f is FeedFault => isFeedFault(f) && f.plant === plant),
  };
}
