/**
 * Interval statistics for HJ 212 uploads, on event time: per pollutant code, per minute (2051), hour (2061) and day
 * (2031), the Avg, Min and Max of the readings whose timestamps fall in the interval, and for flow codes Cou, the
 * volume over the interval (mean flow × the interval's duration, cumulative.ts). Intervals are labelled with their
 * start (DataTime), hours and days aligned in the stations' zone (UTC+8 by default).
 *
 * An interval closes when the station's watermark (newest reading time minus the allowed lateness) reaches its end;
 * a reading for an interval already closed is late and counted, not added (the interval was sent). Nothing here
 * touches the network or the clock, so the same readings give the same intervals in any run.
 *
 * Data flags (HJ 212-2017 data flag table): only good readings are averaged when the interval has any (flag N). An
 * interval with no good value but uncertain ones is averaged from those and flagged M; one with only bad readings
 * or readings without value is sent with empty values and flag D.
 */
import type { Quality } from '../../core/reading.ts';
import { flowVolume } from '../drivers/hj212/cumulative.ts';

export type IntervalKind = 'minute' | 'hour' | 'day';

export const INTERVAL_CN: Readonly<Record<IntervalKind, '2051' | '2061' | '2031'>> = { minute: '2051', hour: '2061', day: '2031' };
const INTERVAL_MS: Readonly<Record<IntervalKind, number>> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const KIND_ORDER: Readonly<Record<IntervalKind, number>> = { minute: 0, hour: 1, day: 2 };

export interface IntervalPollutant {
  code: string;
  /** null when no reading in the interval had a usable value. */
  avg: number | null;
  min: number | null;
  max: number | null;
  /** Volume (m3) for flow codes. */
  cou?: number;
  flag: 'N' | 'M' | 'D';
  /** Readings that went into the figures. */
  count: number;
}

export interface ClosedInterval {
  kind: IntervalKind;
  cn: '2051' | '2061' | '2031';
  /** DataTime: the interval's start (ms). */
  start: number;
  end: number;
  pollutants: IntervalPollutant[];
}

export interface LatestValue {
  value: number | null;
  quality: Quality;
  ts: number;
}

interface Accumulator {
  good: Stats;
  uncertain: Stats;
  readings: number;
}
interface Stats {
  count: number;
  sum: number;
  min: number;
  max: number;
}

const emptyStats = (): Stats => ({ count: 0, sum: 0, min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY });

function addTo(stats: Stats, value: number): void {
  stats.count++;
  stats.sum += value;
  if (value < stats.min) stats.min = value;
  if (value > stats.max) stats.max = value;
}

export interface AggregatorOptions {
  kinds: readonly IntervalKind[];
  latenessMs: number;
  utcOffsetMinutes: number;
  /** Intervals of each kind starting before this were already closed (restored after a restart). */
  closedUpTo?: Partial<Record<IntervalKind, number>>;
}

export class IntervalAggregator {
  private readonly kinds: readonly IntervalKind[];
  private readonly latenessMs: number;
  private readonly offsetMs: number;
  /** kind -> interval start -> code -> accumulator. */
  private readonly open = new Map<IntervalKind, Map<number, Map<string, Accumulator>>>();
  private readonly closedUpTo: Record<IntervalKind, number>;
  private readonly latestByCode = new Map<string, LatestValue>();
  private newest = Number.NEGATIVE_INFINITY;
  private lateReadings = 0;

  constructor(options: AggregatorOptions) {
    this.kinds = options.kinds;
    this.latenessMs = options.latenessMs;
    this.offsetMs = options.utcOffsetMinutes * 60_000;
    this.closedUpTo = { minute: Number.NEGATIVE_INFINITY, hour: Number.NEGATIVE_INFINITY, day: Number.NEGATIVE_INFINITY, ...options.closedUpTo };
    for (const kind of this.kinds) this.open.set(kind, new Map());
  }

  /** Readings dropped because their interval had already closed. */
  get late(): number {
    return this.lateReadings;
  }

  /** End of the last closed interval per kind (persisted so that a restart does not send an interval twice). */
  get closed(): Readonly<Record<IntervalKind, number>> {
    return { ...this.closedUpTo };
  }

  /** Newest value per code, for real-time (2011) uploads. */
  latest(): ReadonlyMap<string, LatestValue> {
    return this.latestByCode;
  }

  /** The start of the interval of `kind` holding `ts`. */
  intervalStart(kind: IntervalKind, ts: number): number {
    const size = INTERVAL_MS[kind];
    return Math.floor((ts + this.offsetMs) / size) * size - this.offsetMs;
  }

  /** Adds one reading (value in the code's HJ 212 unit). Returns false when it was late for every kind. */
  add(code: string, value: number | null, quality: Quality, ts: number): boolean {
    if (ts > this.newest) this.newest = ts;
    const previous = this.latestByCode.get(code);
    if (!previous || ts >= previous.ts) this.latestByCode.set(code, { value, quality, ts });
    let counted = false;
    for (const kind of this.kinds) {
      const start = this.intervalStart(kind, ts);
      if (start < this.closedUpTo[kind]) continue;
      const byStart = this.open.get(kind) as Map<number, Map<string, Accumulator>>;
      let byCode = byStart.get(start);
      if (!byCode) {
        byCode = new Map();
        byStart.set(start, byCode);
      }
      let acc = byCode.get(code);
      if (!acc) {
        acc = { good: emptyStats(), uncertain: emptyStats(), readings: 0 };
        byCode.set(code, acc);
      }
      acc.readings++;
      if (value !== null && quality === 'good') addTo(acc.good, value);
      else if (value !== null && quality === 'uncertain') addTo(acc.uncertain, value);
      counted = true;
    }
    if (!counted) this.lateReadings++;
    return counted;
  }

  /** Closes every interval that ends at or before the watermark; in order of end, minute before hour before day. */
  advance(): ClosedInterval[] {
    const watermark = this.newest - this.latenessMs;
    const closed: ClosedInterval[] = [];
    for (const kind of this.kinds) {
      const byStart = this.open.get(kind) as Map<number, Map<string, Accumulator>>;
      for (const [start, byCode] of byStart) {
        const end = this.intervalEnd(kind, start);
        if (end > watermark) continue;
        byStart.delete(start);
        closed.push(this.summarise(kind, start, end, byCode));
        if (end > this.closedUpTo[kind]) this.closedUpTo[kind] = end;
      }
    }
    return closed.sort((a, b) => a.end - b.end || KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || a.start - b.start);
  }

  private intervalEnd(kind: IntervalKind, start: number): number {
    return start + INTERVAL_MS[kind];
  }

  private summarise(kind: IntervalKind, start: number, end: number, byCode: Map<string, Accumulator>): ClosedInterval {
    const pollutants: IntervalPollutant[] = [];
    for (const [code, acc] of [...byCode].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const stats = acc.good.count > 0 ? acc.good : acc.uncertain.count > 0 ? acc.uncertain : undefined;
      if (!stats) {
        pollutants.push({ code, avg: null, min: null, max: null, flag: 'D', count: 0 });
        continue;
      }
      const avg = stats.sum / stats.count;
      const pollutant: IntervalPollutant = { code, avg, min: stats.min, max: stats.max, flag: stats === acc.good ? 'N' : 'M', count: stats.count };
      const volume = flowVolume(code, avg, end - start);
      if (volume !== undefined) pollutant.cou = volume;
      pollutants.push(pollutant);
    }
    return { kind, cn: INTERVAL_CN[kind], start, end, pollutants };
  }
}
