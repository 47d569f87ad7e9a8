/**
 * Event-time machinery: a per-series reorder buffer with a watermark, and tumbling and sliding windows.
 *
 * Watermark = the greatest event time seen on the series minus the allowed lateness. Samples at or before the
 * watermark are released to the operators in event-time order; a sample that arrives older than the watermark is
 * late: it is refused, and the caller counts it and logs it (eKuiper drops late events silently; we do not).
 * With an allowed lateness of 0 every in-order sample is released at once and any older one is late.
 *
 * Storage is parallel typed arrays, so buffering a sample allocates nothing; the buffer grows only when a series is
 * more than its capacity out of order.
 */
import type { QualityCode } from './kinds/types.ts';

/** Where released samples go (one object per series, so no closure per sample). */
export interface SampleSink {
  deliver(ts: number, value: number, quality: QualityCode): void;
}

export interface ReorderState {
  maxTs: number | null;
  watermark: number | null;
  /** [ts, value (null for NaN), quality] in event-time order. */
  pending: [number, number | null, number][];
}

const nullIfInfinite = (x: number): number | null => (Number.isFinite(x) ? x : null);

export class ReorderBuffer {
  private ts: Float64Array;
  private value: Float64Array;
  private quality: Uint8Array;
  private head = 0;
  private tail = 0;
  /** Greatest event time pushed so far. */
  maxTs = -Infinity;
  /** No sample before this will be accepted any more. */
  watermark = -Infinity;

  constructor(
    readonly allowedLatenessMs: number,
    initialCapacity = 8,
  ) {
    this.ts = new Float64Array(initialCapacity);
    this.value = new Float64Array(initialCapacity);
    this.quality = new Uint8Array(initialCapacity);
  }

  get pending(): number {
    return this.tail - this.head;
  }

  /** Buffer a sample; false when it is late (older than the watermark), in which case nothing is stored. */
  push(ts: number, value: number, quality: QualityCode): boolean {
    if (ts < this.watermark) return false;
    if (this.tail === this.ts.length) this.makeRoom();
    // Insertion from the end: in-order samples (the usual case) cost one comparison. Equal times keep arrival order.
    let i = this.tail;
    while (i > this.head && this.ts[i - 1]! > ts) i--;
    if (i < this.tail) {
      this.ts.copyWithin(i + 1, i, this.tail);
      this.value.copyWithin(i + 1, i, this.tail);
      this.quality.copyWithin(i + 1, i, this.tail);
    }
    this.ts[i] = ts;
    this.value[i] = value;
    this.quality[i] = quality;
    this.tail++;
    if (ts > this.maxTs) {
      this.maxTs = ts;
      const w = ts - this.allowedLatenessMs;
      if (w > this.watermark) this.watermark = w;
    }
    return true;
  }

  /** Deliver, in event-time order, every buffered sample at or before the watermark. Returns how many. */
  release(sink: SampleSink): number {
    let released = 0;
    while (this.head < this.tail && this.ts[this.head]! <= this.watermark) {
      const i = this.head++;
      released++;
      sink.deliver(this.ts[i]!, this.value[i]!, this.quality[i] as QualityCode);
    }
    if (this.head === this.tail) this.head = this.tail = 0;
    return released;
  }

  /**
   * The source went quiet: stop waiting for stragglers. The watermark jumps to the greatest event time seen and
   * everything buffered is released.
   */
  flush(sink: SampleSink): number {
    if (this.maxTs > this.watermark) this.watermark = this.maxTs;
    return this.release(sink);
  }

  snapshot(): ReorderState {
    const pending: [number, number | null, number][] = [];
    for (let i = this.head; i < this.tail; i++) {
      const v = this.value[i]!;
      pending.push([this.ts[i]!, v === v ? v : null, this.quality[i]!]);
    }
    return { maxTs: nullIfInfinite(this.maxTs), watermark: nullIfInfinite(this.watermark), pending };
  }

  restore(state: ReorderState): void {
    this.head = this.tail = 0;
    this.maxTs = state.maxTs ?? -Infinity;
    this.watermark = state.watermark ?? -Infinity;
    for (const [ts, v, q] of state.pending) {
      if (this.tail === this.ts.length) this.makeRoom();
      this.ts[this.tail] = ts;
      this.value[this.tail] = v ?? NaN;
      this.quality[this.tail] = q;
      this.tail++;
    }
  }

  private makeRoom(): void {
    if (this.head > 0) {
      this.ts.copyWithin(0, this.head, this.tail);
      this.value.copyWithin(0, this.head, this.tail);
      this.quality.copyWithin(0, this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
      if (this.tail < this.ts.length) return;
    }
    const grow = <A extends Float64Array | Uint8Array>(a: A, make: (n: number) => A): A => {
      const b = make(a.length * 2);
      b.set(a);
      return b;
    };
    this.ts = grow(this.ts, (n) => new Float64Array(n));
    this.value = grow(this.value, (n) => new Float64Array(n));
    this.quality = grow(this.quality, (n) => new Uint8Array(n));
  }
}

/**
 * Tumbling windows [start, start + size) aligned to China Standard Time (UTC+8), so that daily windows are the
 * plant's calendar days (hourly windows are the same in any whole-hour zone). Fed in event-time order.
 */
const ALIGN_OFFSET_MS = 8 * 3_600_000;

/** Start of the tumbling window of `sizeMs` that holds event time `ts` (aligned to China Standard Time). */
export function alignedWindowStart(ts: number, sizeMs: number): number {
  return Math.floor((ts + ALIGN_OFFSET_MS) / sizeMs) * sizeMs - ALIGN_OFFSET_MS;
}

export interface TumblingState {
  start: number | null;
  sum: number;
  count: number;
}

export class TumblingMean {
  /** Start of the open window, NaN when none is open. */
  start = NaN;
  sum = 0;
  count = 0;
  /** The last closed window (valid after closeIfDue returned true). */
  closedStart = NaN;
  closedMean = NaN;
  closedCount = 0;

