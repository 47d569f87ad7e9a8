/**
 * Reductions: COD and NH3-N discharged per plant, region and month (tonnes), against the load the plant's baseline
 * implies, summed nationally against the 2016 plan's targets (80,000 t COD, 7,000 t NH3-N in the year; the seed
 * plan, shared/seed/green-manufacturing-2016.txt, 三(一)).
 *
 *   discharged (kg) = Σ over hours of mean concentration (mg/L) × mean wastewater flow (m3/h) × 1 h / 1000
 *   baseline   (kg) = Σ over the same hours of baseline concentration × mean flow × 1 h / 1000
 *   reduced    (t)  = (baseline − discharged) / 1000
 *
 * per outfall (a pollutant meter and the flow meter at the same outfall, as shared/reference/limits-and-baselines.md
 * counts loads); an hour lacking either mean is not counted (coveredHours says how much of the month is). The
 * baseline volume is the actual volume: the counterfactual is the same production discharged at the baseline
 * concentration. Months are China Standard Time. Written to InfluxDB measurement `reductions`.
 */
import type { Plant, PlantRegistry } from '../core/plants.ts';
import type { Baseline } from './baselines.ts';
import type { InfluxClient } from './influx.ts';

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

export interface PlantReduction {
  scope: 'plant';
  month: string;
  plant: string;
  region: string;
  pollutant: Pollutant;
  dischargedT: number;
  baselineT: number;
  reducedT: number;
  coveredHours: number;
  /** Whether the plant has a baseline for the pollutant (without one, baselineT and reducedT are 0). */
  hasBaseline: boolean;
}

export interface AggregateReduction {
  scope: 'region' | 'national';
  month: string;
  region: string | null;
  pollutant: Pollutant;
  dischargedT: number;
  baselineT: number;
  reducedT: number;
  /** National only: the year's target, and reductions from January to this month against it. */
  targetT?: number;
  yearToDateT?: number;
  progress?: number;
}

interface Pair {
  plant: Plant;
  pollutant: Pollutant;
  concentrationMeter: string;
  flowMeter: string;
}

function pairs(plant: Plant): Pair[] {
  const out: Pair[] = [];
  for (const pollutant of POLLUTANTS) {
    for (const meter of plant.meters.filter((m) => m.quantities.includes(pollutant))) {
      const flow = plant.meters.find((m) => m.location === meter.location && m.quantities.includes('wastewater_flow'));
      if (flow) out.push({ plant, pollutant, concentrationMeter: meter.id, flowMeter: flow.id });
    }
  }
  return out;
}

const q = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

