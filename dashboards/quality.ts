import { QUALITIES, type Quality } from '../core/reading.ts';

export type { Quality };

const qualities = new Set<unknown>(QUALITIES);

export function isQuality(value: unknown): value is Quality {
  return qualities.has(value);
}
