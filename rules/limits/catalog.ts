/**
 * The limits catalog: discharge and emission limits as versioned data files, one per standard (or per set of permits),
 * each naming its source. Values are in the catalog's canonical units (core/catalog.ts).
 *
 * Which value applies to a plant, a quantity and an instant:
 *   1. an entry naming the plant (`plants: [...]`: a permit or provincial override), from any file;
 *   2. else an entry of an industry standard (`scope: industry`) covering the plant's industry;
 *   3. else an entry of a fallback standard (`scope: fallback`, GB 8978-1996: it applies only where no industry
 *      standard does).
 * Within a tier, entries must be in force at that instant (effectiveFrom <= t < effectiveTo) and match the plant's
 * category and region when they name them; the most specific wins (plants > category + region > category > region >
 * neither), then the latest effectiveFrom (a newer value supersedes an older one). Two entries that still tie are a
 * config error found at load time, not a coin toss at run time.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { idSchema, loadConfigFile, quantityIdSchema } from '../../core/config.ts';
import type { QuantityId } from '../../core/catalog.ts';
import { ConfigError, type ConfigIssue } from '../../core/errors.ts';
import { INDUSTRIES, type Plant } from '../../core/plants.ts';

/** The folder of the standards shipped with cleanstream. */
export const BUILTIN_STANDARDS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'standards');

/**
 * Dates without a time are midnight China Standard Time (UTC+8), the time zone the standards take effect in.
 */
const dateSchema = z
  .union([z.string(), z.date()])
  .transform((value, ctx) => {
    if (value instanceof Date) return value.getTime();
    const text = /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00+08:00` : value;
    const ms = Date.parse(text);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: `expected a date YYYY-MM-DD (China Standard Time) or an ISO 8601 instant, got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return ms;
  });

const entrySchema = z
  .strictObject({
    quantity: quantityIdSchema.transform((q) => q as QuantityId),
    min: z.number().optional(),
    max: z.number().optional(),
    /** Plant registry `category` values this entry is for (e.g. pulp / integrated / paper in GB 3544). */
    category: z.string().min(1).optional(),
    regions: z.array(idSchema).min(1).optional(),
    /** A per-plant override (permit, provincial standard). */
    plants: z.array(idSchema).min(1).optional(),
    effectiveFrom: dateSchema,
    effectiveTo: dateSchema.optional(),
    /** false for commonly quoted values not confirmed from a copy of the standard (UNVERIFIED). */
    verified: z.boolean().default(true),
    /** Where this value comes from when the file's `source` is not precise enough: the standard, its table and row. */
    source: z.string().min(1).optional(),
    note: z.string().optional(),
  })
  .superRefine((e, ctx) => {
    if (e.min === undefined && e.max === undefined) ctx.addIssue({ code: 'custom', path: ['max'], message: 'expected max, min or both' });
    if (e.min !== undefined && e.max !== undefined && e.min >= e.max) ctx.addIssue({ code: 'custom', path: ['min'], message: `expected min below max (${e.max})` });
    if (e.effectiveTo !== undefined && e.effectiveTo <= e.effectiveFrom) ctx.addIssue({ code: 'custom', path: ['effectiveTo'], message: 'expected a date after effectiveFrom' });
  });

export const limitsFileSchema = z
  .strictObject({
    standard: z.string().min(1),
    version: z.number().int().positive(),
    title: z.strictObject({ en: z.string().min(1), zh: z.string().min(1) }),
    /** Where the values come from: the standard's number, table and edition, or the permit. */
    source: z.string().min(1),
    scope: z.enum(['industry', 'fallback', 'override']),
    industries: z.array(z.enum(INDUSTRIES)).min(1).optional(),
    /** How the standard judges compliance; informative (rules choose their own averaging). */
    averaging: z.enum(['instantaneous', 'hourly', 'daily']).default('instantaneous'),
    entries: z.array(entrySchema).min(1),
  })
  .superRefine((f, ctx) => {
    if (f.scope === 'industry' && !f.industries) ctx.addIssue({ code: 'custom', path: ['industries'], message: 'expected the industries an industry standard covers' });
    if (f.scope === 'override') {
      f.entries.forEach((e, i) => {
        if (!e.plants) ctx.addIssue({ code: 'custom', path: ['entries', i, 'plants'], message: 'expected the plants this override is for' });
      });
    }
  });

export type LimitsFile = z.output<typeof limitsFileSchema>;
type LimitsEntry = z.output<typeof entrySchema>;

/** The limit in force for a plant, a quantity and an instant, with where it comes from. */
export interface ResolvedLimit {
  min?: number;
  max?: number;
  standard: string;
  source: string;
  verified: boolean;
  note?: string;
  /** The instants between which this answer holds (the next effective date of any candidate entry). */
  validFrom: number;
  validUntil: number;
}

export interface LimitLookup {
  limit: ResolvedLimit | undefined;
  validFrom: number;
  validUntil: number;
}

interface IndexedEntry {
  entry: LimitsEntry;
  file: LimitsFile;
  fileName: string;
  index: number;
  tier: 0 | 1 | 2;
  specificity: number;
}

export interface LimitQuery {
  /** Only this standard (e.g. a permit that judges a paper mill's boiler against GB 13223-2011). */
  standard?: string;
}

const TIER: Record<LimitsFile['scope'], 0 | 1 | 2> = { override: 0, industry: 1, fallback: 2 };

function specificityOf(e: LimitsEntry): number {
  return (e.plants ? 4 : 0) + (e.category ? 2 : 0) + (e.regions ? 1 : 0);
}

