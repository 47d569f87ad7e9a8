/**
 * Reductions against baseline: COD and NH3-N discharged per plant and month against the load the plant's baseline
 * implies (shared/reference/limits-and-baselines.md, "Loads and targets"):
 *
 *   discharged (kg) = Σ over hours of mean concentration (mg/L) × mean wastewater flow (m3/h) × 1 h / 1000
 *   baseline   (kg) = Σ over the same hours of the plant's baseline concentration × mean flow × 1 h / 1000
 *   reduction  (t)  = (baseline − discharged) / 1000
 *
 * per outfall (the pollutant's meter and the flow meter at the same outfall). An hour lacking either mean is not
 * counted and not estimated: `coveredHours` says how much of the month a figure covers, so a gap shows as low
 * coverage rather than as a reduction. Months run in China Standard Time (UTC+8).
 *
 * The rules stage computes these figures and writes them to InfluxDB measurement `reductions` (rules/reductions.ts);
 * they are the ones reported. The dashboard computes the discharged load itself too, the same way: as the cross-check
 * of rules' figure, and as the fallback for months rules has not written (yet), with the baseline-implied load from
 * the plant's own baseline in measurement `baselines` (level `plant`, what rules counts against). Each row says which
 * source it reports.
 */
import type { Plant } from '../core/plants.ts';
import { HttpError } from './auth.ts';
import { quoteIdentifier, quoteString, seriesRows, tagIn, type InfluxQueryClient } from './influx.ts';

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

/** A pollutant's concentration meter and the flow meter at the same outfall. */
export interface LoadPair {
  plant: string;
  outfall: string;
  pollutant: Pollutant;
  concentrationMeter: string;
  flowMeter: string;
}

export function loadPairs(plant: Plant): LoadPair[] {
  const out: LoadPair[] = [];
  for (const pollutant of POLLUTANTS) {
    for (const meter of plant.meters.filter((m) => m.quantities.includes(pollutant))) {
      const flow = plant.meters.find((m) => m.location === meter.location && m.quantities.includes('wastewater_flow'));
      if (flow) out.push({ plant: plant.id, outfall: meter.location, pollutant, concentrationMeter: meter.id, flowMeter: flow.id });
    }
  }
  return out;
}

export function hourlyMeanStatement(plant: string, meter: string, quantity: string, from: number, to: number): string {
  return (
    `SELECT mean(${quoteIdentifier(quantity)}) AS "mean" FROM "water" WHERE "plant" = ${quoteString(plant)} AND "meter" = ${quoteString(meter)}` +
    ` AND time >= ${from}ms AND time < ${to}ms GROUP BY time(1h) fill(none)`
  );
}

/** Per month: kg discharged, the hours that had both means, and the volume (m3) of those hours. */
export interface MonthLoad {
  kg: number;
  coveredHours: number;
  volumeM3: number;
}

/** kg per month from hourly means (bucket start ms → mean), with the hours that had both means and their volume. */
export function monthlyLoads(concentration: ReadonlyMap<number, number>, flow: ReadonlyMap<number, number>): Map<string, MonthLoad> {
  const out = new Map<string, MonthLoad>();
  for (const [hour, mgPerL] of concentration) {
    const m3PerH = flow.get(hour);
    if (m3PerH === undefined) continue;
    const month = monthOf(hour);
    const acc = out.get(month) ?? { kg: 0, coveredHours: 0, volumeM3: 0 };
    acc.kg += (mgPerL * m3PerH) / 1000;
    acc.coveredHours += 1;
    acc.volumeM3 += m3PerH;
    out.set(month, acc);
  }
  return out;
}

const key = (plant: string, pollutant: string, month: string): string => `${plant}\u0000${pollutant}\u0000${month}`;

