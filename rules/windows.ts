/**
 * Event-time machinery: a per-series reorder buffer with a watermark, tumbling windows, and sliding windows in
 * bounded memory (buckets of aggregates, not samples).
 *
 * Watermark = the greatest event time seen on the series minus the allowed lateness. Samples at or before the
 * watermark are released to the operators in event-time order; a sample that arrives older than the watermark is
 * late: it is refused, and the caller counts it and logs it (eKuiper drops late events silently; we do not).
 * With an allowed lateness of 0 every in-order sample is released at once and any older one is late.
 *
 * Storage is parallel typed arrays, so buffering a sample allocates nothing; the buffer grows only when a series is
 * more than its capacity out of order.
 */
import { BAD, GOOD, usable, type QualityCode } from './kinds/types.ts';

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
 * Sliding windows in bounded memory: fixed buckets of `resolutionMs` event time (aligned to multiples of it) hold
 * aggregates of the samples that fell in them, never the samples, so a window costs O(size / resolution) numbers
 * whatever the sample rate (a 5-minute window of a 2.5 Hz feed held 750 samples; at the default resolution it holds
 * at most 31 buckets).
 *
 * The window edge is judged to the bucket: a bucket stays in the window while its newest sample is within `sizeMs`
 * of the newest sample of the series, so the window reaches back between `sizeMs` and `sizeMs + resolutionMs`.
 * When samples are at least `resolutionMs` apart each bucket holds one sample, and the result is exactly that of a
 * window of every sample.
 */
export const DEFAULT_BUCKETS_PER_WINDOW = 30;

/** The bucket width used when a rule does not set one: the window over DEFAULT_BUCKETS_PER_WINDOW, at least 1 ms. */
export function defaultResolutionMs(sizeMs: number): number {
  return Math.max(1, Math.floor(sizeMs / DEFAULT_BUCKETS_PER_WINDOW));
}

/**
 * A window in a checkpoint: its resolution and its buckets, three numbers each, flattened; the first number of each
 * is a time as a difference from the time before it (the first from 0), which keeps millions of them short.
 * Checkpoints from before buckets hold every sample (`{ dt, v }` or `samples: [ts, value][]`), still read.
 */
export type BucketedState = { r: number; b: number[] } | { dt: number[]; v: number[] } | { samples: [number, number][] };

/**
 * The ring shared by the bucketed windows: three numbers per bucket in one plain array (a plain array of doubles is
 * cheaper for the garbage collector than millions of small typed arrays), slot 0 the event time of the bucket's
 * newest sample. Storage is made on the first sample, for all the buckets a window can span (up to 64; more only
 * as they are needed).
 */
abstract class BucketRing {
  protected ring: number[] = NO_BUCKETS;
  private capacity = 0;
  protected head = 0;
  protected size = 0;

  constructor(
    readonly sizeMs: number,
    readonly resolutionMs: number,
  ) {}

  /** Buckets held (for tests and memory figures). */
  get buckets(): number {
    return this.size;
  }

  /** Add an in-order sample and drop the buckets that fell out of the window. */
  protected place(ts: number): number {
    this.evict(ts - this.sizeMs);
    if (this.size > 0) {
      const newest = this.slot(this.size - 1);
      if (Math.floor(this.ring[newest]! / this.resolutionMs) === Math.floor(ts / this.resolutionMs)) {
        this.ring[newest] = ts;
        return -1 - newest; // negative: the sample joins the newest bucket at that slot
      }
    }
    if (this.size === this.capacity) this.grow();
    const at = this.slot(this.size++);
    this.ring[at] = ts;
    return at;
  }

  /** Drop the buckets whose newest sample is older than `from`. */
  evict(from: number): void {
    while (this.size > 0 && this.ring[3 * this.head]! < from) {
      this.dropped(3 * this.head);
      this.head = (this.head + 1) % this.capacity;
      this.size--;
    }
  }

  /** A bucket (at its slot) left the window. */
  protected abstract dropped(at: number): void;

  /** The array index of the k-th oldest bucket. */
  protected slot(k: number): number {
    return 3 * ((this.head + k) % this.capacity);
  }

