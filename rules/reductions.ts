/**
 * Reductions: COD and NH3-N discharged per plant, region and month (tonnes), against the load the plant's baseline
 * implies, summed nationally against the 2016 green-manufacturing plan's targets (80,000 t COD, 7,000 t NH3-N in the
 * year). Summed from the `loads` rows ingest writes (the integral of flow × concentration over the time readings
 * covered; ingest/loads.ts), by the one method in core/reduction-figure.ts:
 *
 *   discharged (t) = Σ kg / 1000;  baseline (t) = baseline concentration × Σ volume of the same time / 1e6
 *   reduced    (t) = baseline − discharged
 *
 * per outfall pairing a pollutant meter with the flow meter at the same outfall. Each figure carries its coverage
 * (time with data / time in the month so far) and is marked partial below core/coverage.ts' threshold. A plant,
 * pollutant and month without data has no row (not a zero one); region and national rows sum the plants that have
 * data, with the mean coverage of all the plants that should. Months are China Standard Time. Written to InfluxDB
 * measurement `reductions`.
 */
import { coverageOf } from '../core/coverage.ts';
import type { Plant, PlantRegistry } from '../core/plants.ts';
import { pairedOutfalls, reductionFigure, type LoadSums } from '../core/reduction-figure.ts';
import type { Baseline } from './baselines.ts';
import type { InfluxClient } from '../influxdb/client.ts';
import { escapeKey, escapeMeasurement, LOADS_MEASUREMENT, quoteIdentifier, REDUCTIONS_MEASUREMENT } from '../influxdb/schema.ts';

export const POLLUTANTS = ['cod', 'nh3n'] as const;
export type Pollutant = (typeof POLLUTANTS)[number];

/** The seed plan's national targets for the year, tonnes. */
export const NATIONAL_TARGETS_T: Record<Pollutant, number> = { cod: 80_000, nh3n: 7_000 };

const HOUR = 3_600_000;
const CST = 8 * HOUR;

export function monthStart(month: string): number {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return Date.UTC(y, m - 1, 1) - CST;
}

