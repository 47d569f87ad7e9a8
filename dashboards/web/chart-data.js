// What a chart shows, without the DOM: bucket means like GET /series, live readings folded into their bucket, a window
// and a count bound, and the value range that keeps nearby limit lines in view.

/**
 * Bucket means of one meter's quantity. History comes as [bucket start, mean] from /series; a live reading updates the
 * running mean of its bucket (the same buckets, aligned to the epoch as InfluxDB's GROUP BY time), so that raw values
 * and history means never mix in one line.
 */
/**
 * Forget a series' buckets older than its window before `now`, and the oldest beyond its maxPoints: the one rule for
 * gauges' means and counters' amounts alike.
 */
function trimToWindow(series, now) {
  const from = now - series.windowMs;
  let drop = 0;
  while (drop < series.points.length && series.points[drop][0] + series.everyMs <= from) drop++;
  drop = Math.max(drop, series.points.length - series.maxPoints);
  if (drop > 0) series.points.splice(0, drop);
}

export class BucketSeries {
  constructor({ everyMs, windowMs, maxPoints }) {
    this.everyMs = everyMs;
    this.windowMs = windowMs;
    this.maxPoints = maxPoints;
    /** [bucket start ms, mean, readings folded in], sorted by bucket start. */
    this.points = [];
  }

  get length() {
    return this.points.length;
  }

  bucketOf(ts) {
    return Math.floor(ts / this.everyMs) * this.everyMs;
  }

  addReading(ts, value, now = ts) {
    if (value === null || value === undefined || !Number.isFinite(value)) return;
    const bucket = this.bucketOf(ts);
    const existing = this.find(bucket);
    if (existing) {
      existing[2] += 1;
      existing[1] += (value - existing[1]) / existing[2];
      return;
    }
    this.insert([[bucket, value, 1]], now);
  }

  /** History means; a bucket the live stream already started is kept, its running mean holds newer readings. */
  addHistory(points, now) {
    this.insert(
      points.filter(([t, v]) => Number.isFinite(t) && Number.isFinite(v) && !this.find(t)).map(([t, v]) => [t, v, 1]),
      now,
    );
  }

  find(bucket) {
    for (let i = this.points.length - 1; i >= 0; i--) {
      const p = this.points[i];
      if (p[0] === bucket) return p;
      if (p[0] < bucket) return undefined;
    }
    return undefined;
  }

  insert(points, now) {
    if (points.length === 0) return;
    const last = this.points.length ? this.points[this.points.length - 1][0] : -Infinity;
    this.points.push(...points);
    if (points.some(([t]) => t < last) || points.some((p, i) => i > 0 && p[0] < points[i - 1][0])) this.points.sort((a, b) => a[0] - b[0]);
    this.trim(now);
  }

  /** Forget buckets older than the window before `now`, and the oldest beyond maxPoints. */
  trim(now) {
    trimToWindow(this, now);
  }

  /**
   * uPlot's aligned data [xs, ys], with a null between buckets more than `gapBuckets` apart so that the line breaks
   * where the meter was silent instead of bridging the gap.
   */
  aligned(gapBuckets = 3) {
    const xs = [];
    const ys = [];
    let previous;
    for (const [t, v] of this.points) {
      if (previous !== undefined && t - previous > gapBuckets * this.everyMs) {
        xs.push(previous + this.everyMs);
        ys.push(null);
      }
      xs.push(t);
      ys.push(v);
      previous = t;
    }
    return [xs, ys];
  }
}

/** The bounds of a limit ({ min?, max? } from /limits) as numbers to draw. */
export function limitValues(limit) {
  if (!limit) return [];
  return [limit.max, limit.min].filter((v) => typeof v === 'number' && Number.isFinite(v));
}

/** A limit further from the data than (NEAR_FACTOR − 1) × the data's magnitude is left out of the range: it would flatten the line. */
export const NEAR_FACTOR = 3;

/**
 * The y range of a chart: the data's, widened to take in each limit near it, padded, and not below zero for data that
 * is not. Returns { min, max, shown: the limits in range, hidden: the limits left out }.
 */
export function valueRange(values, limits = []) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v === null || v === undefined || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const shown = [];
  const hidden = [];
  if (lo === Infinity) {
    // no data yet: the limits alone, from zero
    shown.push(...limits);
    lo = Math.min(0, ...limits);
    hi = Math.max(1, ...limits);
  } else {
    const magnitude = Math.max(Math.abs(lo), Math.abs(hi), hi - lo);
    const [dataLo, dataHi] = [lo, hi];
    for (const limit of limits) {
      const distance = limit > dataHi ? limit - dataHi : limit < dataLo ? dataLo - limit : 0;
      if (distance <= magnitude * (NEAR_FACTOR - 1)) {
        shown.push(limit);
        lo = Math.min(lo, limit);
        hi = Math.max(hi, limit);
      } else {
        hidden.push(limit);
      }
    }
  }
  const nonNegative = lo >= 0;
  const span = hi - lo || Math.abs(hi) * 0.1 || 1;
  const min = nonNegative ? Math.max(0, lo - span * 0.08) : lo - span * 0.08;
  return { min, max: hi + span * 0.08, shown, hidden };
}