  protected snapshotBuckets(encode: (at: number, previousTs: number, out: number[]) => number): { r: number; b: number[] } {
    const b: number[] = [];
    let previous = 0;
    for (let k = 0; k < this.size; k++) previous = encode(this.slot(k), previous, b);
    return { r: this.resolutionMs, b };
  }

  protected clear(): void {
    this.head = this.size = 0;
  }

  private grow(): void {
    // The first allocation holds every bucket the window can span (up to 64: a default window has 32), so that
    // series started together (a fleet, or a restart without a checkpoint) do not all grow their rings at the same
    // moments, each growth copying and promoting every window of every series at once.
    const capacity = this.capacity ? this.capacity * 2 : Math.min(64, Math.ceil(this.sizeMs / this.resolutionMs) + 2);
    // filled with doubles from the start, so the array's elements stay unboxed doubles
    const ring = new Array<number>(3 * capacity).fill(0.5);
    for (let k = 0; k < this.size; k++) {
      const from = this.slot(k);
      ring[3 * k] = this.ring[from]!;
      ring[3 * k + 1] = this.ring[from + 1]!;
      ring[3 * k + 2] = this.ring[from + 2]!;
    }
    this.ring = ring;
    this.capacity = capacity;
    this.head = 0;
  }
}

const NO_BUCKETS: number[] = [];

/** Replay a checkpoint of every sample (rounds 1-2) in order. */
function replaySamples(s: { dt: number[]; v: number[] } | { samples: [number, number][] }, push: (ts: number, v: number) => void): void {
  if ('samples' in s) {
    for (const [ts, v] of s.samples) push(ts, v);
    return;
  }
  let ts = 0;
  for (let k = 0; k < s.dt.length; k++) push((ts += s.dt[k]!), s.v[k]!);
}

/**
 * The oldest sample of a sliding window (for rates of change): per bucket, its first sample's time and value.
 * Exact when buckets hold one sample each; otherwise the oldest is the first sample of the oldest bucket still in
 * the window, up to `resolutionMs` older than `sizeMs`.
 */
export class SlidingOldest extends BucketRing {
  /** Add an in-order sample. */
  push(ts: number, value: number): void {
    const at = this.place(ts);
    if (at < 0) return;
    this.ring[at + 1] = ts;
    this.ring[at + 2] = value;
  }

  oldestTs(): number {
    return this.size ? this.ring[3 * this.head + 1]! : NaN;
  }

  oldestValue(): number {
    return this.size ? this.ring[3 * this.head + 2]! : NaN;
  }

  protected dropped(): void {}

  /** Per bucket: first sample's time (from the previous bucket's newest), newest sample's time (from the first), first value. */
  snapshot(): BucketedState {
    return this.snapshotBuckets((at, previous, out) => {
      const last = this.ring[at]!;
      const first = this.ring[at + 1]!;
      out.push(first - previous, last - first, this.ring[at + 2]!);
      return last;
    });
  }

  restore(s: BucketedState): void {
    this.clear();
    if (!('r' in s)) return replaySamples(s, (ts, v) => this.push(ts, v));
    let previous = 0;
    for (let k = 0; k + 2 < s.b.length; k += 3) {
      const first = previous + s.b[k]!;
      const last = first + s.b[k + 1]!;
      this.push(first, s.b[k + 2]!);
      if (last !== first) this.place(last);
      previous = last;
    }
  }
}

/**
 * Count and sum of a sliding window (for shares and means): per bucket, how many samples and their sum. Exact when
 * buckets hold one sample each; otherwise the edge is judged to the bucket (see above). Sums of 0/1 flags stay
 * integers, so a share never drifts.
 */
export class SlidingSum extends BucketRing {
  count = 0;
  sum = 0;

  push(ts: number, value: number): void {
    const joined = this.place(ts);
    const at = joined < 0 ? -1 - joined : joined;
    if (joined < 0) {
      this.ring[at + 1]! += 1;
      this.ring[at + 2]! += value;
    } else {
      this.ring[at + 1] = 1;
      this.ring[at + 2] = value;
    }
    this.count++;
    this.sum += value;
  }

  protected dropped(at: number): void {
    this.count -= this.ring[at + 1]!;
    this.sum -= this.ring[at + 2]!;
    if (this.count === 0) this.sum = 0; // no drift from repeated float subtraction
  }