async function hourlyMeans(influx: InfluxClient, plant: string, meter: string, field: string, from: number, to: number): Promise<Map<number, number>> {
  const series = await influx.query(`SELECT mean("${field}") FROM "water" WHERE "plant" = ${q(plant)} AND "meter" = ${q(meter)} AND time >= ${from}ms AND time < ${to}ms GROUP BY time(1h) fill(none)`);
  const out = new Map<number, number>();
  for (const s of series) for (const [t, v] of s.values ?? []) if (typeof t === 'number' && typeof v === 'number') out.set(t, v);
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

export async function computeReductions(input: ReductionsInput): Promise<{ plants: PlantReduction[]; aggregates: AggregateReduction[] }> {
  const baselineOf = new Map(input.baselines.map((b) => [`${b.plant}\u0000${b.indicator}`, b.value]));
  const plants: PlantReduction[] = [];
  for (const month of input.months) {
    const from = monthStart(month);
    const to = Math.min(monthStart(nextMonth(month)), input.now);
    if (from >= to) continue;
    for (const plant of input.registry.plants) {
      const acc = new Map<Pollutant, { d: number; b: number; hours: number }>();
      for (const p of pairs(plant)) {
        const [conc, flow] = await Promise.all([hourlyMeans(input.influx, plant.id, p.concentrationMeter, p.pollutant, from, to), hourlyMeans(input.influx, plant.id, p.flowMeter, 'wastewater_flow', from, to)]);
        const base = baselineOf.get(`${plant.id}\u0000${p.pollutant}`);
        const a = acc.get(p.pollutant) ?? { d: 0, b: 0, hours: 0 };
        let hours = 0;
        for (const [hour, mgPerL] of conc) {
          const m3 = flow.get(hour);
          if (m3 === undefined) continue;
          hours++;
          a.d += (mgPerL * m3) / 1000;
          if (base !== undefined) a.b += (base * m3) / 1000;
        }
        a.hours = Math.max(a.hours, hours);
        acc.set(p.pollutant, a);
      }
      for (const [pollutant, a] of acc) {
        const hasBaseline = baselineOf.has(`${plant.id}\u0000${pollutant}`);
        const dischargedT = a.d / 1000;
        const baselineT = hasBaseline ? a.b / 1000 : 0;
        plants.push({ scope: 'plant', month, plant: plant.id, region: plant.region, pollutant, dischargedT, baselineT, reducedT: hasBaseline ? baselineT - dischargedT : 0, coveredHours: a.hours, hasBaseline });
      }
    }
  }
  return { plants, aggregates: aggregate(plants) };
}

/** Region and national sums per month and pollutant; national rows carry year-to-date progress against the target. */
export function aggregate(plants: readonly PlantReduction[]): AggregateReduction[] {
  const out: AggregateReduction[] = [];
  const sum = (rows: readonly PlantReduction[]) => ({
    dischargedT: rows.reduce((s, r) => s + r.dischargedT, 0),
    baselineT: rows.reduce((s, r) => s + r.baselineT, 0),
    reducedT: rows.reduce((s, r) => s + r.reducedT, 0),
  });
  const months = [...new Set(plants.map((p) => p.month))].sort();
  for (const month of months) {
    for (const pollutant of POLLUTANTS) {
      const rows = plants.filter((p) => p.month === month && p.pollutant === pollutant);
      if (!rows.length) continue;
      for (const region of [...new Set(rows.map((r) => r.region))].sort()) {
        out.push({ scope: 'region', month, region, pollutant, ...sum(rows.filter((r) => r.region === region)) });
      }
      const year = month.slice(0, 4);
      const ytd = plants.filter((p) => p.pollutant === pollutant && p.month.startsWith(year) && p.month <= month).reduce((s, r) => s + r.reducedT, 0);
      const target = NATIONAL_TARGETS_T[pollutant];
      out.push({ scope: 'national', month, region: null, pollutant, ...sum(rows), targetT: target, yearToDateT: ytd, progress: ytd / target });
    }
  }
  return out;
}

const tag = (s: string): string => s.replace(/[,= \\]/g, (c) => `\\${c}`);

/** Rows of measurement `reductions`, one per scope × month × pollutant, at the month's start. */
export function reductionLines(plants: readonly PlantReduction[], aggregates: readonly AggregateReduction[]): string[] {
  const lines: string[] = [];
  for (const p of plants) {
    lines.push(`reductions,month=${p.month},plant=${tag(p.plant)},pollutant=${p.pollutant},region=${tag(p.region)},scope=plant discharged_t=${p.dischargedT},baseline_t=${p.baselineT},reduced_t=${p.reducedT},covered_hours=${p.coveredHours}i,has_baseline=${p.hasBaseline} ${monthStart(p.month)}`);
  }
  for (const a of aggregates) {
    const tags = `reductions,month=${a.month},pollutant=${a.pollutant}${a.region ? `,region=${tag(a.region)}` : ''},scope=${a.scope}`;
    const extra = a.scope === 'national' ? `,target_t=${a.targetT},year_to_date_t=${a.yearToDateT},progress=${a.progress}` : '';
    lines.push(`${tags} discharged_t=${a.dischargedT},baseline_t=${a.baselineT},reduced_t=${a.reducedT}${extra} ${monthStart(a.month)}`);
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
