/**
 * Pollutant loads per outfall, derived from the stream: kg of COD and NH3-N discharged per interval (default 1 min).
 *
 *   load (kg) = concentration (mg/L = g/m3) × volume (m3) / 1000
 *
 * InfluxQL cannot join two series (a flow meter's and a concentration meter's), so ingest computes the loads as the
 * readings pass, and writes them beside the raw series:
 *
 *   loads,outfall=<o>,plant=<p> volume_m3=…,flow_s=…,cod_kg=…,cod_m3=…,cod_s=…,nh3n_kg=…,nh3n_m3=…,nh3n_s=… <start, ms>
 *
 * Pairing: the plant registry's meter locations. An outfall's flow meter is its first meter measuring
 * `wastewater_flow` (m3/h); its concentration meters are those measuring `cod` or `nh3n` (mg/L) at the same location.
 *
 * Integration counts only what was received. Each sample holds until the next sample of the same series, when that
 * one comes at most `maxGapMs` later; a longer gap is not filled, and nothing is extrapolated before a series' first
 * sample or after its last. An interval is integrated over the time these steps cover within it (a step crossing an
 * interval's boundary is split there), never stretched to the whole interval:
 *
 *   volume_m3 = Σ q × Δt over the time the flow is known           flow_s = that time, in seconds
 *   <p>_kg    = Σ q × c × Δt / 1000 over the time both are known   <p>_s  = that time; <p>_m3 = the volume in it
 *
 * with q in m3/h and Δt in hours. `<p>_m3` is what a baseline concentration is multiplied by: the counterfactual load
 * over exactly the time the discharged one covers. Readings without a value or of quality `bad` are left out. An
 * interval in which the flow is never known has no row; a pollutant never known in it has no fields.
 *
 * When: an interval is computed once a reading of that outfall is max(`graceMs`, `maxGapMs`) past its end (by then
 * the sample that ends its last step has come, if it is coming), when the outfall has sent nothing for `idleCloseMs`
 * of wall-clock time, and at stop. Readings for an interval already computed are counted as late and left out.
 * Intervals still open when ingest is killed are lost (their raw readings were written; the loads can be recomputed
 * from them).
 */
import type { QuantityId } from '../core/catalog.ts';
import type { PlantRegistry } from '../core/plants.ts';
import type { BatchReading } from '../core/reading.ts';
import { escapeKey, LOAD_POLLUTANTS, LOADS_MEASUREMENT, type LoadPollutant } from '../influxdb/schema.ts';

export interface PollutantLoad {
  kg: number;
  /** The volume discharged while the pollutant's concentration was known. */
  volumeM3: number;
  /** How long the pollutant's concentration and the flow were both known, s. */
  seconds: number;
}

export interface OutfallLoad {
  plant: string;
  outfall: string;
  /** Interval start, ms. */
  start: number;
  volumeM3: number;
  /** How long the flow was known in the interval, s. */
  flowSeconds: number;
  /** Per pollutant known for part of the interval. */
  pollutants: Partial<Record<LoadPollutant, PollutantLoad>>;
}

export interface LoadOptions {
  intervalMs: number;
  graceMs: number;
  idleCloseMs: number;
  /** The longest time between two samples of a series across which the first one still holds. */
  maxGapMs: number;
}

type Role = { outfall: string; kind: 'flow' } | { outfall: string; kind: 'concentration' };
type Sample = [t: number, value: number];
/** [from, to) in ms, and the value held over it. */
type Step = [from: number, to: number, value: number];
type Signal = 'flow' | LoadPollutant;

interface OutfallState {
  plant: string;
  outfall: string;
  /** Samples per signal, in time order: those of open intervals, and the last one before them (it may hold into them). */
  samples: Map<Signal, Sample[]>;
  /** Intervals starting before this are computed. */
  closedBefore: number;
  latestTs: number;
  lastSeenAt: number;
}

const HOUR_MS = 3_600_000;

export function loadLine(load: OutfallLoad): string {
  let fields = `volume_m3=${load.volumeM3},flow_s=${load.flowSeconds}`;
  for (const p of LOAD_POLLUTANTS) {
    const l = load.pollutants[p];
    if (l) fields += `,${p}_kg=${l.kg},${p}_m3=${l.volumeM3},${p}_s=${l.seconds}`;
  }
  return `${LOADS_MEASUREMENT},outfall=${escapeKey(load.outfall)},plant=${escapeKey(load.plant)} ${fields} ${load.start}`;
}

/** The steps of a time-ordered series clipped to [from, to): each sample holds until the next one if it is at most maxGapMs later. */
export function holdSteps(samples: readonly Sample[], maxGapMs: number, from: number, to: number): Step[] {
  const steps: Step[] = [];
  for (let i = 0; i + 1 < samples.length; i++) {
    const [t, value] = samples[i]!;
    const next = samples[i + 1]![0];
    if (next - t > maxGapMs) continue;
    const a = Math.max(t, from);
    const b = Math.min(next, to);
    if (b > a) steps.push([a, b, value]);
  }
  return steps;
}

/** Where both series of steps are defined: [from, to, value of a, value of b]. */
function overlap(a: readonly Step[], b: readonly Step[]): [number, number, number, number][] {
  const out: [number, number, number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const from = Math.max(a[i]![0], b[j]![0]);
    const to = Math.min(a[i]![1], b[j]![1]);
    if (to > from) out.push([from, to, a[i]![2], b[j]![2]]);
    if (a[i]![1] <= b[j]![1]) i++;
    else j++;
  }
  return out;
}

/** Sorted by time, one sample per timestamp (the last given: a redelivered reading is the same reading). */
function ordered(samples: readonly Sample[]): Sample[] {
  const byTime = new Map<number, number>();
  for (const [t, v] of samples) byTime.set(t, v);
  return [...byTime].sort((x, y) => x[0] - y[0]);
}

