/**
 * Pollutant loads per outfall, derived from the stream: kg of COD and NH3-N discharged per interval (default 1 min).
 *
 *   load (kg) = concentration (mg/L = g/m3) × volume (m3) / 1000
 *
 * InfluxQL cannot join two series (a flow meter's and a concentration meter's), so ingest computes the loads as the
 * readings pass, and writes them beside the raw series:
 *
 *   loads,outfall=<outfall>,plant=<plant> volume_m3=<m3>,cod_kg=<kg>,nh3n_kg=<kg> <interval start, ms>
 *
 * Pairing: the plant registry's meter locations. An outfall's flow meter is its first meter measuring
 * `wastewater_flow` (m3/h); its concentration meters are those measuring `cod` or `nh3n` (mg/L) at the same location.
 *
 * Integration over one interval [start, end): flow is taken as constant from one sample to the next (each sample
 * holds until the next one; the first also covers the time from `start`, the last holds until `end`), so
 *
 *   volume_m3 = Σ q_i × len_i,      kg = Σ q_i × len_i × c(t_i) / 1000
 *
 * with q_i in m3/h, len_i in hours and c(t_i) the latest concentration sampled at or before t_i in the interval (the
 * interval's first one before any). Readings without a value or of quality `bad` are left out. An interval without
 * flow samples has no load; a pollutant without samples in it has no field.
 *
 * When: an interval is closed once a reading of that outfall is `graceMs` past its end (readings of one interval may
 * come in any order until then), when the outfall has sent nothing for `idleCloseMs` of wall-clock time, and at stop.
 * Readings for an interval already closed are counted as late and left out. Intervals still open when ingest is
 * killed are lost (their raw readings were written; the loads can be recomputed from them).
 */
import type { QuantityId } from '../core/catalog.ts';
import type { PlantRegistry } from '../core/plants.ts';
import type { BatchReading } from '../core/reading.ts';
import { escapeKey } from './line-protocol.ts';

export const LOAD_POLLUTANTS = ['cod', 'nh3n'] as const satisfies readonly QuantityId[];
export type LoadPollutant = (typeof LOAD_POLLUTANTS)[number];

export const LOADS_MEASUREMENT = 'loads';

export interface OutfallLoad {
  plant: string;
  outfall: string;
  /** Interval start, ms. */
  start: number;
  volumeM3: number;
  /** kg per pollutant sampled in the interval. */
  kg: Partial<Record<LoadPollutant, number>>;
}

export interface LoadOptions {
  intervalMs: number;
  graceMs: number;
  idleCloseMs: number;
}

type Role = { outfall: string; kind: 'flow' } | { outfall: string; kind: 'concentration' };
type Sample = [t: number, value: number];

interface Interval {
  flow: Sample[];
  concentration: Map<LoadPollutant, Sample[]>;
}

interface OutfallState {
  plant: string;
  outfall: string;
  intervals: Map<number, Interval>;
  /** Intervals starting before this are closed. */
  closedBefore: number;
  latestTs: number;
  lastSeenAt: number;
}

const HOUR_MS = 3_600_000;

export function loadLine(load: OutfallLoad): string {
  let fields = `volume_m3=${load.volumeM3}`;
  for (const p of LOAD_POLLUTANTS) if (load.kg[p] !== undefined) fields += `,${p}_kg=${load.kg[p]}`;
  return `${LOADS_MEASUREMENT},outfall=${escapeKey(load.outfall)},plant=${escapeKey(load.plant)} ${fields} ${load.start}`;
}

/** Integrates one interval (see the file comment). Undefined when it has no flow sample. */
export function integrateInterval(start: number, end: number, flow: readonly Sample[], concentration: ReadonlyMap<LoadPollutant, readonly Sample[]>): Omit<OutfallLoad, 'plant' | 'outfall' | 'start'> | undefined {
  if (flow.length === 0) return undefined;
  const q = [...flow].sort((a, b) => a[0] - b[0]);
  const volumes = q.map(([t, value], i) => {
    const from = i === 0 ? start : t;
    const to = i + 1 < q.length ? q[i + 1]![0] : end;
    return value * ((to - from) / HOUR_MS);
  });
  let volumeM3 = 0;
  for (const v of volumes) volumeM3 += v;
  const kg: Partial<Record<LoadPollutant, number>> = {};
  for (const [pollutant, samples] of concentration) {
    if (samples.length === 0) continue;
    const c = [...samples].sort((a, b) => a[0] - b[0]);
    let j = 0;
    let grams = 0;
    q.forEach(([t], i) => {
      while (j + 1 < c.length && c[j + 1]![0] <= t) j++;
      grams += volumes[i]! * c[j]![1];
    });
    kg[pollutant] = grams / 1000;
  }
  return { volumeM3, kg };
}

