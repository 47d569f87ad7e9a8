/**
 * One reduction figure (a plant, pollutant and period) from the `loads` rows ingest writes (ingest/loads.ts), the one
 * method the rules stage and the dashboard both use:
 *
 *   discharged (t) = Σ <p>_kg / 1000                      what was integrated from the readings received
 *   baseline   (t) = baseline (mg/L) × Σ <p>_m3 / 1e6     the same volume, over the same time, at the baseline
 *   reduced    (t) = baseline − discharged
 *   covered    (s) = Σ <p>_s / number of paired outfalls  (each outfall counts for its share of the plant)
 *
 * Nothing is scaled up to the period: a figure is what the covered time discharged, and its coverage says how much of
 * the period that is. A period with no covered time has no figure (null), never 0.
 */
import { coverageOf, type Coverage } from './coverage.ts';
import type { Plant } from './plants.ts';

/** An outfall's `loads` rows of one pollutant summed over the period. */
export interface LoadSums {
  kg: number;
  m3: number;
  seconds: number;
}

export interface ReductionFigure extends Coverage {
  dischargedT: number | null;
  /** null without data or without a baseline. */
  baselineT: number | null;
  reducedT: number | null;
  /** The volume the figure covers, m3; null without data. */
  volumeM3: number | null;
}

/**
 * @param outfalls one entry per outfall that pairs a flow meter with the pollutant's meter (undefined: no rows)
 * @param baselineMgPerL the plant's own baseline concentration, if it has one
 */
export function reductionFigure(outfalls: readonly (LoadSums | undefined)[], periodSeconds: number, baselineMgPerL: number | undefined): ReductionFigure {
  let kg = 0;
  let m3 = 0;
  let seconds = 0;
  for (const o of outfalls) {
    if (!o) continue;
    kg += o.kg;
    m3 += o.m3;
    seconds += o.seconds;
  }
  const covered = outfalls.length > 0 ? seconds / outfalls.length : 0;
  const coverage = coverageOf(covered, periodSeconds);
  if (seconds <= 0) return { ...coverage, dischargedT: null, baselineT: null, reducedT: null, volumeM3: null };
  const dischargedT = kg / 1000;
  const baselineT = baselineMgPerL === undefined ? null : (baselineMgPerL * m3) / 1e6;
  return { ...coverage, dischargedT, baselineT, reducedT: baselineT === null ? null : baselineT - dischargedT, volumeM3: m3 };
}

/** The outfalls of a plant that pair a flow meter with a meter of the pollutant (ingest/loads.ts computes their loads). */
export function pairedOutfalls(plant: Plant, pollutant: 'cod' | 'nh3n'): string[] {
  const out = new Set<string>();
  for (const meter of plant.meters.filter((m) => m.quantities.includes(pollutant))) {
    if (plant.outfalls.some((o) => o.id === meter.location) && plant.meters.some((m) => m.location === meter.location && m.quantities.includes('wastewater_flow'))) out.add(meter.location);
  }
  return [...out];
}
