/**
 * Baselines: the reference a plant is judged and its reductions are counted against.
 *
 *   static   from data files (rules/baselines/*.yaml): a plant's own value (`level: plant`), or its industry's
 *            clean-production grade I/II/III;
 *   learned  from InfluxDB history: a percentile of a quantity over the last N days, per plant and meter
 *            (rolling: recomputed periodically), written with `level: learned`.
 *
 * Both are written to InfluxDB measurement `baselines` (tags plant, indicator, level, source; field value), which is
 * how the API and dashboards read them. Values are in the catalog's canonical units.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { idSchema, loadConfigFile } from '../core/config.ts';
import { quantityDef, isQuantityId } from '../core/catalog.ts';
import { INDUSTRIES, type Plant, type PlantRegistry } from '../core/plants.ts';
import type { InfluxClient } from '../influxdb/client.ts';
import { BASELINES_MEASUREMENT, escapeKey, escapeMeasurement, quoteIdentifier, type BaselineLevel } from '../influxdb/schema.ts';


export const BUILTIN_BASELINES_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'baselines');

const entrySchema = z
  .strictObject({
    plant: idSchema.optional(),
    industry: z.enum(INDUSTRIES).optional(),
    /** A quantity id (a concentration, a flow) or a per-unit-product indicator such as water_m3_per_t. */
    indicator: z.string().regex(/^[a-z0-9_]+$/),
    level: z.enum(['I', 'II', 'III', 'plant']),
    value: z.number().nonnegative(),
    verified: z.boolean().default(true),
    note: z.string().optional(),
  })
  .refine((e) => (e.plant === undefined) !== (e.industry === undefined), { message: 'expected exactly one of plant or industry' })
  .refine((e) => (e.level === 'plant') === (e.plant !== undefined), { path: ['level'], message: 'expected level "plant" exactly for entries naming a plant' });

export const baselinesFileSchema = z.strictObject({ source: z.string().min(1), entries: z.array(entrySchema).min(1) });
export type BaselineEntry = z.output<typeof entrySchema>;

export interface Baseline {
  plant: string;
  indicator: string;
  level: BaselineLevel;
  value: number;
  source: 'static' | 'learned';
  verified: boolean;
}

/** Static baselines, looked up per plant: its own value first, else its industry's grade at the wanted level. */
export class BaselineBook {
  constructor(readonly entries: readonly BaselineEntry[]) {}

  lookup(plant: Plant, indicator: string, level: 'I' | 'II' | 'III' | 'plant' = 'plant'): Baseline | undefined {
    const own = this.entries.find((e) => e.plant === plant.id && e.indicator === indicator);
    if (own && level === 'plant') return { plant: plant.id, indicator, level: 'plant', value: own.value, source: 'static', verified: own.verified };
    const grade = level === 'plant' ? undefined : this.entries.find((e) => e.industry === plant.industry && e.indicator === indicator && e.level === level);
    return grade ? { plant: plant.id, indicator, level, value: grade.value, source: 'static', verified: grade.verified } : undefined;
  }

  /** Every static baseline that applies to the registry's plants. */
  all(registry: PlantRegistry): Baseline[] {
    const out: Baseline[] = [];
    for (const plant of registry.plants) {
      for (const e of this.entries) {
        if (e.plant === plant.id || e.industry === plant.industry) out.push({ plant: plant.id, indicator: e.indicator, level: e.level, value: e.value, source: 'static', verified: e.verified });
      }
    }
    return out;
  }
}

/** Load baseline files and folders (every .yaml in a folder; energy-coefficients.yaml is not a baselines file). */
export function loadBaselines(paths: readonly string[] = [BUILTIN_BASELINES_DIR]): BaselineBook {
  const files = paths.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((n) => n.endsWith('.yaml') && n !== 'energy-coefficients.yaml')
          .sort()
          .map((n) => path.join(p, n))
      : [p],
  );
  return new BaselineBook(files.flatMap((f) => loadConfigFile(f, baselinesFileSchema).entries));
}

const coefficientSchema = z.strictObject({ kgcePerUnit: z.number().positive(), verified: z.boolean().default(true), note: z.string().optional() });
const energyQuantity = z.enum(['active_energy', 'active_power', 'natural_gas_flow', 'steam_flow']);
export type EnergyQuantity = z.output<typeof energyQuantity>;

export const energyCoefficientsSchema = z.strictObject({
  source: z.string().min(1),
  /** General coefficients (GB/T 2589), by the quantity whose amount they convert. */
  coefficients: z.partialRecord(energyQuantity, coefficientSchema),
  /** A plant's own coefficients (steam by its enthalpy), over the general ones. */
  plants: z.record(idSchema, z.partialRecord(energyQuantity, coefficientSchema)).default({}),
});

export const BUILTIN_ENERGY_COEFFICIENTS = path.join(BUILTIN_BASELINES_DIR, 'energy-coefficients.yaml');

/** kgce per unit of an energy carrier's amount (kWh, m3, t), for comprehensive energy consumption. */
export class EnergyCoefficients {
  constructor(private readonly file: z.output<typeof energyCoefficientsSchema>) {}

  /** The plant's own coefficient, else the general one; undefined when neither exists (steam without plant data). */
  kgcePer(plant: string, quantity: EnergyQuantity): number | undefined {
    return this.file.plants[plant]?.[quantity]?.kgcePerUnit ?? this.file.coefficients[quantity]?.kgcePerUnit;
  }
}

export function loadEnergyCoefficients(file: string = BUILTIN_ENERGY_COEFFICIENTS): EnergyCoefficients {
  return new EnergyCoefficients(loadConfigFile(file, energyCoefficientsSchema));
}

export interface LearnOptions {
  quantities: string[];
  days: number;
  /** 1-99: the median (50) is a typical level; a high percentile (90) a cautious one. */
  percentile: number;
  now: number;
}

/**
 * Learned baselines: the percentile of each quantity over the last `days` days, per plant (over its meters of that
 * quantity), from the readings ingest wrote. One InfluxQL statement per quantity, grouped by plant.
 */
export async function learnBaselines(influx: InfluxClient, registry: PlantRegistry, opts: LearnOptions): Promise<Baseline[]> {
  const from = opts.now - opts.days * 86_400_000;
  const out: Baseline[] = [];
  for (const quantity of opts.quantities) {
    if (!isQuantityId(quantity)) continue;
    const measurement = quantityDef(quantity).domain;
    const q = `SELECT PERCENTILE(${quoteIdentifier(quantity)}, ${opts.percentile}) AS "value" FROM ${quoteIdentifier(measurement)} WHERE time >= ${from}ms AND time < ${opts.now}ms GROUP BY "plant"`;
    const series = await influx.queryOne(q);
    for (const s of series) {
      const plant = s.tags?.plant;
      const v = s.values?.[0]?.[1];
      if (!plant || typeof v !== 'number' || !registry.plant(plant)) continue;
      out.push({ plant, indicator: quantity, level: 'learned', value: v, source: 'learned', verified: true });
    }
  }
  return out;
}

export function baselineLines(baselines: readonly Baseline[], at: number): string[] {
  return baselines.map((b) => `${escapeMeasurement(BASELINES_MEASUREMENT)},indicator=${escapeKey(b.indicator)},level=${escapeKey(b.level)},plant=${escapeKey(b.plant)},source=${escapeKey(b.source)} value=${b.value},verified=${b.verified} ${Math.round(at)}`);
}
