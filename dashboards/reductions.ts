/**
 * Reductions against baseline: COD and NH3-N discharged per plant and month against the load the plant's own baseline
 * concentration implies, summed from the `loads` rows ingest writes (each minute integrated over the time the readings
 * cover, never stretched to the minute; ingest/loads.ts), by the method rules uses too (core/reduction-figure.ts):
 *
 *   discharged (t) = Σ kg / 1000
 *   baseline   (t) = baseline concentration (mg/L) × the volume of the same covered time (m3) / 1e6
 *   reduction  (t) = baseline − discharged
 *
 * per outfall pairing the pollutant's meter with the flow meter. Nothing is scaled up to the month: every figure carries
 * its coverage (time with data / time in the month so far) and is marked partial below 90 % (core/coverage.ts). A month
 * without data has no figures (null) and coverage 0, never 0 t. Months run in China Standard Time (UTC+8).
 *
 * The dashboard sums the loads itself at each request (so the current month is as fresh as the loads); the rules
 * stage writes the same figures to measurement `reductions` hourly, and its national rows give the year-to-date
 * progress against the plan's targets.
 */
import { coverageOf } from '../core/coverage.ts';
import type { Plant } from '../core/plants.ts';
import { pairedOutfalls, reductionFigure, type LoadSums } from '../core/reduction-figure.ts';
import { HttpError } from './auth.ts';
import { seriesRows, type InfluxClient } from '../influxdb/client.ts';
import { LOADS_MEASUREMENT, quoteIdentifier, REDUCTIONS_MEASUREMENT, tagIn } from '../influxdb/schema.ts';

export const POLLUTANTS = ['cod', 'nh3n'] as const;
export type Pollutant = (typeof POLLUTANTS)[number];

const HOUR_MS = 3_600_000;
const CST_OFFSET_MS = 8 * HOUR_MS;
/** Months per request at most (hourly buckets: about 17,500 per series). */
export const MAX_MONTHS = 24;
export const MONTH_PATTERN = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** Start of a month (YYYY-MM) in China Standard Time, as ms since the epoch. */
export function monthStart(month: string): number {
  const match = MONTH_PATTERN.exec(month);
  if (!match) throw new HttpError(400, 'BAD_MONTH', `expected a month as YYYY-MM, got ${month}`, { month });
  return Date.UTC(Number(match[1]), Number(match[2]) - 1, 1) - CST_OFFSET_MS;
}

