/**
 * The plant registry: which plants exist, where (region, for regulators' scope), in which industry, their discharge
 * points (outfalls for water, stacks for flue gas) and the meters at them. Every stage reads the same file.
 */
import { z } from 'zod';
import { catalogPathSchema, idSchema, loadConfigFile, parseConfig, quantityIdSchema } from './config.ts';
import type { QuantityId } from './catalog.ts';
import { ConfigError, type ConfigIssue } from './errors.ts';

export const INDUSTRIES = ['pulp-paper', 'textile-dyeing', 'steel', 'cement', 'thermal-power', 'chemicals'] as const;
export type Industry = (typeof INDUSTRIES)[number];

const localized = z.strictObject({ en: z.string().min(1), zh: z.string().min(1) });

const pointSchema = z.strictObject({ id: idSchema, name: localized.optional() });

const meterSchema = z.strictObject({
  id: idSchema,
  /** The outfall or stack the meter sits at, or `site` for plant-wide meters (power, steam, gas). */
  location: idSchema,
  quantities: z.array(quantityIdSchema).min(1),
  name: localized.optional(),
});

const plantSchema = z.strictObject({
  id: idSchema,
  name: localized,
  region: idSchema,
  industry: z.enum(INDUSTRIES),
  /** Sub-category used to look up limits (e.g. pulp mill / integrated / paper mill in GB 3544). */
  category: z.string().optional(),
  outfalls: z.array(pointSchema).default([]),
  stacks: z.array(pointSchema).default([]),
  meters: z.array(meterSchema).min(1),
});

export const plantRegistrySchema = z.strictObject({
  /**
   * The plant's own quantities (core/catalog-file.ts), relative to this file: every stage reading this registry
   * (rules, the dashboards) then knows them, and the meters below may measure them.
   */
  catalog: catalogPathSchema,
  regions: z.array(z.strictObject({ id: idSchema, name: localized })).default([]),
  plants: z.array(plantSchema).min(1),
});

export type Plant = z.output<typeof plantSchema>;
export type Meter = z.output<typeof meterSchema>;
export type PlantRegistryFile = z.output<typeof plantRegistrySchema>;

/** The registry with lookups, after cross-field checks (unique ids, meters at declared points). */
export class PlantRegistry {
  readonly plants: readonly Plant[];
  readonly regions: PlantRegistryFile['regions'];
  private readonly byId = new Map<string, Plant>();
  private readonly meterIndex = new Map<string, Map<string, Meter>>();

  constructor(file: PlantRegistryFile) {
    this.plants = file.plants;
    this.regions = file.regions;
    for (const plant of file.plants) {
      this.byId.set(plant.id, plant);
      this.meterIndex.set(plant.id, new Map(plant.meters.map((m) => [m.id, m])));
    }
  }

  plant(id: string): Plant | undefined {
    return this.byId.get(id);
  }

  meter(plantId: string, meterId: string): Meter | undefined {
    return this.meterIndex.get(plantId)?.get(meterId);
  }

  /** Whether this plant has this meter and the meter measures this quantity. */
  knows(plantId: string, meterId: string, quantity: QuantityId): boolean {
    return this.meter(plantId, meterId)?.quantities.includes(quantity) ?? false;
  }

  plantsInRegion(region: string): Plant[] {
    return this.plants.filter((p) => p.region === region);
  }
}

function crossCheck(file: PlantRegistryFile): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seenPlants = new Set<string>();
  file.plants.forEach((plant, pi) => {
    if (seenPlants.has(plant.id)) issues.push({ path: `plants[${pi}].id`, expected: `a unique plant id, ${plant.id} is used twice` });
    seenPlants.add(plant.id);
    const points = new Set(['site', ...plant.outfalls.map((o) => o.id), ...plant.stacks.map((s) => s.id)]);
    const seenMeters = new Set<string>();
    plant.meters.forEach((meter, mi) => {
      if (seenMeters.has(meter.id)) issues.push({ path: `plants[${pi}].meters[${mi}].id`, expected: `a unique meter id within the plant, ${meter.id} is used twice` });
      seenMeters.add(meter.id);
      if (!points.has(meter.location)) {
        issues.push({ path: `plants[${pi}].meters[${mi}].location`, expected: `one of ${[...points].join(', ')} (the plant's outfalls, stacks, or site)` });
      }
    });
  });
  return issues;
}

export function plantRegistryFrom(source: string, raw: unknown): PlantRegistry {
  const file = parseConfig(source, raw, plantRegistrySchema);
  const issues = crossCheck(file);
  if (issues.length) throw new ConfigError(source, issues);
  return new PlantRegistry(file);
}

export function loadPlantRegistry(path: string): PlantRegistry {
  const file = loadConfigFile(path, plantRegistrySchema);
  const issues = crossCheck(file);
  if (issues.length) throw new ConfigError(path, issues);
  return new PlantRegistry(file);
}
