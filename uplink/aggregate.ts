/**
 * Interval statistics for HJ 212 uploads, on event time: per pollutant code, per minute (2051), hour (2061) and day
 * (2031), the Avg, Min and Max of the readings whose timestamps fall in the interval, and Cou, the cumulative amount
 * (cumulative.ts): the volume for flow codes, the discharged amount for pollutants paired with the station's flow.
 * Intervals are labelled with their start (DataTime), hours and days aligned in the stations' zone (UTC+8 by default).
 *
 * Cou is integrated per minute from the minute's samples (flow held from sample to sample, concentration the latest
 * at or before each flow sample); an hour's and a day's Cou is the sum of their minutes'. So a minute without flow
 * samples adds nothing to its hour: the hour's volume is what was measured, not an extrapolation.
 *
 * An interval closes when the station's watermark (newest reading time minus the allowed lateness) reaches its end;
 * a reading for an interval already closed is late and counted, not added (the interval was sent). Nothing here
 * touches the network or the clock, so the same readings give the same intervals in any run. The open state can be
 * taken as a JSON-able snapshot and given back to a new aggregator (checkpoint.ts), so a restart loses nothing.
 *
 * Data flags (HJ 212-2017 data flag table): only good readings are averaged when the interval has any (flag N). An
 * interval with no good value but uncertain ones is averaged from those and flagged M; one with only bad readings
 * or readings without value is sent with empty values and flag D. With the station's codes given (`codes`), every
 * closed interval lists each of them, a code without any reading in it with empty values and flag B (communication
 * failure), and an interval in which no code had a reading is still closed, all B, so the platform sees no silent gap.
 */
import type { Quality } from '../core/reading.ts';
import { canonicalCode } from '../protocols/hj212/codes.ts';
import { hasCumulative, intervalCumulatives, isFlowCode, pairedFlowCode, type CumulativeSample } from '../protocols/hj212/cumulative.ts';

export type IntervalKind = 'minute' | 'hour' | 'day';

export const INTERVAL_CN: Readonly<Record<IntervalKind, '2051' | '2061' | '2031'>> = { minute: '2051', hour: '2061', day: '2031' };
const INTERVAL_MS: Readonly<Record<IntervalKind, number>> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const KIND_ORDER: Readonly<Record<IntervalKind, number>> = { minute: 0, hour: 1, day: 2 };
const ALL_KINDS: readonly IntervalKind[] = ['minute', 'hour', 'day'];

export type IntervalFlag = 'N' | 'M' | 'D' | 'B';