export class LimitsCatalog {
  readonly files: readonly { name: string; file: LimitsFile }[];
  private readonly byQuantity = new Map<QuantityId, IndexedEntry[]>();

  constructor(files: { name: string; file: LimitsFile }[]) {
    this.files = files;
    for (const { name, file } of files) {
      file.entries.forEach((entry, index) => {
        const list = this.byQuantity.get(entry.quantity) ?? [];
        list.push({ entry, file, fileName: name, index, tier: TIER[file.scope], specificity: specificityOf(entry) });
        this.byQuantity.set(entry.quantity, list);
      });
    }
    const issues = this.findTies();
    if (issues.length) throw new ConfigError(files.map((f) => f.name).join(', '), issues);
  }

  standards(): string[] {
    return this.files.map((f) => f.file.standard);
  }

  /** The limit for this plant, quantity and instant, or undefined when no entry applies. */
  limitFor(plant: Plant, quantity: QuantityId, atMs: number, query: LimitQuery = {}): ResolvedLimit | undefined {
    return this.lookup(plant, quantity, atMs, query).limit;
  }

  /** limitFor with the interval the answer holds for, also when the answer is "none" (callers cache on it). */
  lookup(plant: Plant, quantity: QuantityId, atMs: number, query: LimitQuery = {}): LimitLookup {
    const candidates = (this.byQuantity.get(quantity) ?? []).filter((c) => this.applies(c, plant, query));
    let best: IndexedEntry | undefined;
    let validFrom = -Infinity;
    let validUntil = Infinity;
    for (const c of candidates) {
      const from = c.entry.effectiveFrom;
      const to = c.entry.effectiveTo ?? Infinity;
      // Any candidate's boundary may change the answer: the answer holds between the nearest boundaries.
      for (const edge of [from, to]) {
        if (edge <= atMs && edge > validFrom) validFrom = edge;
        if (edge > atMs && edge < validUntil) validUntil = edge;
      }
      if (from > atMs || to <= atMs) continue;
      if (!best || better(c, best)) best = c;
    }
    if (!best) return { limit: undefined, validFrom, validUntil };
    const e = best.entry;
    const limit: ResolvedLimit = {
      ...(e.min !== undefined ? { min: e.min } : {}),
      ...(e.max !== undefined ? { max: e.max } : {}),
      standard: best.file.standard,
      source: best.entry.source ?? best.file.source,
      verified: e.verified,
      ...(e.note !== undefined ? { note: e.note } : {}),
      validFrom,
      validUntil,
    };
    return { limit, validFrom, validUntil };
  }

  private applies(c: IndexedEntry, plant: Plant, query: LimitQuery): boolean {
    const { entry, file } = c;
    if (query.standard !== undefined && file.standard !== query.standard) return false;
    if (entry.plants && !entry.plants.includes(plant.id)) return false;
    if (entry.category && entry.category !== plant.category) return false;
    if (entry.regions && !entry.regions.includes(plant.region)) return false;
    // A named standard applies whatever the plant's industry (the permit said so); otherwise industries must match.
    if (query.standard === undefined && file.scope === 'industry' && !file.industries?.includes(plant.industry)) return false;
    return true;
  }

  private findTies(): ConfigIssue[] {
    const issues: ConfigIssue[] = [];
    for (const list of this.byQuantity.values()) {
      for (let i = 0; i < list.length; i++) {
        for (let j = i + 1; j < list.length; j++) {
          const a = list[i]!;
          const b = list[j]!;
          if (a.tier !== b.tier || a.specificity !== b.specificity || a.entry.effectiveFrom !== b.entry.effectiveFrom) continue;
          if (!sameScope(a, b)) continue;
          issues.push({
            path: `${b.fileName}: entries[${b.index}]`,
            expected: `an entry that does not tie with ${a.fileName}: entries[${a.index}] (same quantity ${a.entry.quantity}, scope, selectors and effectiveFrom)`,
          });
        }
      }
    }
    return issues;
  }
}

function better(a: IndexedEntry, b: IndexedEntry): boolean {
  if (a.tier !== b.tier) return a.tier < b.tier;
  if (a.specificity !== b.specificity) return a.specificity > b.specificity;
  return a.entry.effectiveFrom > b.entry.effectiveFrom;
}

function overlaps<T>(a: readonly T[] | undefined, b: readonly T[] | undefined): boolean {
  if (!a || !b) return a === b;
  return a.some((x) => b.includes(x));
}

/** Whether two entries could both be the answer for one plant (so that neither is more specific). */
function sameScope(a: IndexedEntry, b: IndexedEntry): boolean {
  return (
    a.entry.category === b.entry.category &&
    overlaps(a.entry.regions, b.entry.regions) &&
    overlaps(a.entry.plants, b.entry.plants) &&
    (a.file.scope !== 'industry' || overlaps(a.file.industries, b.file.industries))
  );
}

/** Load limits files (each validated; errors name the file and field path). Folders contribute their *.yaml files. */
export function loadLimitsCatalog(paths: readonly string[] = [BUILTIN_STANDARDS_DIR]): LimitsCatalog {
  const files: string[] = [];
  for (const p of paths) {
    let entries: string[] | undefined;
    try {
      entries = readdirSync(p).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR') {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        throw new ConfigError(p, [{ path: '', expected: 'a limits file or a folder of them (not found)' }], { cause: err });
      }
    }
    if (entries) files.push(...entries.map((f) => path.join(p, f)));
    else files.push(p);
  }
  return new LimitsCatalog(files.map((name) => ({ name, file: loadConfigFile(name, limitsFileSchema) })));
}
