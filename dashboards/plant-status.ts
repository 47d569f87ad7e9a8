/**
 * A plant's status for the regulator's overview, from the age and quality of its meters' last readings:
 *
 *   no-data   no reading was ever stored
 *   offline   the newest reading of any meter is older than `staleAfterMs` (the plant, or its gateway, is silent)
 *   degraded  some meter is silent for longer than `staleAfterMs`, or some quantity's last reading is not good
 *   ok        otherwise
 */
import type { Plant } from '../core/plants.ts';
import type { Severity } from '../core/alert.ts';
import type { LatestReading } from './routes/latest.ts';

export const PLANT_STATUSES = ['ok', 'degraded', 'offline', 'no-data'] as const;
export type PlantStatus = (typeof PLANT_STATUSES)[number];

export interface PlantHealth {
  status: PlantStatus;
  /** Newest reading of any meter (ms), null with no data. */
  lastTs: number | null;
  /** `online`: meters whose last reading is within `staleAfterMs` (total − stale). */
  meters: { total: number; reporting: number; online: number; stale: number; notGood: number };
}

/**
 * Compliance as the open alerts say it, kept apart from data health: the worst open severity, or `none`; `unknown`
 * for a plant that is offline or has no data without an open alert (nothing can be raised for it then).
 */
export const COMPLIANCE_STATES = ['critical', 'major', 'minor', 'warning', 'none', 'unknown'] as const;
export type Compliance = (typeof COMPLIANCE_STATES)[number];

export function plantCompliance(worstOpen: Severity | null, status: PlantStatus): Compliance {
  if (worstOpen !== null) return worstOpen;
  return status === 'offline' || status === 'no-data' ? 'unknown' : 'none';
}

export function plantHealth(plant: Plant, latest: readonly LatestReading[], now: number, staleAfterMs: number): PlantHealth {
  const lastByMeter = new Map<string, number>();
  const notGoodMeters = new Set<string>();
  for (const r of latest) {
    lastByMeter.set(r.meter, Math.max(lastByMeter.get(r.meter) ?? 0, r.ts));
    if (r.quality !== 'good') notGoodMeters.add(r.meter);
  }
  const total = plant.meters.length;
  const reporting = lastByMeter.size;
  const stale = plant.meters.filter((m) => now - (lastByMeter.get(m.id) ?? -Infinity) > staleAfterMs).length;
  const lastTs = reporting ? Math.max(...lastByMeter.values()) : null;
  const meters = { total, reporting, online: total - stale, stale, notGood: notGoodMeters.size };
  if (lastTs === null) return { status: 'no-data', lastTs, meters };
  if (now - lastTs > staleAfterMs) return { status: 'offline', lastTs, meters };
  if (stale > 0 || notGoodMeters.size > 0) return { status: 'degraded', lastTs, meters };
  return { status: 'ok', lastTs, meters };
}