export interface IntervalPollutant {
  code: string;
  /** null when no reading in the interval had a usable value. */
  avg: number | null;
  min: number | null;
  max: number | null;
  /** Volume (m3) for flow codes; amount (kg or g, codes.ts) for pollutants paired with a flow. */
  cou?: number;
  flag: IntervalFlag;
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

/** count, sum, min, max; in a snapshot, null for no values. */
type StatsTuple = [count: number, sum: number, min: number, max: number];

interface Accumulator {
  good: Stats;
  uncertain: Stats;
  readings: number;
  /** Sum of the Cou of the interval's closed minutes. */
  cou?: number;
}
interface Stats {
  count: number;
  sum: number;
  min: number;
  max: number;
}
/** A minute's samples of one code with a Cou, by quality (only good ones are used when there are any). */
interface MinuteSamples {
  good: CumulativeSample[];
  uncertain: CumulativeSample[];
}

/** The open state of an aggregator, JSON-able (finite numbers only). */
export interface AggregatorState {
  v: 1;
  /** Newest reading time seen, null before any. */
  newest: number | null;
  /** End of the last closed interval per kind (the minute's also for Cou samples). */
  closedUpTo: Partial<Record<IntervalKind, number>>;
  open: { kind: IntervalKind; start: number; codes: { code: string; readings: number; good: StatsTuple | null; uncertain: StatsTuple | null; cou?: number }[] }[];
  samples: { start: number; codes: { code: string; good: [number, number][]; uncertain: [number, number][] }[] }[];
  latest: { code: string; value: number | null; quality: Quality; ts: number }[];
}

const emptyStats = (): Stats => ({ count: 0, sum: 0, min: Number.POSITIVE_INFINITY, max: Number.NEGATIVE_INFINITY });
const toTuple = (s: Stats): StatsTuple | null => (s.count === 0 ? null : [s.count, s.sum, s.min, s.max]);
const fromTuple = (t: StatsTuple | null): Stats => (t === null ? emptyStats() : { count: t[0], sum: t[1], min: t[2], max: t[3] });

function addTo(stats: Stats, value: number): void {
  stats.count++;
  stats.sum += value;
  if (value < stats.min) stats.min = value;
  if (value > stats.max) stats.max = value;
}

const byCodeName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export interface AggregatorOptions {
  kinds: readonly IntervalKind[];
  latenessMs: number;
  utcOffsetMinutes: number;
  /** Intervals of each kind starting before this were already closed (restored after a restart). */
  closedUpTo?: Partial<Record<IntervalKind, number>>;
  /**
   * The station's codes: every closed interval lists each (flag B when it had no reading), and intervals without any
   * reading are closed too. Leave out to report only the codes seen and skip empty intervals.
   */
  codes?: readonly string[];
  /** Open state from `snapshot()` of an earlier aggregator with the same options; takes precedence over closedUpTo. */
  state?: AggregatorState;
  /** At most this many empty intervals in a row are produced, the first of a longer gap (default 10080, a week of minutes). */
  maxEmptyPerGap?: number;
}

export class IntervalAggregator {
  private readonly kinds: readonly IntervalKind[];
  private readonly latenessMs: number;
  private readonly offsetMs: number;
  private readonly codes: readonly string[] | undefined;
  private readonly maxEmptyPerGap: number;
  /** kind -> interval start -> code -> accumulator. */
  private readonly open = new Map<IntervalKind, Map<number, Map<string, Accumulator>>>();
  /** minute start -> code -> samples, for codes with a Cou; closed with the minutes whether or not they are sent. */
  private readonly samples = new Map<number, Map<string, MinuteSamples>>();
  private readonly closedUpTo: Record<IntervalKind, number>;
  private readonly latestByCode = new Map<string, LatestValue>();
  private newest = Number.NEGATIVE_INFINITY;
  private lateReadings = 0;
  private emptySkipped = 0;
  private changes = 0;

  constructor(options: AggregatorOptions) {
    this.kinds = options.kinds;
    this.latenessMs = options.latenessMs;
    this.offsetMs = options.utcOffsetMinutes * 60_000;
    this.codes = options.codes ? [...new Set(options.codes)].sort(byCodeName) : undefined;
    this.maxEmptyPerGap = options.maxEmptyPerGap ?? 10_080;
    const closedUpTo = options.state?.closedUpTo ?? options.closedUpTo;
    this.closedUpTo = { minute: Number.NEGATIVE_INFINITY, hour: Number.NEGATIVE_INFINITY, day: Number.NEGATIVE_INFINITY, ...closedUpTo };
    for (const kind of this.kinds) this.open.set(kind, new Map());
    if (options.state) this.restore(options.state);
  }

  /** Readings dropped because their interval had already closed. */
  get late(): number {
    return this.lateReadings;
  }

  /** Empty intervals not produced because a gap was longer than maxEmptyPerGap (the platform sees that gap). */
  get skippedEmpty(): number {
    return this.emptySkipped;
  }

  /** Increases with every change of the open state (a checkpoint is due when it moved). */
  get version(): number {
    return this.changes;
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
    this.changes++;
    if (ts > this.newest) this.newest = ts;
    const previous = this.latestByCode.get(code);
    if (!previous || ts >= previous.ts) this.latestByCode.set(code, { value, quality, ts });
    let counted = false;
    for (const kind of this.kinds) {
      const start = this.intervalStart(kind, ts);
      if (start < this.closedUpTo[kind]) continue;
      const byStart = this.open.get(kind) as Map<number, Map<string, Accumulator>>;
      let byCode = byStart.get(start);
      if (!byCode) byStart.set(start, (byCode = new Map()));
      let acc = byCode.get(code);
      if (!acc) byCode.set(code, (acc = { good: emptyStats(), uncertain: emptyStats(), readings: 0 }));
      acc.readings++;
      if (value !== null && quality === 'good') addTo(acc.good, value);
      else if (value !== null && quality === 'uncertain') addTo(acc.uncertain, value);
      counted = true;
    }
    const minute = this.intervalStart('minute', ts);
    if (value !== null && quality !== 'bad' && minute >= this.closedUpTo.minute && hasCumulative(code)) {
      let byCode = this.samples.get(minute);
      if (!byCode) this.samples.set(minute, (byCode = new Map()));
      let samples = byCode.get(code);
      if (!samples) byCode.set(code, (samples = { good: [], uncertain: [] }));
      (quality === 'good' ? samples.good : samples.uncertain).push([ts, value]);
    }
    if (!counted) this.lateReadings++;
    return counted;
  }