export function monthOf(ms: number): string {
  const d = new Date(ms + CST);
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

export function nextMonth(month: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
}

interface Figures {
  dischargedT: number;
  /** Only with a baseline. */
  baselineT?: number | undefined;
  reducedT?: number | undefined;
  coveredSeconds: number;
  periodSeconds: number;
  coverage: number;
  partial: boolean;
}

export interface PlantReduction extends Figures {
  scope: 'plant';
  month: string;
  plant: string;
  region: string;
  pollutant: Pollutant;
  /** Whether the plant has a baseline for the pollutant (without one, there is no baseline or reduction figure). */
  hasBaseline: boolean;
}

export interface AggregateReduction extends Figures {
  scope: 'region' | 'national';
  month: string;
  region: string | null;
  pollutant: Pollutant;
  /** National only: the year's target, and reductions from January to this month against it. */
  targetT?: number;
  yearToDateT?: number;
  progress?: number;
}

/** Each plant's and outfall's `loads` sums over [from, to), keyed plant → outfall → pollutant. */
async function loadSums(influx: InfluxClient, from: number, to: number): Promise<Map<string, Map<string, Map<Pollutant, LoadSums>>>> {
  const fields = POLLUTANTS.flatMap((p) => ['kg', 'm3', 's'].map((f) => `sum(${quoteIdentifier(`${p}_${f}`)}) AS ${quoteIdentifier(`${p}_${f}`)}`)).join(', ');
  const series = await influx.queryOne(`SELECT ${fields} FROM ${quoteIdentifier(LOADS_MEASUREMENT)} WHERE time >= ${from}ms AND time < ${to}ms GROUP BY "plant", "outfall"`);
  const out = new Map<string, Map<string, Map<Pollutant, LoadSums>>>();
  for (const s of series) {
    const plant = s.tags?.plant;
    const outfall = s.tags?.outfall;
    const row = s.values?.[0];
    if (!plant || !outfall || !row) continue;
    const value = (name: string): number | undefined => {
      const v = row[s.columns.indexOf(name)];
      return typeof v === 'number' ? v : undefined;
    };
    for (const p of POLLUTANTS) {
      const [kg, m3, seconds] = [value(`${p}_kg`), value(`${p}_m3`), value(`${p}_s`)];
      if (kg === undefined || m3 === undefined || seconds === undefined) continue;
      let byOutfall = out.get(plant);
      if (!byOutfall) out.set(plant, (byOutfall = new Map()));
      let byPollutant = byOutfall.get(outfall);
      if (!byPollutant) byOutfall.set(outfall, (byPollutant = new Map()));
      byPollutant.set(p, { kg, m3, seconds });
    }
  }
  return out;
}

export interface ReductionsInput {
  influx: InfluxClient;
  registry: PlantRegistry;
  /** Concentration baselines per plant (indicator = pollutant); the plant's own value is used. */
  baselines: readonly Baseline[];
  /** Months (YYYY-MM, CST) to compute; the year-to-date of the national rows needs the year's earlier months too. */
  months: readonly string[];
  now: number;
}

/** A plant's figure for a month, with data or not: aggregates count the plants without data in their coverage. */
interface Slot {
  month: string;
  plant: Plant;
  pollutant: Pollutant;
  coverage: number;
  periodSeconds: number;
  row: PlantReduction | undefined;
}

export async function computeReductions(input: ReductionsInput): Promise<{ plants: PlantReduction[]; aggregates: AggregateReduction[] }> {
  const baselineOf = new Map(input.baselines.map((b) => [`${b.plant}\u0000${b.indicator}`, b.value]));
  const slots: Slot[] = [];
  for (const month of input.months) {
    const from = monthStart(month);
    const to = Math.min(monthStart(nextMonth(month)), input.now);
    if (from >= to) continue;
    const periodSeconds = (to - from) / 1000;
    const sums = await loadSums(input.influx, from, to);
    for (const plant of input.registry.plants) {
      for (const pollutant of POLLUTANTS) {
        const outfalls = pairedOutfalls(plant, pollutant);
        if (outfalls.length === 0) continue;
        const base = baselineOf.get(`${plant.id}\u0000${pollutant}`);
        const f = reductionFigure(outfalls.map((o) => sums.get(plant.id)?.get(o)?.get(pollutant)), periodSeconds, base);
        const row: PlantReduction | undefined =
          f.dischargedT === null
            ? undefined
            : {
                scope: 'plant', month, plant: plant.id, region: plant.region, pollutant, hasBaseline: base !== undefined,
                dischargedT: f.dischargedT, baselineT: f.baselineT ?? undefined, reducedT: f.reducedT ?? undefined,
                coveredSeconds: f.coveredSeconds, periodSeconds, coverage: f.coverage, partial: f.partial,
              };
        slots.push({ month, plant, pollutant, coverage: f.coverage, periodSeconds, row });
      }
    }
  }
  return { plants: slots.flatMap((s) => (s.row ? [s.row] : [])), aggregates: aggregateSlots(slots) };
}

/**
 * Region and national sums per month and pollutant, written only where some plant has data. Sums count the plants
 * with data (baseline and reduction: those with a baseline too); coverage is the mean over every plant that should
 * report, so a silent plant lowers it. National rows carry year-to-date progress against the target.
 */
function aggregateSlots(slots: readonly Slot[]): AggregateReduction[] {
  const out: AggregateReduction[] = [];
  const sum = (group: readonly Slot[]): Figures | undefined => {
    const rows = group.flatMap((s) => (s.row ? [s.row] : []));
    if (rows.length === 0) return undefined;
    const periodSeconds = group[0]!.periodSeconds;
    const withBaseline = rows.filter((r) => r.hasBaseline);
    const c = coverageOf((group.reduce((a, s) => a + s.coverage, 0) / group.length) * periodSeconds, periodSeconds);
    return {
      dischargedT: rows.reduce((a, r) => a + r.dischargedT, 0),
      baselineT: withBaseline.length ? withBaseline.reduce((a, r) => a + (r.baselineT ?? 0), 0) : undefined,
      reducedT: withBaseline.length ? withBaseline.reduce((a, r) => a + (r.reducedT ?? 0), 0) : undefined,
      ...c,
    };
  };
  const months = [...new Set(slots.map((s) => s.month))].sort();
  for (const month of months) {
    for (const pollutant of POLLUTANTS) {
      const group = slots.filter((s) => s.month === month && s.pollutant === pollutant);
      for (const region of [...new Set(group.map((s) => s.plant.region))].sort()) {
        const figures = sum(group.filter((s) => s.plant.region === region));
        if (figures) out.push({ scope: 'region', month, region, pollutant, ...figures });
      }
      const national = sum(group);
      if (!national) continue;
      const year = month.slice(0, 4);
      const ytd = slots.filter((s) => s.pollutant === pollutant && s.month.startsWith(year) && s.month <= month).reduce((a, s) => a + (s.row?.reducedT ?? 0), 0);
      const target = NATIONAL_TARGETS_T[pollutant];
      out.push({ scope: 'national', month, region: null, pollutant, ...national, targetT: target, yearToDateT: ytd, progress: ytd / target });
    }
  }
  return out;
}

function figureFields(f: Figures): string {
  let fields = `discharged_t=${f.dischargedT}`;
  if (f.baselineT !== undefined) fields += `,baseline_t=${f.baselineT}`;
  if (f.reducedT !== undefined) fields += `,reduced_t=${f.reducedT}`;
  return `${fields},covered_s=${f.coveredSeconds},period_s=${f.periodSeconds},coverage=${f.coverage},partial=${f.partial}`;
}

/**
 * Rows of measurement `reductions`, one per scope × month × pollutant with data, at the month's start. Without a
 * baseline a row has no baseline_t and reduced_t fields (no figure, not a zero one).
 */
export function reductionLines(plants: readonly PlantReduction[], aggregates: readonly AggregateReduction[]): string[] {
  const lines: string[] = [];
  for (const p of plants) {
    lines.push(`${escapeMeasurement(REDUCTIONS_MEASUREMENT)},month=${escapeKey(p.month)},plant=${escapeKey(p.plant)},pollutant=${escapeKey(p.pollutant)},region=${escapeKey(p.region)},scope=plant ${figureFields(p)},has_baseline=${p.hasBaseline} ${monthStart(p.month)}`);
  }
  for (const a of aggregates) {
    const tags = `${escapeMeasurement(REDUCTIONS_MEASUREMENT)},month=${escapeKey(a.month)},pollutant=${escapeKey(a.pollutant)}${a.region ? `,region=${escapeKey(a.region)}` : ''},scope=${escapeKey(a.scope)}`;
    const extra = a.scope === 'national' ? `,target_t=${a.targetT},year_to_date_t=${a.yearToDateT},progress=${a.progress}` : '';
    lines.push(`${tags} ${figureFields(a)}${extra} ${monthStart(a.month)}`);
  }
  return lines;
}

/** The months of the year up to the one `now` is in (CST): what a periodic run recomputes. */
export function monthsOfYearTo(now: number): string[] {
  const current = monthOf(now);
  const out: string[] = [];
  for (let m = `${current.slice(0, 4)}-01`; m <= current; m = nextMonth(m)) out.push(m);
  return out;
}
