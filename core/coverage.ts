/**
 * Coverage of a figure summed from data: the time with data over the time in its period (so far, for a period not yet
 * over). Reductions and loads carry it so that a month with half its data does not read as a month's discharge.
 *
 * A figure covering less than PARTIAL_BELOW of its period is marked partial. 90 % is stricter than the daily validity
 * of HJ 356 (a day counts with at least 20 valid hours of 24, 83 %): a monthly total missing more than a tenth of its
 * time is not comparable with a full month's, whatever the validity of its days.
 */
export const PARTIAL_BELOW = 0.9;

export interface Coverage {
  /** Time with data, s. */
  coveredSeconds: number;
  /** Time in the period (up to now for the current one), s. */
  periodSeconds: number;
  /** coveredSeconds / periodSeconds, 0..1; 0 for an empty period. */
  coverage: number;
  /** coverage < PARTIAL_BELOW. */
  partial: boolean;
}

export function coverageOf(coveredSeconds: number, periodSeconds: number): Coverage {
  const coverage = periodSeconds > 0 ? Math.min(1, Math.max(0, coveredSeconds / periodSeconds)) : 0;
  return { coveredSeconds, periodSeconds, coverage, partial: coverage < PARTIAL_BELOW };
}