  /** Closes every interval that ends at or before the watermark; in order of end, minute before hour before day. */
  advance(): ClosedInterval[] {
    const watermark = this.newest - this.latenessMs;
    this.closeMinuteSamples(watermark);
    const closed: ClosedInterval[] = [];
    for (const kind of this.kinds) {
      const byStart = this.open.get(kind) as Map<number, Map<string, Accumulator>>;
      const size = INTERVAL_MS[kind];
      if (this.codes && this.codes.length > 0) {
        // Walk the interval grid from the last closed one, so that intervals without readings are closed too.
        let from = this.closedUpTo[kind];
        if (!Number.isFinite(from)) from = byStart.size > 0 ? Math.min(...byStart.keys()) : Number.POSITIVE_INFINITY;
        let emptyRun = 0;
        for (let start = from; start + size <= watermark; start += size) {
          const byCode = byStart.get(start);
          if (byCode) {
            byStart.delete(start);
            emptyRun = 0;
          } else if (++emptyRun > this.maxEmptyPerGap) {
            this.emptySkipped++;
            continue;
          }
          closed.push(this.summarise(kind, start, start + size, byCode ?? new Map()));
          if (start + size > this.closedUpTo[kind]) this.closedUpTo[kind] = start + size;
        }
        if (from + size <= watermark) this.closedUpTo[kind] = Math.max(this.closedUpTo[kind], from + Math.floor((watermark - from) / size) * size);
      }
      // Off-grid leftovers (the zone offset changed between runs) and the no-codes mode: close what is due.
      for (const [start, byCode] of byStart) {
        const end = start + size;
        if (end > watermark) continue;
        byStart.delete(start);
        closed.push(this.summarise(kind, start, end, byCode));
        if (end > this.closedUpTo[kind]) this.closedUpTo[kind] = end;
      }
    }
    if (closed.length > 0) this.changes++;
    return closed.sort((a, b) => a.end - b.end || KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || a.start - b.start);
  }

  /** The open state, for a checkpoint. */
  snapshot(): AggregatorState {
    const finite = Object.fromEntries(Object.entries(this.closedUpTo).filter(([, v]) => Number.isFinite(v))) as Partial<Record<IntervalKind, number>>;
    const open: AggregatorState['open'] = [];
    for (const [kind, byStart] of this.open) {
      for (const [start, byCode] of byStart) {
        open.push({
          kind,
          start,
          codes: [...byCode].map(([code, acc]) => ({ code, readings: acc.readings, good: toTuple(acc.good), uncertain: toTuple(acc.uncertain), ...(acc.cou === undefined ? {} : { cou: acc.cou }) })),
        });
      }
    }
    const samples: AggregatorState['samples'] = [...this.samples].map(([start, byCode]) => ({
      start,
      codes: [...byCode].map(([code, s]) => ({ code, good: s.good.map(([t, v]) => [t, v]), uncertain: s.uncertain.map(([t, v]) => [t, v]) })),
    }));
    const latest = [...this.latestByCode].map(([code, v]) => ({ code, ...v }));
    return { v: 1, newest: Number.isFinite(this.newest) ? this.newest : null, closedUpTo: finite, open, samples, latest };
  }