/** The month (YYYY-MM, China Standard Time) an instant falls in. */
export function monthOf(ms: number): string {
  const d = new Date(ms + CST_OFFSET_MS);
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

export function nextMonth(month: string): string {
  const d = new Date(monthStart(month) + CST_OFFSET_MS);
  d.setUTCMonth(d.getUTCMonth() + 1);
  return monthOf(d.getTime() - CST_OFFSET_MS);
}

/** The months from `from` to `to` inclusive; 400 when inverted or longer than MAX_MONTHS. */
export function monthsBetween(from: string, to: string): string[] {
  if (monthStart(from) > monthStart(to)) throw new HttpError(400, 'BAD_WINDOW', `from (${from}) must not be after to (${to})`, { field: 'from' });
  const out: string[] = [];
  for (let m = from; monthStart(m) <= monthStart(to); m = nextMonth(m)) {
    out.push(m);
    if (out.length > MAX_MONTHS) throw new HttpError(400, 'TOO_MANY_MONTHS', `at most ${MAX_MONTHS} months per request`, { field: 'from' });
  }
  return out;
}

const key = (...parts: string[]): string => parts.join('\u0000');

/** One statement per month: each plant's and outfall's `loads` sums over the month (up to `now`). */
export function loadSumsStatements(plants: readonly Plant[], months: readonly string[], now: number): string[] {
  const fields = POLLUTANTS.flatMap((p) => ['kg', 'm3', 's'].map((f) => `sum(${quoteIdentifier(`${p}_${f}`)}) AS ${quoteIdentifier(`${p}_${f}`)}`)).join(', ');
  return months.map((month) => {
    const { from, to } = monthPeriod(month, now);
    return `SELECT ${fields} FROM ${quoteIdentifier(LOADS_MEASUREMENT)} WHERE ${tagIn('plant', plants.map((p) => p.id))} AND time >= ${from}ms AND time < ${Math.max(from, to)}ms GROUP BY "plant", "outfall"`;
  });
}

/** A month's span up to `now` (empty for a month not begun). */
export function monthPeriod(month: string, now: number): { from: number; to: number; seconds: number } {
  const from = monthStart(month);
  const to = Math.min(monthStart(nextMonth(month)), now);
  return { from, to, seconds: Math.max(0, to - from) / 1000 };
}

/** `loads` sums keyed by plant, outfall, pollutant and month, in one request. */
export async function fetchLoadSums(influx: InfluxClient, plants: readonly Plant[], months: readonly string[], now: number): Promise<Map<string, LoadSums>> {
  const out = new Map<string, LoadSums>();
  if (plants.length === 0 || months.length === 0) return out;
  const results = await influx.query(loadSumsStatements(plants, months, now));
  months.forEach((month, i) => {
    for (const series of results[i] ?? []) {
      for (const row of seriesRows(series)) {
        const { plant, outfall } = row;
        if (typeof plant !== 'string' || typeof outfall !== 'string') continue;
        for (const p of POLLUTANTS) {
          const [kg, m3, seconds] = [row[`${p}_kg`], row[`${p}_m3`], row[`${p}_s`]];
          if (typeof kg === 'number' && typeof m3 === 'number' && typeof seconds === 'number') out.set(key(plant, outfall, p, month), { kg, m3, seconds });
        }
      }
    }
  });
  return out;
}

export interface ReductionRow {
  month: string;
  region: string;
  /** A plant id, or * for a region total. */
  plant: string;
  pollutant: Pollutant;
  /** What the covered time discharged; null without data. */
  dischargedTonnes: number | null;
  /** The load the baseline implies for the same time and volume; null without data or without a baseline. */
  baselineTonnes: number | null;
  /** baseline − discharged (negative: discharged more than the baseline implies); null without both. */
  reductionTonnes: number | null;
  /** reduction / baseline, null without a reduction or when the baseline is zero. */
  reductionShare: number | null;
  /** The volume the figures cover, m3; null without data. */
  volumeM3: number | null;
  /** Hours with data (the mean over the plant's paired outfalls) and hours in the month so far. */
  coveredHours: number;
  hours: number;
  /** coveredHours / hours, 0..1. */
  coverage: number;
  /** coverage below PARTIAL_BELOW (core/coverage.ts). */
  partial: boolean;
}

/** Rows per plant (with an outfall pairing the pollutant with a flow meter), pollutant and month. */
export function reductionRows(
  plants: readonly Plant[],
  months: readonly string[],
  sums: ReadonlyMap<string, LoadSums>,
  baselineOf: (plant: string, pollutant: Pollutant) => number | undefined,
  now: number,
): ReductionRow[] {
  const rows: ReductionRow[] = [];
  for (const plant of plants) {
    for (const pollutant of POLLUTANTS) {
      const outfalls = pairedOutfalls(plant, pollutant);
      if (outfalls.length === 0) continue;
      for (const month of months) {
        const period = monthPeriod(month, now);
        const f = reductionFigure(outfalls.map((o) => sums.get(key(plant.id, o, pollutant, month))), period.seconds, baselineOf(plant.id, pollutant));
        rows.push({
          month, region: plant.region, plant: plant.id, pollutant,
          dischargedTonnes: f.dischargedT, baselineTonnes: f.baselineT, reductionTonnes: f.reducedT, reductionShare: share(f.reducedT, f.baselineT), volumeM3: f.volumeM3,
          coveredHours: f.coveredSeconds / 3600, hours: period.seconds / 3600, coverage: f.coverage, partial: f.partial,
        });
      }
    }
  }
  return rows;
}

function share(reduction: number | null, baseline: number | null): number | null {
  return reduction === null || !baseline ? null : reduction / baseline;
}

const sumOrNull = (values: readonly (number | null)[]): number | null => {
  const present = values.filter((v): v is number => v !== null);
  return present.length ? present.reduce((a, b) => a + b, 0) : null;
};

/**
 * Sum plant rows into region rows. Figures sum the plants with data (baseline and reduction: those with a baseline
 * too); coverage is the mean over every plant of the region, so a silent plant lowers it. No plant with data: null.
 */
export function regionTotals(rows: readonly ReductionRow[]): ReductionRow[] {
  const groups = new Map<string, ReductionRow[]>();
  for (const r of rows) {
    const k = key(r.region, r.pollutant, r.month);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((group) => {
    const first = group[0]!;
    const withBaseline = group.filter((r) => r.baselineTonnes !== null);
    const dischargedTonnes = sumOrNull(group.map((r) => r.dischargedTonnes));
    const baselineTonnes = sumOrNull(withBaseline.map((r) => r.baselineTonnes));
    const reductionTonnes = sumOrNull(withBaseline.map((r) => r.reductionTonnes));
    const c = coverageOf((group.reduce((a, r) => a + r.coverage, 0) / group.length) * first.hours * 3600, first.hours * 3600);
    return {
      month: first.month, region: first.region, plant: '*', pollutant: first.pollutant,
      dischargedTonnes, baselineTonnes, reductionTonnes, reductionShare: share(reductionTonnes, baselineTonnes), volumeM3: sumOrNull(group.map((r) => r.volumeM3)),
      coveredHours: c.coveredSeconds / 3600, hours: first.hours, coverage: c.coverage, partial: c.partial,
    };
  });
}

/** National progress of one pollutant against the plan's target for the year, from rules' `scope=national` rows. */
export interface NationalProgress {
  pollutant: Pollutant;
  /** The latest month rules wrote, up to the asked one, in the asked month's year. */
  month: string;
  targetTonnes: number;
  yearToDateTonnes: number;
  progress: number;
}

export function nationalStatement(month: string): string {
  const from = monthStart(`${month.slice(0, 4)}-01`);
  const to = monthStart(nextMonth(month));
  return `SELECT "target_t", "year_to_date_t", "progress" FROM ${quoteIdentifier(REDUCTIONS_MEASUREMENT)} WHERE "scope" = 'national' AND time >= ${from}ms AND time < ${to}ms GROUP BY "pollutant" ORDER BY time DESC LIMIT 1`;
}

/** Year-to-date national progress as of `month` (the latest month rules wrote in its year); empty when rules has not. */
export async function fetchNationalProgress(influx: InfluxClient, month: string): Promise<NationalProgress[]> {
  const [series = []] = await influx.query([nationalStatement(month)]);
  const out: NationalProgress[] = [];
  for (const s of series) {
    for (const row of seriesRows(s)) {
      const { pollutant, time, target_t, year_to_date_t, progress } = row;
      if (!POLLUTANTS.includes(pollutant as Pollutant) || typeof time !== 'number' || typeof target_t !== 'number' || typeof year_to_date_t !== 'number') continue;
      out.push({ pollutant: pollutant as Pollutant, month: monthOf(time), targetTonnes: target_t, yearToDateTonnes: year_to_date_t, progress: typeof progress === 'number' ? progress : year_to_date_t / target_t });
    }
  }
  return out.sort((a, b) => POLLUTANTS.indexOf(a.pollutant) - POLLUTANTS.indexOf(b.pollutant));
}

export const CSV_COLUMNS = ['month', 'region', 'plant', 'pollutant', 'discharged_t', 'baseline_t', 'reduction_t', 'reduction_share', 'volume_m3', 'covered_hours', 'hours', 'coverage', 'partial'] as const;

/** A row's cells in CSV_COLUMNS order: numbers rounded for reading, null (no data, no baseline) as null. */
export function reductionCells(r: ReductionRow): (string | number | boolean | null)[] {
  const round = (x: number | null, digits: number): number | null => (x === null ? null : Number(x.toFixed(digits)));
  return [r.month, r.region, r.plant, r.pollutant, round(r.dischargedTonnes, 6), round(r.baselineTonnes, 6), round(r.reductionTonnes, 6), round(r.reductionShare, 4), round(r.volumeM3, 3), round(r.coveredHours, 3), round(r.hours, 3), round(r.coverage, 4), r.partial];
}

/** RFC 4180 CSV (CRLF line ends); ids and months never need quoting, numbers are plain, a missing figure is empty. */
export function reductionsCsv(rows: readonly ReductionRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of rows) lines.push(reductionCells(r).map((c) => (c === null ? '' : String(c))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