/**
 * A counter (catalog kind `counter`: totalised volume, energy, production) as the amount counted per bucket, like
 * GET /series?mode=increase: each bucket's last reading minus the previous bucket's last; a drop is a reset, counted
 * from zero; a bucket after one without readings is unknown (left out, a gap). History comes as [bucket start, amount]
 * with the counter's last reading; live readings then add what they counted since the one before.
 */
export class CounterSeries {
  constructor({ everyMs, windowMs, maxPoints }) {
    this.everyMs = everyMs;
    this.windowMs = windowMs;
    this.maxPoints = maxPoints;
    /** [bucket start ms, amount], sorted by bucket start. */
    this.points = [];
    /** The reading counted from: { ts, value, bucket }, or null before the first. */
    this.last = null;
    /** A bucket whose amount cannot be known (the one before it had no reading): readings in it only move `last`. */
    this.unknownBucket = null;
    /** Live readings that came before history: counted once history says where to count from. */
    this.pending = [];
    this.historyLoaded = false;
  }

  get length() {
    return this.points.length;
  }

  bucketOf(ts) {
    return Math.floor(ts / this.everyMs) * this.everyMs;
  }

  /**
   * History's amounts, and its last reading ([ts, value]) to count live readings from; live readings that came
   * before it are then counted on from there (those history already holds add nothing).
   */
  addHistory(points, now, last) {
    const fromHistory = new Map(points.filter(([t, v]) => Number.isFinite(t) && Number.isFinite(v)).map(([t, v]) => [t, v]));
    // a reload (after a gap in the stream): history replaces what it covers, newer buckets are kept
    this.points = [...this.points.filter(([t]) => !fromHistory.has(t) && (!last || t > this.bucketOf(last[0]))), ...[...fromHistory].map(([t, v]) => [t, v])];
    this.points.sort((a, b) => a[0] - b[0]);
    if (last && Number.isFinite(last[1]) && (!this.last || last[0] >= this.last.ts || !this.historyLoaded)) {
      this.last = { ts: last[0], value: last[1], bucket: this.bucketOf(last[0]) };
      this.unknownBucket = null;
    }
    this.historyLoaded = true;
    const pending = this.pending;
    this.pending = [];
    for (const [ts, value] of pending) this.addReading(ts, value, now);
    this.trim(now);
  }

  addReading(ts, value, now = ts) {
    if (value === null || value === undefined || !Number.isFinite(value)) return;
    if (!this.historyLoaded) {
      if (this.pending.length < this.maxPoints) this.pending.push([ts, value]);
      return;
    }
    // a reading history already counted (or older) adds nothing
    if (this.last && ts <= this.last.ts) return;
    const bucket = this.bucketOf(ts);
    const previous = this.last;
    this.last = { ts, value, bucket };
    if (!previous) return;
    const amount = value >= previous.value ? value - previous.value : value;
    if (bucket === previous.bucket) {
      if (bucket === this.unknownBucket) return;
      const point = this.points.find(([t]) => t === bucket);
      if (point) point[1] += amount;
      else this.points.push([bucket, amount]);
    } else if (bucket === previous.bucket + this.everyMs) {
      this.points.push([bucket, amount]);
    } else {
      // silent for a whole bucket or more: what was counted over the silence is not this bucket's
      this.unknownBucket = bucket;
      return;
    }
    this.trim(now);
  }

  trim(now) {
    trimToWindow(this, now);
  }

  /** uPlot's aligned data: every bucket from the first to the last, null where none is known (no bar, never zero). */
  aligned() {
    const xs = [];
    const ys = [];
    if (this.points.length === 0) return [xs, ys];
    const amounts = new Map(this.points);
    const first = this.points[0][0];
    const end = this.points[this.points.length - 1][0];
    // one empty bucket after the last, so that a lone bar is one bucket wide
    for (let t = first; t <= end + this.everyMs; t += this.everyMs) {
      xs.push(t);
      ys.push(amounts.has(t) ? amounts.get(t) : null);
    }
    return [xs, ys];
  }
}

/** Bucket widths a chart may use, smallest first. */
export const EVERY_STEPS_MS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800, 604_800].map((s) => s * 1000);
/** Buckets a chart shows at most: a few hundred, about one per two pixels of a desktop tile. */
export const TARGET_BUCKETS = 360;
/** Bars a counter's chart shows at most: few enough to tell apart and to read one ("kWh / 1 分钟" over an hour). */
export const COUNTER_BARS = 60;

/** The smallest round bucket width that fits `spanMs` into at most `buckets` buckets. */
export function chooseEvery(spanMs, buckets = TARGET_BUCKETS) {
  return EVERY_STEPS_MS.find((step) => spanMs / step <= buckets) ?? EVERY_STEPS_MS[EVERY_STEPS_MS.length - 1];
}

/** A chart's bucket width for a window: a gauge's means, or a counter's bars (fewer, wider). */
export function chartEvery(spanMs, counter) {
  return chooseEvery(spanMs, counter ? COUNTER_BARS : TARGET_BUCKETS);
}

/** The ranges of the picker, ending now. */
export const RANGE_PRESETS = [
  { id: '15m', ms: 15 * 60_000 },
  { id: '1h', ms: 3_600_000 },
  { id: '6h', ms: 6 * 3_600_000 },
  { id: '24h', ms: 24 * 3_600_000 },
  { id: '7d', ms: 7 * 86_400_000 },
];

/** `every` for GET /series: `300000` ms → `5m`. */
export function everyParam(ms) {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