/**
 * Integrates one interval [start, end) (see the file comment). The samples may reach outside it: the one before it
 * holds into it, the one after it ends its last step. Undefined when the flow is never known in it.
 */
export function integrateInterval(
  start: number,
  end: number,
  flow: readonly Sample[],
  concentration: ReadonlyMap<LoadPollutant, readonly Sample[]>,
  maxGapMs: number,
): Omit<OutfallLoad, 'plant' | 'outfall' | 'start'> | undefined {
  const flowSteps = holdSteps(ordered(flow), maxGapMs, start, end);
  if (flowSteps.length === 0) return undefined;
  let volumeM3 = 0;
  let flowMs = 0;
  for (const [a, b, q] of flowSteps) {
    volumeM3 += (q * (b - a)) / HOUR_MS;
    flowMs += b - a;
  }
  const pollutants: Partial<Record<LoadPollutant, PollutantLoad>> = {};
  for (const [pollutant, samples] of concentration) {
    const both = overlap(flowSteps, holdSteps(ordered(samples), maxGapMs, start, end));
    if (both.length === 0) continue;
    let grams = 0;
    let m3 = 0;
    let ms = 0;
    for (const [a, b, q, c] of both) {
      const volume = (q * (b - a)) / HOUR_MS;
      m3 += volume;
      grams += volume * c;
      ms += b - a;
    }
    pollutants[pollutant] = { kg: grams / 1000, volumeM3: m3, seconds: ms / 1000 };
  }
  return { volumeM3, flowSeconds: flowMs / 1000, pollutants };
}

export class LoadCalculator {
  private readonly roles = new Map<string, Map<string, Map<QuantityId, Role>>>();
  private readonly outfalls = new Map<string, OutfallState>();
  /** Readings that came after their interval was computed. */
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
      if (r.ts < state.closedBefore) {
        this.lateReadings++;
        continue;
      }
      const signal: Signal = role.kind === 'flow' ? 'flow' : (r.quantity as LoadPollutant);
      let samples = state.samples.get(signal);
      if (!samples) state.samples.set(signal, (samples = []));
      insertInOrder(samples, [r.ts, r.value * unitFactor(r)]);
      if (r.ts > state.latestTs) state.latestTs = r.ts;
      touched.add(state);
    }
    const closed: OutfallLoad[] = [];
    const wait = Math.max(this.options.graceMs, this.options.maxGapMs);
    for (const state of touched) closed.push(...this.close(state, this.floor(state.latestTs - wait)));
    return closed;
  }

  /** Computes every open interval of outfalls silent for idleCloseMs (wall clock). */
  closeIdle(wallNow = Date.now()): OutfallLoad[] {
    const closed: OutfallLoad[] = [];
    for (const state of this.outfalls.values()) {
      if (state.latestTs >= state.closedBefore && wallNow - state.lastSeenAt >= this.options.idleCloseMs) closed.push(...this.close(state, this.floor(state.latestTs) + this.options.intervalMs));
    }
    return closed;
  }

  /** Computes everything still open (at stop). */
  closeAll(): OutfallLoad[] {
    const closed: OutfallLoad[] = [];
    for (const state of this.outfalls.values()) if (state.latestTs >= state.closedBefore) closed.push(...this.close(state, this.floor(state.latestTs) + this.options.intervalMs));
    return closed;
  }

  private floor(t: number): number {
    return t - (((t % this.options.intervalMs) + this.options.intervalMs) % this.options.intervalMs);
  }

  private state(plant: string, outfall: string): OutfallState {
    const key = `${plant}\u0000${outfall}`;
    let state = this.outfalls.get(key);
    if (!state) this.outfalls.set(key, (state = { plant, outfall, samples: new Map(), closedBefore: Number.MIN_SAFE_INTEGER, latestTs: Number.MIN_SAFE_INTEGER, lastSeenAt: 0 }));
    return state;
  }

  /** Computes the intervals that end at or before `before` (an interval boundary), oldest first. */
  private close(state: OutfallState, before: number): OutfallLoad[] {
    if (before <= state.closedBefore) return [];
    const { intervalMs, maxGapMs } = this.options;
    const flow = state.samples.get('flow') ?? [];
    const from = state.closedBefore;
    // the intervals the flow's steps reach: only those can have a row
    const starts = new Set<number>();
    for (const [a, b] of holdSteps(flow, maxGapMs, from, before)) for (let s = this.floor(a); s < b; s += intervalMs) starts.add(s);
    const out: OutfallLoad[] = [];
    for (const start of [...starts].sort((x, y) => x - y)) {
      const concentration = new Map<LoadPollutant, Sample[]>();
      for (const p of LOAD_POLLUTANTS) {
        const samples = state.samples.get(p);
        if (samples) concentration.set(p, samples);
      }
      const load = integrateInterval(start, start + intervalMs, flow, concentration, maxGapMs);
      if (load) out.push({ plant: state.plant, outfall: state.outfall, start, ...load });
    }
    state.closedBefore = before;
    for (const samples of state.samples.values()) {
      // keep the last sample before the open intervals: it may hold into them
      let keepFrom = 0;
      while (keepFrom + 1 < samples.length && samples[keepFrom + 1]![0] < before) keepFrom++;
      if (keepFrom > 0) samples.splice(0, keepFrom);
    }
    return out;
  }
}

/** Samples mostly come in time order: append, else insert at their place. */
function insertInOrder(samples: Sample[], sample: Sample): void {
  let i = samples.length;
  while (i > 0 && samples[i - 1]![0] > sample[0]) i--;
  samples.splice(i, 0, sample);
}