export class LoadCalculator {
  private readonly roles = new Map<string, Map<string, Map<QuantityId, Role>>>();
  private readonly outfalls = new Map<string, OutfallState>();
  /** Readings that came after their interval was closed. */
  lateReadings = 0;

  constructor(registry: PlantRegistry, private readonly options: LoadOptions) {
    for (const plant of registry.plants) {
      const outfallIds = new Set(plant.outfalls.map((o) => o.id));
      const byMeter = new Map<string, Map<QuantityId, Role>>();
      const flowChosen = new Set<string>();
      for (const meter of plant.meters) {
        if (!outfallIds.has(meter.location)) continue;
        const roles = new Map<QuantityId, Role>();
        if (meter.quantities.includes('wastewater_flow') && !flowChosen.has(meter.location)) {
          flowChosen.add(meter.location);
          roles.set('wastewater_flow', { outfall: meter.location, kind: 'flow' });
        }
        for (const p of LOAD_POLLUTANTS) if (meter.quantities.includes(p)) roles.set(p, { outfall: meter.location, kind: 'concentration' });
        if (roles.size) byMeter.set(meter.id, roles);
      }
      if (byMeter.size) this.roles.set(plant.id, byMeter);
    }
  }

  /** Whether any plant has an outfall with a flow meter (else there is nothing to compute). */
  get active(): boolean {
    return this.roles.size > 0;
  }

  /** Takes a validated batch's readings (canonical units); returns the intervals this closed. */
  add(plant: string, readings: readonly BatchReading[], unitFactor: (r: BatchReading) => number, wallNow = Date.now()): OutfallLoad[] {
    const meters = this.roles.get(plant);
    if (!meters) return [];
    const touched = new Set<OutfallState>();
    for (const r of readings) {
      const role = meters.get(r.meter)?.get(r.quantity);
      if (!role || r.value === null || r.quality === 'bad') continue;
      const state = this.state(plant, role.outfall);
      state.lastSeenAt = wallNow;
      const start = r.ts - (r.ts % this.options.intervalMs);
      if (start < state.closedBefore) {
        this.lateReadings++;
        continue;
      }
      let interval = state.intervals.get(start);
      if (!interval) state.intervals.set(start, (interval = { flow: [], concentration: new Map() }));
      const value = r.value * unitFactor(r);
      if (role.kind === 'flow') interval.flow.push([r.ts, value]);
      else {
        const pollutant = r.quantity as LoadPollutant;
        let samples = interval.concentration.get(pollutant);
        if (!samples) interval.concentration.set(pollutant, (samples = []));
        samples.push([r.ts, value]);
      }
      if (r.ts > state.latestTs) state.latestTs = r.ts;
      touched.add(state);
    }
    const closed: OutfallLoad[] = [];
    for (const state of touched) closed.push(...this.close(state, state.latestTs - this.options.graceMs - this.options.intervalMs + 1));
    return closed;
  }

  /** Closes every interval of outfalls silent for idleCloseMs (wall clock). */
  closeIdle(wallNow = Date.now()): OutfallLoad[] {
    const closed: OutfallLoad[] = [];
    for (const state of this.outfalls.values()) {
      if (state.intervals.size > 0 && wallNow - state.lastSeenAt >= this.options.idleCloseMs) closed.push(...this.close(state, Number.MAX_SAFE_INTEGER));
    }
    return closed;
  }

  /** Closes everything (at stop). */
  closeAll(): OutfallLoad[] {
    const closed: OutfallLoad[] = [];
    for (const state of this.outfalls.values()) closed.push(...this.close(state, Number.MAX_SAFE_INTEGER));
    return closed;
  }

  private state(plant: string, outfall: string): OutfallState {
    const key = `${plant}\u0000${outfall}`;
    let state = this.outfalls.get(key);
    if (!state) this.outfalls.set(key, (state = { plant, outfall, intervals: new Map(), closedBefore: Number.MIN_SAFE_INTEGER, latestTs: Number.MIN_SAFE_INTEGER, lastSeenAt: 0 }));
    return state;
  }

  /** Closes the intervals that start before `before`, oldest first. */
  private close(state: OutfallState, before: number): OutfallLoad[] {
    const due = [...state.intervals.keys()].filter((start) => start < before).sort((a, b) => a - b);
    const out: OutfallLoad[] = [];
    for (const start of due) {
      const interval = state.intervals.get(start)!;
      state.intervals.delete(start);
      const load = integrateInterval(start, start + this.options.intervalMs, interval.flow, interval.concentration);
      if (load) out.push({ plant: state.plant, outfall: state.outfall, start, ...load });
    }
    if (due.length > 0) {
      const lastEnd = due[due.length - 1]! + this.options.intervalMs;
      if (lastEnd > state.closedBefore) state.closedBefore = lastEnd;
    }
    return out;
  }
}
