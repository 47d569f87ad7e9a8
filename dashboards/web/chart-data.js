// What a chart shows, without the DOM: bucket means like GET /series, live readings folded into their bucket, a window
// and a count bound, and the value range that keeps nearby limit lines in view.

/**
 * Bucket means of one meter's quantity. History comes as [bucket start, mean] from /series; a live reading updates the
 * running mean of its bucket (the same buckets, aligned to the epoch as InfluxDB's GROUP BY time), so that raw values
 * and history means never mix in one line.
 */
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
    const from = now - this.windowMs;
    let drop = 0;
    while (drop < this.points.length && this.points[drop][0] + this.everyMs <= from) drop++;
    drop = Math.max(drop, this.points.length - this.maxPoints);
    if (drop > 0) this.points.splice(0, drop);
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