/** The dashboard's own loads of these plants for these months, keyed by plant, pollutant and month, in one request. */
export async function computeLoads(influx: InfluxQueryClient, plants: readonly Plant[], months: readonly string[], now: number): Promise<Map<string, MonthLoad>> {
  const byKey = new Map<string, MonthLoad>();
  const first = months[0];
  const last = months.at(-1);
  if (first === undefined || last === undefined) return byKey;
  const from = monthStart(first);
  const to = Math.min(monthStart(nextMonth(last)), Math.ceil(now / HOUR_MS) * HOUR_MS);
  const pairs = plants.flatMap(loadPairs);
  if (pairs.length === 0 || from >= to) return byKey;
  const statements = pairs.flatMap((p) => [hourlyMeanStatement(p.plant, p.concentrationMeter, p.pollutant, from, to), hourlyMeanStatement(p.plant, p.flowMeter, 'wastewater_flow', from, to)]);
  const results = await influx.query(statements);
  const means = (i: number): Map<number, number> => {
    const map = new Map<number, number>();
    for (const series of results[i] ?? []) for (const [t, v] of series.values) if (typeof t === 'number' && typeof v === 'number') map.set(t, v);
    return map;
  };
  pairs.forEach((p, i) => {
    for (const [month, load] of monthlyLoads(means(2 * i), means(2 * i + 1))) {
      const k = key(p.plant, p.pollutant, month);
      const acc = byKey.get(k) ?? { kg: 0, coveredHours: 0, volumeM3: 0 };
      acc.kg += load.kg;
      acc.volumeM3 += load.volumeM3;
      // Several outfalls of one plant cover the same hours: count an hour once, the most covered outfall's.
      acc.coveredHours = Math.max(acc.coveredHours, load.coveredHours);
      byKey.set(k, acc);
    }
  });
  return byKey;
}

/** A plant row of measurement `reductions` as rules writes it (tags month, plant, pollutant, region, scope=plant). */
export interface RulesReduction {
  dischargedTonnes: number;
  baselineTonnes: number;
  reductionTonnes: number;
  coveredHours: number;
  hasBaseline: boolean;
}

export function rulesReductionsStatement(plants: readonly Plant[], months: readonly string[]): string {
  const from = monthStart(months[0] as string);
  const to = monthStart(nextMonth(months.at(-1) as string));
  return (
    `SELECT "discharged_t", "baseline_t", "reduced_t", "covered_hours", "has_baseline" FROM "reductions" WHERE "scope" = 'plant' AND ${tagIn('plant', plants.map((p) => p.id))}` +
    ` AND time >= ${from}ms AND time < ${to}ms GROUP BY "plant", "pollutant", "month"`
  );
}

/** Rules' plant rows for these plants and months, keyed by plant, pollutant and month. */
export async function fetchRulesReductions(influx: InfluxQueryClient, plants: readonly Plant[], months: readonly string[]): Promise<Map<string, RulesReduction>> {
  const out = new Map<string, RulesReduction>();
  if (plants.length === 0 || months.length === 0) return out;
  const [series = []] = await influx.query([rulesReductionsStatement(plants, months)]);
  for (const s of series) {
    for (const row of seriesRows(s)) {
      const { plant, pollutant, month, discharged_t, baseline_t, reduced_t, covered_hours, has_baseline } = row;
      if (typeof plant !== 'string' || typeof pollutant !== 'string' || typeof month !== 'string' || typeof discharged_t !== 'number') continue;
      const hasBaseline = has_baseline === true;
      out.set(key(plant, pollutant, month), {
        dischargedTonnes: discharged_t,
        baselineTonnes: hasBaseline && typeof baseline_t === 'number' ? baseline_t : 0,
        reductionTonnes: hasBaseline && typeof reduced_t === 'number' ? reduced_t : 0,
        coveredHours: typeof covered_hours === 'number' ? covered_hours : 0,
        hasBaseline,
      });
    }
  }
  return out;
}

/** Which figure a row reports: rules' row in `reductions`, the dashboard's own computation, or (region rows) both. */
export type ReductionSource = 'rules' | 'dashboard' | 'mixed';

export interface ReductionRow {
  month: string;
  region: string;
  /** A plant id, or * for a region total. */
  plant: string;
  pollutant: Pollutant;
  dischargedTonnes: number;
  /** The load the baseline implies for the same hours and volume; null without a baseline. */
  baselineTonnes: number | null;
  /** baseline − discharged (negative: discharged more than the baseline implies); null without a baseline. */
  reductionTonnes: number | null;
  /** reduction / baseline, null without a baseline or when it is zero. */
  reductionShare: number | null;
  coveredHours: number;
  hours: number;
  source: ReductionSource;
  /** The dashboard's own concentration × volume figure, reported as the cross-check of rules' discharged figure. */
  computedTonnes: number;
}

/**
 * Rows per plant, pollutant and month: rules' figures where rules wrote them, else the dashboard's own load against
 * the plant's baseline concentration (`baselineOf`: plant → pollutant → mg/L) over the same volume.
 */
