/**
 * Cou for flow codes: the volume that passed during an interval, in the code's cumulative unit (codes.ts), from the
 * interval's mean flow in the code's value unit. w00000 is sent in L/s with Cou in m3, a00000 in m3/s with Cou in m3.
 * Pollutant loads (concentration × volume, Cou in kg or g) need the flow paired with each concentration and are not
 * computed here.
 */
import { codeDef } from './codes.ts';

/** m3 per second that one unit of each flow unit carries. */
const CUBIC_METRES_PER_SECOND: Readonly<Record<string, number>> = { 'L/s': 0.001, 'm3/s': 1 };

/** Whether the code is a flow whose Cou is a volume this module computes. */
export function isFlowCode(code: string): boolean {
  const def = codeDef(code);
  return def !== undefined && def.cumulativeUnit === 'm3' && Object.hasOwn(CUBIC_METRES_PER_SECOND, def.unit);
}

/** Volume (m3) over `durationMs` at `meanFlow` (in the code's unit); undefined for a code that is not a flow. */
export function flowVolume(code: string, meanFlow: number, durationMs: number): number | undefined {
  const def = codeDef(code);
  if (!def || !isFlowCode(code)) return undefined;
  return meanFlow * (CUBIC_METRES_PER_SECOND[def.unit] as number) * (durationMs / 1000);
}
