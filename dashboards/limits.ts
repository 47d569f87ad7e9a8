/**
 * Discharge and emission limits for the page's limit lines, from the same versioned data files the rules stage judges
 * by (rules/limits/: the shipped standards plus any permits or overrides given). Only the data and its loader are
 * shared; which limit applies follows the catalog's documented precedence (override > industry > fallback).
 */
import { QUANTITY_IDS, type QuantityId } from '../core/catalog.ts';
import type { Plant } from '../core/plants.ts';
import { BUILTIN_STANDARDS_DIR, loadLimitsCatalog, type LimitsCatalog } from '../rules/limits/catalog.ts';

export interface PlantLimit {
  quantity: QuantityId;
  min?: number;
  max?: number;
  /** The standard or permit the value comes from, e.g. "GB 3544-2008". */
  standard: string;
  source: string;
  /** False for commonly quoted values not confirmed from a copy of the standard. */
  verified: boolean;
  note?: string;
}

/** Where limits come from; the catalog in production, a fake in unit tests. */
export interface LimitSource {
  limitsFor(plant: Plant, atMs: number): PlantLimit[];
}

export class CatalogLimits implements LimitSource {
  constructor(private readonly catalog: LimitsCatalog) {}

  limitsFor(plant: Plant, atMs: number): PlantLimit[] {
    const measured = new Set(plant.meters.flatMap((m) => m.quantities));
    const out: PlantLimit[] = [];
    for (const quantity of QUANTITY_IDS) {
      if (!measured.has(quantity)) continue;
      const limit = this.catalog.limitFor(plant, quantity, atMs);
      if (!limit) continue;
      out.push({
        quantity,
        ...(limit.min !== undefined ? { min: limit.min } : {}),
        ...(limit.max !== undefined ? { max: limit.max } : {}),
        standard: limit.standard,
        source: limit.source,
        verified: limit.verified,
        ...(limit.note !== undefined ? { note: limit.note } : {}),
      });
    }
    return out;
  }
}

/** The shipped standards plus `extra` files or folders (permits, overrides): what rules loads with builtinLimits. */
export function loadLimits(extra: readonly string[] = []): CatalogLimits {
  return new CatalogLimits(loadLimitsCatalog([BUILTIN_STANDARDS_DIR, ...extra]));
}