  /** Per bucket: newest sample's time (from the previous bucket's), count, sum. */
  snapshot(): BucketedState {
    return this.snapshotBuckets((at, previous, out) => {
      const last = this.ring[at]!;
      out.push(last - previous, this.ring[at + 1]!, this.ring[at + 2]!);
      return last;
    });
  }

  restore(s: BucketedState): void {
    this.clear();
    this.count = this.sum = 0;
    if (!('r' in s)) return replaySamples(s, (ts, v) => this.push(ts, v));
    let ts = 0;
    for (let k = 0; k + 2 < s.b.length; k += 3) {
      ts += s.b[k]!;
      const at = this.place(ts);
      // a checkpoint taken at a finer resolution than the rule's now: its buckets merge
      const joined = at < 0;
      const slot = joined ? -1 - at : at;
      this.ring[slot + 1] = (joined ? this.ring[slot + 1]! : 0) + s.b[k + 1]!;
      this.ring[slot + 2] = (joined ? this.ring[slot + 2]! : 0) + s.b[k + 2]!;
      this.count += s.b[k + 1]!;
      this.sum += s.b[k + 2]!;
    }
  }
}

/**
 * The sliding windows of one series, shared by every rule that needs the same one: a window is the series' recent
 * history (its oldest usable sample, or its count of bad readings), not a rule's verdict, so the 20 rate rules of a
 * plant that differ only in their thresholds read one window instead of keeping 20 copies. The engine feeds each
 * window once per sample, before the rules judge it; checkpoints hold each window once per series, keyed by what it
 * holds (a 100-rule set's checkpoint shrank from 14 KB to about 2 KB per series).
 */
export class SharedWindows {
  private readonly byKey = new Map<string, SharedWindow>();
  private readonly list: SharedWindow[] = [];

  /** The oldest usable sample of the last `sizeMs` (rate rules). */
  oldest(sizeMs: number, resolutionMs: number): SlidingOldest {
    return this.get(`oldest:value:${sizeMs}:${resolutionMs}`, 'value', () => new SlidingOldest(sizeMs, resolutionMs)) as SlidingOldest;
  }

  /** How many samples of the last `sizeMs` are bad (or not good), and how many there are (quality rules). */
  flagged(count: 'bad' | 'not-good', sizeMs: number, resolutionMs: number): SlidingSum {
    return this.get(`sum:${count}:${sizeMs}:${resolutionMs}`, count, () => new SlidingSum(sizeMs, resolutionMs)) as SlidingSum;
  }

  get size(): number {
    return this.list.length;
  }

  /** One sample of the series, in event-time order: every window takes it once. */
  feed(ts: number, value: number, quality: QualityCode): void {
    const list = this.list;
    for (let i = 0; i < list.length; i++) {
      const w = list[i]!;
      if (w.input === 'value') {
        if (usable(value, quality)) (w.window as SlidingOldest).push(ts, value);
      } else {
        w.window.push(ts, (w.input === 'bad' ? quality === BAD : quality !== GOOD) ? 1 : 0);
      }
    }
  }

  /** Each window's state by key; undefined when there is none. */
  snapshot(): Record<string, BucketedState> | undefined {
    if (!this.list.length) return undefined;
    const out: Record<string, BucketedState> = {};
    for (const w of this.list) out[w.key] = w.window.snapshot();
    return out;
  }

  /** Take over the windows of a checkpoint that are still needed (a window no rule reads any more is left out). */
  restore(states: Record<string, BucketedState>): void {
    for (const [key, state] of Object.entries(states)) this.byKey.get(key)?.window.restore(state);
  }

  private get(key: string, input: SharedWindow['input'], make: () => SlidingOldest | SlidingSum): SlidingOldest | SlidingSum {
    let w = this.byKey.get(key);
    if (!w) {
      w = { key, input, window: make() };
      this.byKey.set(key, w);
      this.list.push(w);
    }
    return w.window;
  }
}

interface SharedWindow {
  key: string;
  /** What it is fed: usable values, or a 1/0 flag of whether the sample is bad (or not good). */
  input: 'value' | 'bad' | 'not-good';
  window: SlidingOldest | SlidingSum;
}
