/**
 * Pollutant loads discharged per plant and month, the quantity reductions are counted in
 * (shared/reference/limits-and-baselines.md, "Loads and targets"):
 *
 *   load (kg) = concentration (mg/L) × volume (m3) / 1000
 *
 * Computed hour by hour for each outfall: the hour's mean concentration of the pollutant's meter at the outfall times
 * the hour's mean wastewater flow (m3/h) of the flow meter at the same outfall, i.e. the volume of that hour. An hour
 * lacking either mean is not counted and not estimated: `coveredHours` says how much of the month the figure covers,
 * so a gap shows as low coverage rather than as a reduction. Months run in China Standard Time (UTC+8); whole-hour
 * buckets align with them since the offset is a whole number of hours.
 *
 * Baselines (the reference a reduction is measured against) are not modelled yet; each month is compared with the
 * month before it.
 */
import type { Plant } from '../core/plants.ts';
import { HttpError } from './auth.ts';
import { quoteIdentifier, quoteString, type InfluxQueryClient } from './influx.ts';

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
  if (!match) throw new HttpError(400, 'BAD_MONTH', `expected a month as YYYY-MM, got ${month}`);
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
  if (monthStart(from) > monthStart(to)) throw new HttpError(400, 'BAD_WINDOW', `from (${from}) must not be after to (${to})`);
  const out: string[] = [];
  for (let m = from; monthStart(m) <= monthStart(to); m = nextMonth(m)) {
    out.push(m);
    if (out.length > MAX_MONTHS) throw new HttpError(400, 'TOO_MANY_MONTHS', `at most ${MAX_MONTHS} months per request`);
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

/** kg per month from hourly means (bucket start ms → mean), with the hours that had both means. */
export function monthlyLoads(concentration: ReadonlyMap<number, number>, flow: ReadonlyMap<number, number>): Map<string, { kg: number; coveredHours: number }> {
  const out = new Map<string, { kg: number; coveredHours: number }>();
  for (const [hour, mgPerL] of concentration) {
    const m3PerH = flow.get(hour);
    if (m3PerH === undefined) continue;
    const month = monthOf(hour);
    const acc = out.get(month) ?? { kg: 0, coveredHours: 0 };
    acc.kg += (mgPerL * m3PerH) / 1000;
    acc.coveredHours += 1;
    out.set(month, acc);
  }
  return out;
}

export interface LoadRow {
  month: string;
  region: string;
  plant: string;
  pollutant: Pollutant;
  tonnes: number;
  coveredHours: number;
  hours: number;
  /** The month before's tonnes, when it was asked for too; null otherwise. */
  previousTonnes: number | null;
  /** (tonnes − previousTonnes) / previousTonnes, null when there is no previous month or it was zero. */
  change: number | null;
}

/** Loads of these plants for these months (China Standard Time), plant by plant, in one request to InfluxDB. */
export async function computeLoads(influx: InfluxQueryClient, plants: readonly Plant[], months: readonly string[], now: number): Promise<LoadRow[]> {
  const first = months[0];
  const last = months.at(-1);
  if (first === undefined || last === undefined) return [];
  const from = monthStart(first);
  const to = Math.min(monthStart(nextMonth(last)), Math.ceil(now / HOUR_MS) * HOUR_MS);
  const pairs = plants.flatMap(loadPairs);
  const rows: LoadRow[] = [];
  if (pairs.length === 0 || from >= to) return rows;
  const statements = pairs.flatMap((p) => [hourlyMeanStatement(p.plant, p.concentrationMeter, p.pollutant, from, to), hourlyMeanStatement(p.plant, p.flowMeter, 'wastewater_flow', from, to)]);
  const results = await influx.query(statements);
  const means = (i: number): Map<number, number> => {
    const map = new Map<number, number>();
    for (const series of results[i] ?? []) for (const [t, v] of series.values) if (typeof t === 'number' && typeof v === 'number') map.set(t, v);
    return map;
  };
  const byKey = new Map<string, { kg: number; coveredHours: number }>();
  pairs.forEach((p, i) => {
    for (const [month, load] of monthlyLoads(means(2 * i), means(2 * i + 1))) {
      const key = `${p.plant}\u0000${p.pollutant}\u0000${month}`;
      const acc = byKey.get(key) ?? { kg: 0, coveredHours: 0 };
      acc.kg += load.kg;
      // Several outfalls of one plant cover the same hours: count an hour once, the most covered outfall's.
      acc.coveredHours = Math.max(acc.coveredHours, load.coveredHours);
      byKey.set(key, acc);
    }
  });
  for (const plant of plants) {
    const pollutants = POLLUTANTS.filter((pol) => pairs.some((p) => p.plant === plant.id && p.pollutant === pol));
    for (const pollutant of pollutants) {
      let previous: number | null = null;
      for (const month of months) {
        const load = byKey.get(`${plant.id}\u0000${pollutant}\u0000${month}`) ?? { kg: 0, coveredHours: 0 };
        const hours = Math.max(0, Math.min(monthStart(nextMonth(month)), to) - monthStart(month)) / HOUR_MS;
        const tonnes = load.kg / 1000;
        rows.push({
          month,
          region: plant.region,
          plant: plant.id,
          pollutant,
          tonnes,
          coveredHours: load.coveredHours,
          hours,
          previousTonnes: previous,
          change: previous ? (tonnes - previous) / previous : null,
        });
        previous = tonnes;
      }
    }
  }
  return rows;
}

/** Sum plant rows into region rows (coverage: the least covered plant's hours). */
export function regionTotals(rows: readonly LoadRow[]): LoadRow[] {
  const byKey = new Map<string, LoadRow>();
  for (const r of rows) {
    const key = `${r.region}\u0000${r.pollutant}\u0000${r.month}`;
    const acc = byKey.get(key);
    if (!acc) {
      byKey.set(key, { ...r, plant: '*', previousTonnes: r.previousTonnes });
      continue;
    }
    acc.tonnes += r.tonnes;
    acc.coveredHours = Math.min(acc.coveredHours, r.coveredHours);
    acc.previousTonnes = acc.previousTonnes === null || r.previousTonnes === null ? null : acc.previousTonnes + r.previousTonnes;
  }
  return [...byKey.values()].map((r) => ({ ...r, change: r.previousTonnes ? (r.tonnes - r.previousTonnes) / r.previousTonnes : null }));
}

const CSV_COLUMNS = ['month', 'region', 'plant', 'pollutant', 'tonnes', 'covered_hours', 'hours', 'previous_tonnes', 'change'] as const;

/** RFC 4180 CSV (CRLF line ends); ids and months never need quoting, numbers are plain. */
export function loadsCsv(rows: readonly LoadRow[]): string {
  const num = (x: number | null, digits: number): string => (x === null ? '' : Number(x.toFixed(digits)).toString());
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of rows) {
    lines.push([r.month, r.region, r.plant, r.pollutant, num(r.tonnes, 6), r.coveredHours, r.hours, num(r.previousTonnes, 6), num(r.change, 4)].join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}