  constructor(readonly sizeMs: number) {}

  windowStart(ts: number): number {
    return alignedWindowStart(ts, this.sizeMs);
  }

  /** Close the open window if event time `t` is at or past its end. */
  closeIfDue(t: number): boolean {
    if (this.start !== this.start || t < this.start + this.sizeMs) return false;
    this.closedStart = this.start;
    this.closedCount = this.count;
    this.closedMean = this.count > 0 ? this.sum / this.count : NaN;
    this.start = NaN;
    this.sum = 0;
    this.count = 0;
    return true;
  }

  /** Add an in-order sample (call closeIfDue(ts) first). */
  add(ts: number, value: number): void {
    if (this.start !== this.start) this.start = this.windowStart(ts);
    this.sum += value;
    this.count++;
  }

  snapshot(): TumblingState {
    return { start: this.start === this.start ? this.start : null, sum: this.sum, count: this.count };
  }

  restore(s: TumblingState): void {
    this.start = s.start ?? NaN;
    this.sum = s.sum;
    this.count = s.count;
  }
}

/**
 * A sliding window in a checkpoint: event times as differences from the one before (the first from 0), values as
 * they are. Millions of windows go into a checkpoint, and a difference of a few hundred ms is 3 characters where a
 * timestamp is 13. Checkpoints before this format hold `samples: [ts, value][]`, still read.
 */
export type SlidingState = { dt: number[]; v: number[] } | { samples: [number, number][] };

/**
 * A sliding window over the last `sizeMs` of event time (samples with ts >= newest - size), with a running sum,
 * in a ring kept in one plain array of [ts, value] pairs: a plain array of doubles costs a fraction of a typed array
 * (no ArrayBuffer behind it), which counts with millions of windows. Storage is made on the first sample.
 * (Float64Arrays for large rings were tried, to keep them out of the garbage collector's way: with 200,000 windows
 * of hundreds of samples the ArrayBuffers made its pauses longer, not shorter.)
 */
export class SlidingWindow {
  /** ts at 2k, value at 2k + 1. */
  private ring: number[] = NO_SAMPLES;
  private capacity = 0;
  private head = 0;
  private size = 0;
  sum = 0;

  constructor(
    readonly sizeMs: number,
    private readonly initialCapacity = 8,
  ) {}

  get count(): number {
    return this.size;
  }

  /** Add an in-order sample and drop those that fell out of the window. */
  push(ts: number, value: number): void {
    this.evict(ts - this.sizeMs);
    if (this.size === this.capacity) this.grow();
    const i = (this.head + this.size) % this.capacity;
    this.ring[2 * i] = ts;
    this.ring[2 * i + 1] = value;
    this.size++;
    this.sum += value;
  }

  /** Drop samples older than `from`. */
  evict(from: number): void {
    while (this.size > 0 && this.ring[2 * this.head]! < from) {
      this.sum -= this.ring[2 * this.head + 1]!;
      this.head = (this.head + 1) % this.capacity;
      this.size--;
    }
    if (this.size === 0) this.sum = 0; // no drift from repeated float subtraction
  }

  oldestTs(): number {
    return this.size ? this.ring[2 * this.head]! : NaN;
  }

  oldestValue(): number {
    return this.size ? this.ring[2 * this.head + 1]! : NaN;
  }

  snapshot(): SlidingState {
    const dt = new Array<number>(this.size);
    const v = new Array<number>(this.size);
    let previous = 0;
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) % this.capacity;
      const ts = this.ring[2 * i]!;
      dt[k] = ts - previous;
      previous = ts;
      v[k] = this.ring[2 * i + 1]!;
    }
    return { dt, v };
  }

  restore(s: SlidingState): void {
    this.head = this.size = 0;
    this.sum = 0;
    const add = (ts: number, v: number): void => {
      if (this.size === this.capacity) this.grow();
      this.ring[2 * this.size] = ts;
      this.ring[2 * this.size + 1] = v;
      this.size++;
      this.sum += v;
    };
    if ('samples' in s) {
      for (const [ts, v] of s.samples) add(ts, v);
      return;
    }
    let ts = 0;
    for (let k = 0; k < s.dt.length; k++) add((ts += s.dt[k]!), s.v[k]!);
  }

  private grow(): void {
    const capacity = this.capacity ? this.capacity * 2 : this.initialCapacity;
    // filled with doubles from the start, so the array's elements stay unboxed doubles
    const ring = new Array<number>(2 * capacity).fill(0.5);
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) % this.capacity;
      ring[2 * k] = this.ring[2 * i]!;
      ring[2 * k + 1] = this.ring[2 * i + 1]!;
    }
    this.ring = ring;
    this.capacity = capacity;
    this.head = 0;
  }
}

const NO_SAMPLES: number[] = [];