export function reductionRows(
  plants: readonly Plant[],
  months: readonly string[],
  computed: ReadonlyMap<string, MonthLoad>,
  fromRules: ReadonlyMap<string, RulesReduction>,
  baselineOf: (plant: string, pollutant: Pollutant) => number | undefined,
  now: number,
): ReductionRow[] {
  const until = Math.ceil(now / HOUR_MS) * HOUR_MS;
  const rows: ReductionRow[] = [];
  for (const plant of plants) {
    const pairs = loadPairs(plant);
    for (const pollutant of POLLUTANTS.filter((pol) => pairs.some((p) => p.pollutant === pol))) {
      for (const month of months) {
        const hours = Math.max(0, Math.min(monthStart(nextMonth(month)), until) - monthStart(month)) / HOUR_MS;
        const own = computed.get(key(plant.id, pollutant, month)) ?? { kg: 0, coveredHours: 0, volumeM3: 0 };
        const computedTonnes = own.kg / 1000;
        const ruled = fromRules.get(key(plant.id, pollutant, month));
        let row: Omit<ReductionRow, 'reductionShare'>;
        if (ruled) {
          row = {
            month, region: plant.region, plant: plant.id, pollutant,
            dischargedTonnes: ruled.dischargedTonnes,
            baselineTonnes: ruled.hasBaseline ? ruled.baselineTonnes : null,
            reductionTonnes: ruled.hasBaseline ? ruled.reductionTonnes : null,
            coveredHours: ruled.coveredHours, hours, source: 'rules', computedTonnes,
          };
        } else {
          const concentration = baselineOf(plant.id, pollutant);
          // mg/L × m3 = g; / 1e6 = t
          const baselineTonnes = concentration === undefined ? null : (concentration * own.volumeM3) / 1e6;
          row = {
            month, region: plant.region, plant: plant.id, pollutant,
            dischargedTonnes: computedTonnes,
            baselineTonnes,
            reductionTonnes: baselineTonnes === null ? null : baselineTonnes - computedTonnes,
            coveredHours: own.coveredHours, hours, source: 'dashboard', computedTonnes,
          };
        }
        rows.push({ ...row, reductionShare: share(row.reductionTonnes, row.baselineTonnes) });
      }
    }
  }
  return rows;
}

function share(reduction: number | null, baseline: number | null): number | null {
  return reduction === null || !baseline ? null : reduction / baseline;
}

/**
 * Sum plant rows into region rows. Coverage: the least covered plant's hours. Baseline and reduction count the plants
 * with a baseline only (as rules' region rows do), so the share is the reduction of those plants against theirs.
 */
export function regionTotals(rows: readonly ReductionRow[]): ReductionRow[] {
  const byKey = new Map<string, ReductionRow>();
  for (const r of rows) {
    const k = key(r.region, r.pollutant, r.month);
    const acc = byKey.get(k);
    if (!acc) {
      byKey.set(k, { ...r, plant: '*' });
      continue;
    }
    acc.dischargedTonnes += r.dischargedTonnes;
    acc.computedTonnes += r.computedTonnes;
    acc.coveredHours = Math.min(acc.coveredHours, r.coveredHours);
    if (r.baselineTonnes !== null) {
      acc.baselineTonnes = (acc.baselineTonnes ?? 0) + r.baselineTonnes;
      acc.reductionTonnes = (acc.reductionTonnes ?? 0) + (r.reductionTonnes ?? 0);
    }
    if (acc.source !== r.source) acc.source = 'mixed';
  }
  return [...byKey.values()].map((r) => ({ ...r, reductionShare: share(r.reductionTonnes, r.baselineTonnes) }));
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
  return `SELECT "target_t", "year_to_date_t", "progress" FROM "reductions" WHERE "scope" = 'national' AND time >= ${from}ms AND time < ${to}ms GROUP BY "pollutant" ORDER BY time DESC LIMIT 1`;
}

/** Year-to-date national progress as of `month` (the latest month rules wrote in its year); empty when rules has not. */
export async function fetchNationalProgress(influx: InfluxQueryClient, month: string): Promise<NationalProgress[]> {
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

const CSV_COLUMNS = ['month', 'region', 'plant', 'pollutant', 'discharged_t', 'baseline_t', 'reduction_t', 'reduction_share', 'covered_hours', 'hours', 'source', 'computed_t'] as const;

/** RFC 4180 CSV (CRLF line ends); ids and months never need quoting, numbers are plain, no baseline is empty. */
export function reductionsCsv(rows: readonly ReductionRow[]): string {
  const num = (x: number | null, digits: number): string => (x === null ? '' : Number(x.toFixed(digits)).toString());
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of rows) {
    lines.push(
      [r.month, r.region, r.plant, r.pollutant, num(r.dischargedTonnes, 6), num(r.baselineTonnes, 6), num(r.reductionTonnes, 6), num(r.reductionShare, 4), r.coveredHours, r.hours, r.source, num(r.computedTonnes, 6)].join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}