  private restore(state: AggregatorState): void {
    if (state.newest !== null) this.newest = state.newest;
    for (const interval of state.open) {
      const byStart = this.open.get(interval.kind);
      if (!byStart) continue; // a kind no longer sent
      const byCode = new Map<string, Accumulator>();
      for (const c of interval.codes) {
        const acc: Accumulator = { good: fromTuple(c.good), uncertain: fromTuple(c.uncertain), readings: c.readings };
        if (c.cou !== undefined) acc.cou = c.cou;
        byCode.set(c.code, acc);
      }
      byStart.set(interval.start, byCode);
    }
    for (const minute of state.samples) {
      this.samples.set(minute.start, new Map(minute.codes.map((c) => [c.code, { good: c.good.map(([t, v]) => [t, v] as const), uncertain: c.uncertain.map(([t, v]) => [t, v] as const) }])));
    }
    for (const { code, ...value } of state.latest) this.latestByCode.set(code, value);
  }

  /** Integrates the Cou of every minute that is over and adds it to the open intervals holding that minute. */
  private closeMinuteSamples(watermark: number): void {
    const due = [...this.samples.keys()].filter((start) => start + INTERVAL_MS.minute <= watermark).sort((a, b) => a - b);
    for (const start of due) {
      const byCode = this.samples.get(start) as Map<string, MinuteSamples>;
      this.samples.delete(start);
      const chosen = (s: MinuteSamples): readonly CumulativeSample[] => (s.good.length > 0 ? s.good : s.uncertain);
      const flows = new Map<string, { code: string; samples: readonly CumulativeSample[] }>();
      const pollutantsByFlow = new Map<string, Map<string, readonly CumulativeSample[]>>();
      for (const [code, s] of byCode) {
        const canonical = canonicalCode(code);
        if (isFlowCode(canonical)) flows.set(canonical, { code, samples: chosen(s) });
        const flow = pairedFlowCode(canonical);
        if (flow === undefined) continue;
        let pollutants = pollutantsByFlow.get(flow);
        if (!pollutants) pollutantsByFlow.set(flow, (pollutants = new Map()));
        pollutants.set(code, chosen(s));
      }
      for (const [flowCode, flow] of flows) {
        const pollutants = new Map([...(pollutantsByFlow.get(flowCode) ?? [])].map(([code, s]) => [canonicalCode(code), { code, s }]));
        const cumulatives = intervalCumulatives(flowCode, start, start + INTERVAL_MS.minute, flow.samples, new Map([...pollutants].map(([canonical, p]) => [canonical, p.s])));
        for (const [canonical, cou] of cumulatives) this.addCou(canonical === flowCode ? flow.code : (pollutants.get(canonical)?.code ?? canonical), start, cou);
      }
    }
    const end = due.length > 0 ? (due[due.length - 1] as number) + INTERVAL_MS.minute : Number.NEGATIVE_INFINITY;
    if (!this.kinds.includes('minute') && end > this.closedUpTo.minute) this.closedUpTo.minute = end;
  }

  private addCou(code: string, minuteStart: number, cou: number): void {
    for (const kind of ALL_KINDS) {
      const acc = this.open.get(kind)?.get(this.intervalStart(kind, minuteStart))?.get(code);
      if (acc) acc.cou = (acc.cou ?? 0) + cou;
    }
  }

  private summarise(kind: IntervalKind, start: number, end: number, byCode: Map<string, Accumulator>): ClosedInterval {
    const codes = this.codes ? [...new Set([...this.codes, ...byCode.keys()])].sort(byCodeName) : [...byCode.keys()].sort(byCodeName);
    const pollutants: IntervalPollutant[] = [];
    for (const code of codes) {
      const acc = byCode.get(code);
      if (!acc) {
        pollutants.push({ code, avg: null, min: null, max: null, flag: 'B', count: 0 });
        continue;
      }
      const stats = acc.good.count > 0 ? acc.good : acc.uncertain.count > 0 ? acc.uncertain : undefined;
      if (!stats) {
        pollutants.push({ code, avg: null, min: null, max: null, flag: 'D', count: 0 });
        continue;
      }
      const pollutant: IntervalPollutant = { code, avg: stats.sum / stats.count, min: stats.min, max: stats.max, flag: stats === acc.good ? 'N' : 'M', count: stats.count };
      if (acc.cou !== undefined) pollutant.cou = acc.cou;
      pollutants.push(pollutant);
    }
    return { kind, cn: INTERVAL_CN[kind], start, end, pollutants };
  }
}
