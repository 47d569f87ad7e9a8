/**
 * Cou, the cumulative amount of an interval (HJ 212-2017 data uploads, `-Cou` items; units from appendix B in codes.ts):
 * for a flow code the volume that passed (m3), for a pollutant the amount discharged with it (kg, or g for the trace
 * metals measured in ug/L).
 *
 *   volume (m3)   = ∫ flow dt                              w00000 in L/s, a00000 in m3/s
 *   amount (kg/g) = ∫ flow × concentration dt              mg/L × m3 = g, ug/L × m3 = mg, mg/m3 × m3 = mg
 *
 * A pollutant is paired with its medium's flow: water codes (w...) with w00000, flue-gas codes (a...) with a00000.
 * Integration over one interval [start, end): each flow sample holds until the next one (the first also covers the
 * time from `start`, the last holds until `end`), and each is multiplied by the pollutant's latest sample at or before
 * it in the interval (the interval's first one before any) — the same method as ingest's outfall loads.
 */
import { codeDef } from './codes.ts';

/** m3 per second that one unit of each flow unit carries. */
const CUBIC_METRES_PER_SECOND: Readonly<Record<string, number>> = { 'L/s': 0.001, 'm3/s': 1 };
/** Grams per m3 that one unit of each concentration unit carries (mg/L = g/m3). */
const GRAMS_PER_CUBIC_METRE: Readonly<Record<string, number>> = { 'mg/L': 1, 'ug/L': 1e-3, 'mg/m3': 1e-3, 'ug/m3': 1e-6 };
/** Grams in one unit of each cumulative mass unit. */
const GRAMS_PER_UNIT: Readonly<Record<string, number>> = { g: 1, kg: 1e3, t: 1e6 };

const FLOW_CODE_BY_MEDIUM: Readonly<Record<string, string>> = { w: 'w00000', a: 'a00000' };

/** A value at a time (ms), in the code's HJ 212 unit. */
export type CumulativeSample = readonly [ts: number, value: number];

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

/**
 * The flow code a pollutant's Cou is computed with (w00000 for water, a00000 for flue gas), or undefined when the code
 * has no mass Cou (pH, temperature, O2, a flow itself) or its units are not ones this module converts.
 */
export function pairedFlowCode(code: string): string | undefined {
  const def = codeDef(code);
  if (!def?.cumulativeUnit || !Object.hasOwn(GRAMS_PER_CUBIC_METRE, def.unit) || !Object.hasOwn(GRAMS_PER_UNIT, def.cumulativeUnit)) return undefined;
  const flow = FLOW_CODE_BY_MEDIUM[def.code.charAt(0)];
  return flow !== undefined && isFlowCode(flow) ? flow : undefined;
}

/** Whether the code has a Cou this module computes (a flow's volume or a pollutant's amount). */
export function hasCumulative(code: string): boolean {
  return isFlowCode(code) || pairedFlowCode(code) !== undefined;
}

/** Cou per code over one interval; the flow code's is the volume (m3). */
export type IntervalCumulatives = Map<string, number>;

/**
 * Cou of one interval from its samples (see the file comment), for `flowCode` and each pollutant paired with it.
 * Empty when the interval has no flow sample: without flow nothing can be said about the amount; a pollutant without
 * a sample in the interval gets no Cou either. Samples may come in any order.
 */
export function intervalCumulatives(
  flowCode: string,
  start: number,
  end: number,
  flow: readonly CumulativeSample[],
  pollutants: ReadonlyMap<string, readonly CumulativeSample[]>,
): IntervalCumulatives {
  const out: IntervalCumulatives = new Map();
  const flowDef = codeDef(flowCode);
  if (!flowDef || !isFlowCode(flowCode) || flow.length === 0) return out;
  const toCubicMetresPerSecond = CUBIC_METRES_PER_SECOND[flowDef.unit] as number;
  const q = [...flow].sort((a, b) => a[0] - b[0]);
  const volumes = q.map(([t, value], i) => {
    const from = i === 0 ? start : t;
    const to = i + 1 < q.length ? (q[i + 1] as CumulativeSample)[0] : end;
    return value * toCubicMetresPerSecond * ((to - from) / 1000);
  });
  out.set(flowCode, volumes.reduce((sum, v) => sum + v, 0));
  for (const [code, samples] of pollutants) {
    const def = codeDef(code);
    if (samples.length === 0 || !def || pairedFlowCode(code) !== flowDef.code) continue;
    const c = [...samples].sort((a, b) => a[0] - b[0]);
    let j = 0;
    let grams = 0;
    q.forEach(([t], i) => {
      while (j + 1 < c.length && (c[j + 1] as CumulativeSample)[0] <= t) j++;
      grams += (volumes[i] as number) * (c[j] as CumulativeSample)[1] * (GRAMS_PER_CUBIC_METRE[def.unit] as number);
    });
    out.set(code, grams / (GRAMS_PER_UNIT[def.cumulativeUnit as string] as number));
  }
  return out;
}
