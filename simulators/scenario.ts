/**
 * Scenario files: which plants to simulate, from when, for how long, at what step, over which protocol, and which
 * faults to script when. YAML validated by zod through core/config.ts, so a bad file fails with the file, the field
 * path and what was expected there, before anything is generated or served.
 *
 *   seed: 7
 *   start: 2024-06-03T00:00:00+08:00      # ISO 8601 with an offset, or `now`: a live scenario, timed from its run
 *   duration: 6h                          # 90s, 30m, 6h, 7d, 1h30m, or a number of ms
 *   repeat: 10m                           # optional: the faults come again every 10m, without end
 *   stepMs: 60000                         # one gateway scan per step (or `step: 1m`)
 *   plants: ../../deploy/demo/plants.yaml # a registry file (relative to this file) or an inline registry
 *   protocol: opcua                       # how the plants are read: opcua | modbus (default opcua)
 *   protocols: { steel-01: modbus }       # per-plant exceptions
 *   faults:
 *     - { plant: paper-01, meter: outfall-1-cod, quantity: cod, kind: stuck, from: 2h, to: 4h }
 *
 * A fault's `from`/`to` is a duration after `start` (`40s` or `+40s`) or an ISO time; the window is [from, to). A live
 * scenario (`start: now`) takes durations only: it starts when `cleanstream up` or `simulate` runs it.
 */
import path from 'node:path';
import { z } from 'zod';
import { quantityDef, type QuantityId } from '../core/catalog.ts';
import { loadConfigFile, parseConfig, quantityIdSchema, zodIssues } from '../core/config.ts';
import { ConfigError, type ConfigIssue } from '../core/errors.ts';
import { loadPlantRegistry, plantRegistryFrom, type PlantRegistry } from '../core/plants.ts';
import { FAULT_KINDS, GATEWAY_TARGET_FAILED, SLAVE_DEVICE_FAILURE, type Fault, type FaultEffect } from './faults.ts';

export const PROTOCOLS = ['opcua', 'modbus'] as const;
/** `start: now`: the scenario starts when it is run (`cleanstream up`, `simulate`), its faults at offsets from then. */
export const LIVE_START = 'now';
export type Protocol = (typeof PROTOCOLS)[number];

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^-?(\d+(\.\d+)?(ms|s|m|h|d))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** "1h30m" → 5_400_000; a number is taken as ms. Undefined when the text is not a duration. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  const text = value.trim();
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, n, unit] of text.matchAll(DURATION_PART)) total += Number(n) * (UNIT_MS[unit as string] as number);
  return Math.round(text.startsWith('-') ? -total : total);
}

const durationField = (what: string, { allowNegative = false, allowZero = false } = {}) =>
  z.union([z.number(), z.string()]).transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined || (!allowNegative && ms < 0) || (!allowZero && ms === 0)) {
      ctx.addIssue({ code: 'custom', message: `expected ${what}: a duration such as 90s, 30m, 6h, 1h30m, 7d or a number of ms, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return ms;
  });

/** A fault time: a duration after the scenario start (`+` allowed: `+40s`), or an ISO 8601 time with an offset. */
const instantField = z.union([z.number(), z.string()]).transform((v, ctx): { offsetMs: number } | { atMs: number } => {
  const offsetMs = parseDuration(typeof v === 'string' ? v.trim().replace(/^\+/, '') : v);
  if (offsetMs !== undefined && offsetMs >= 0) return { offsetMs };
  const atMs = typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v) ? Date.parse(v) : Number.NaN;
  if (Number.isFinite(atMs)) return { atMs };
  ctx.addIssue({ code: 'custom', message: `expected a duration after start (e.g. 2h30m) or an ISO 8601 time, got ${JSON.stringify(v)}` });
  return z.NEVER;
});

const every = z.number().int().positive().default(1);

/** Each kind's params; unknown params are errors so that a typo is not silently ignored. */
export const FAULT_PARAM_SCHEMAS = {
  spike: z.strictObject({ factor: z.number().default(3), add: z.number().default(0) }),
  drift: z.strictObject({ perHour: z.number() }),
  stuck: z.strictObject({}),
  dropout: z.strictObject({ exception: z.union([z.literal(GATEWAY_TARGET_FAILED), z.literal(SLAVE_DEVICE_FAILURE)]).default(GATEWAY_TARGET_FAILED) }),
  comm_loss: z.strictObject({}),
  out_of_range: z.strictObject({ value: z.number() }),
  nan: z.strictObject({}),
  clock_skew: z.strictObject({ offset: durationField('a clock offset', { allowNegative: true }) }),
  counter_reset: z.strictObject({ startAt: z.number().nonnegative().default(0) }),
  tampering: z.strictObject({ limit: z.number().positive(), margin: z.number().gt(0).lt(1).default(0.03) }),
  excursion: z
    .strictObject({
      peak: z.number().optional(),
      factor: z.number().positive().optional(),
      rise: durationField('a rise time', { allowZero: true }).default(0),
      fall: durationField('a fall time', { allowZero: true }).default(0),
    })
    .refine((p) => (p.peak === undefined) !== (p.factor === undefined), { message: 'expected exactly one of peak (absolute, canonical unit) or factor' }),
  duplicate: z.strictObject({ every }),
  out_of_order: z.strictObject({ every }),
} satisfies Record<(typeof FAULT_KINDS)[number], z.ZodType>;

const faultSchema = z.strictObject({
  plant: z.string().min(1),
  meter: z.string().min(1).optional(),
  quantity: quantityIdSchema.optional(),
  kind: z.enum(FAULT_KINDS),
  from: instantField,
  to: instantField,
  params: z.record(z.string(), z.unknown()).default({}),
  note: z.string().optional(),
});

export const scenarioSchema = z.strictObject({
  name: z.string().optional(),
  description: z.string().optional(),
  seed: z.number().int().nonnegative(),
  start: z.string().refine((s) => s === LIVE_START || (/^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(s) && Number.isFinite(Date.parse(s))), {
    message: `expected an ISO 8601 time with a UTC offset, e.g. 2024-06-03T00:00:00+08:00, or ${LIVE_START} (a live scenario, timed from when it runs)`,
  }),
  duration: durationField('the scenario length'),
  repeat: durationField('a repeat period').optional(),
  stepMs: z.number().int().min(10).optional(),
  step: durationField('the scan step').optional(),
  plants: z.union([z.string().min(1), z.looseObject({ plants: z.array(z.unknown()) })]),
  protocol: z.enum(PROTOCOLS).default('opcua'),
  protocols: z.record(z.string(), z.enum(PROTOCOLS)).default({}),
  faults: z.array(faultSchema).default([]),
});

export interface Scenario {
  /** The file it came from (or the name given to parseScenario). */
  source: string;
  name: string;
  description: string;
  seed: number;
  startMs: number;
  durationMs: number;
  /** Whether the file said `start: now` (startMs is then when it was loaded, or the run's start: startScenarioAt). */
  live?: boolean;
  /** With `repeat`: the faults come again every repeatMs after their first window, without end. */
  repeatMs?: number;
  stepMs: number;
  registry: PlantRegistry;
  /** How each plant is read, by plant id. */
  protocols: ReadonlyMap<string, Protocol>;
  /** With absolute windows, in file order. */
  faults: Fault[];
}

const DEFAULT_STEP_MS = 60_000;
/** Keeps a mistyped duration from generating for hours: 400 days of minutes for 1,000 plants is already a lot. */
const MAX_STEPS = 10_000_000;

/**
 * Validate an already-parsed scenario. `baseDir` resolves a registry path; `nowMs` is where a live scenario
 * (`start: now`) starts. Throws ConfigError naming `source`, each field path and what was expected.
 */
export function parseScenario(source: string, raw: unknown, baseDir = process.cwd(), nowMs = Date.now()): Scenario {
  const file = parseConfig(source, raw, scenarioSchema);
  const issues: ConfigIssue[] = [];
  const live = file.start === LIVE_START;
  const startMs = live ? nowMs : Date.parse(file.start);
  if (file.stepMs !== undefined && file.step !== undefined) issues.push({ path: 'step', expected: 'either step or stepMs, not both' });
  const stepMs = file.stepMs ?? file.step ?? DEFAULT_STEP_MS;
  if (stepMs < 10) issues.push({ path: 'step', expected: 'a step of at least 10 ms' });
  if (file.duration / stepMs > MAX_STEPS) issues.push({ path: 'duration', expected: `at most ${MAX_STEPS} steps of ${stepMs} ms` });

  let registry: PlantRegistry;
  try {
    registry = typeof file.plants === 'string' ? loadPlantRegistry(path.resolve(baseDir, file.plants)) : plantRegistryFrom(`${source} (plants)`, file.plants);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ConfigError(source, [...issues, ...err.issues.map((i) => ({ path: i.path ? `plants.${i.path}` : 'plants', expected: `${i.expected} (in ${err.file})` }))], { cause: err });
  }

  const protocols = new Map<string, Protocol>(registry.plants.map((p) => [p.id, file.protocol]));
  for (const [plant, protocol] of Object.entries(file.protocols)) {
    if (!registry.plant(plant)) issues.push({ path: `protocols.${plant}`, expected: `a plant of the registry (${registry.plants.map((p) => p.id).join(', ')})` });
    else protocols.set(plant, protocol);
  }

  const faults: Fault[] = [];
  file.faults.forEach((f, i) => {
    const at = `faults[${i}]`;
    if (live) {
      for (const edge of ['from', 'to'] as const) {
        if ('atMs' in f[edge]) issues.push({ path: `${at}.${edge}`, expected: `a duration after start such as +40s: a live scenario (start: ${LIVE_START}) has no fixed date` });
      }
    }
    const fault = checkFault(f, at, registry, protocols, startMs, file.duration, issues);
    if (!fault) return;
    if (file.repeat !== undefined) {
      if (fault.toMs - startMs > file.repeat) issues.push({ path: `${at}.to`, expected: `a time within the first repeat period (start + ${file.repeat / 1000} s): each occurrence must end before the next begins` });
      fault.everyMs = file.repeat;
    }
    faults.push(fault);
  });
  if (issues.length) throw new ConfigError(source, issues);

  return {
    source,
    name: file.name ?? path.basename(source).replace(/\.ya?ml$/, ''),
    description: file.description ?? '',
    seed: file.seed,
    startMs,
    durationMs: file.duration,
    live,
    ...(file.repeat === undefined ? {} : { repeatMs: file.repeat }),
    stepMs,
    registry,
    protocols,
    faults,
  };
}

/** Kinds whose params are in the quantity's unit, or that only make sense for one quantity. */
const NEEDS_QUANTITY = new Set(['drift', 'out_of_range', 'tampering', 'counter_reset']);

function checkFault(
  f: z.output<typeof faultSchema>,
  at: string,
  registry: PlantRegistry,
  protocols: ReadonlyMap<string, Protocol>,
  startMs: number,
  durationMs: number,
  issues: ConfigIssue[],
): Fault | undefined {
  const before = issues.length;
  const plant = registry.plant(f.plant);
  if (!plant) {
    issues.push({ path: `${at}.plant`, expected: `a plant of the registry (${registry.plants.map((p) => p.id).join(', ')})` });
    return undefined;
  }
  const meter = f.meter === undefined ? undefined : registry.meter(f.plant, f.meter);
  if (f.meter !== undefined && !meter) issues.push({ path: `${at}.meter`, expected: `a meter of ${f.plant} (${plant.meters.map((m) => m.id).join(', ')})` });
  if (f.quantity !== undefined) {
    if (f.meter === undefined) issues.push({ path: `${at}.meter`, expected: 'a meter, since a quantity is given' });
    else if (meter && !meter.quantities.includes(f.quantity)) issues.push({ path: `${at}.quantity`, expected: `a quantity of ${f.meter} (${meter.quantities.join(', ')})` });
  }
  if (NEEDS_QUANTITY.has(f.kind) && f.quantity === undefined) issues.push({ path: `${at}.quantity`, expected: `a quantity: ${f.kind} params are in the quantity's unit` });
  if (f.kind === 'counter_reset' && f.quantity !== undefined && quantityDef(f.quantity).kind !== 'counter') {
    issues.push({ path: `${at}.quantity`, expected: 'a counter quantity (wastewater_volume, active_energy) for counter_reset' });
  }
  if (f.kind === 'clock_skew' && protocols.get(f.plant) === 'modbus') {
    issues.push({ path: `${at}.kind`, expected: 'a fault other than clock_skew for a plant read over Modbus (Modbus carries no timestamps)' });
  }
  if ((f.kind === 'duplicate' || f.kind === 'out_of_order') && (f.meter !== undefined || f.quantity !== undefined)) {
    issues.push({ path: `${at}.meter`, expected: `no meter or quantity: ${f.kind} acts on the plant's published batches` });
  }

  const fromMs = 'atMs' in f.from ? f.from.atMs : startMs + f.from.offsetMs;
  const toMs = 'atMs' in f.to ? f.to.atMs : startMs + f.to.offsetMs;
  if (toMs <= fromMs) issues.push({ path: `${at}.to`, expected: `a time after from (${new Date(fromMs).toISOString()})` });
  if (fromMs < startMs || fromMs >= startMs + durationMs) issues.push({ path: `${at}.from`, expected: 'a time within the scenario (start to start + duration)' });

  const params = FAULT_PARAM_SCHEMAS[f.kind].safeParse(f.params);
  if (!params.success) {
    for (const issue of zodIssues(params.error)) {
      issues.push({ path: issue.path ? `${at}.params.${issue.path}` : `${at}.params`, expected: `${issue.expected} (params of ${f.kind})` });
    }
  }
  if (issues.length > before || !params.success) return undefined;

  const target = { plant: f.plant, ...(f.meter === undefined ? {} : { meter: f.meter }), ...(f.quantity === undefined ? {} : { quantity: f.quantity as QuantityId }), fromMs, toMs };
  return { ...target, ...toEffect(f.kind, params.data) };
}

function toEffect(kind: (typeof FAULT_KINDS)[number], p: unknown): FaultEffect {
  switch (kind) {
    case 'spike':
      return { kind, ...(p as z.output<(typeof FAULT_PARAM_SCHEMAS)['spike']>) };
    case 'drift':
      return { kind, ...(p as z.output<(typeof FAULT_PARAM_SCHEMAS)['drift']>) };
    case 'dropout':
      return { kind, ...(p as z.output<(typeof FAULT_PARAM_SCHEMAS)['dropout']>) };
    case 'out_of_range':
      return { kind, ...(p as z.output<(typeof FAULT_PARAM_SCHEMAS)['out_of_range']>) };
    case 'clock_skew':
      return { kind, offsetMs: (p as z.output<(typeof FAULT_PARAM_SCHEMAS)['clock_skew']>).offset };
    case 'counter_reset':
      return { kind, ...(p as z.output<(typeof FAULT_PARAM_SCHEMAS)['counter_reset']>) };
    case 'tampering':
      return { kind, ...(p as z.output<(typeof FAULT_PARAM_SCHEMAS)['tampering']>) };
    case 'excursion': {
      const e = p as z.output<(typeof FAULT_PARAM_SCHEMAS)['excursion']>;
      return { kind, riseMs: e.rise, fallMs: e.fall, ...(e.peak === undefined ? {} : { peak: e.peak }), ...(e.factor === undefined ? {} : { factor: e.factor }) };
    }
    case 'duplicate':
    case 'out_of_order':
      return { kind, ...(p as { every: number }) };
    case 'stuck':
    case 'comm_loss':
    case 'nan':
      return { kind };
  }
}

/** Load and validate a scenario file; a registry path in it is relative to the file. A live one starts at nowMs. */
export function loadScenario(file: string, nowMs = Date.now()): Scenario {
  const raw = loadConfigFile(file, z.unknown());
  return parseScenario(file, raw, path.dirname(path.resolve(file)), nowMs);
}

/**
 * The scenario moved in time to start at startMs, every fault window with it: how `cleanstream up` runs a scenario in
 * real time, a live one from its own start and one with a fixed date as if that date were now.
 */
export function startScenarioAt(scenario: Scenario, startMs: number): Scenario {
  const shift = startMs - scenario.startMs;
  return { ...scenario, startMs, faults: scenario.faults.map((f) => ({ ...f, fromMs: f.fromMs + shift, toMs: f.toMs + shift })) };
}

/** The instants the scenario scans at: start, start + step, … up to (not including) start + duration. */
export function scenarioSteps(scenario: Pick<Scenario, 'startMs' | 'durationMs' | 'stepMs'>): number {
  return Math.ceil(scenario.durationMs / scenario.stepMs);
}

/** What a fault does, where, in a few words: `COD excursion at paper-01/outfall-1-cod`. */
export function describeFault(fault: Fault): string {
  const where = fault.meter === undefined ? `${fault.plant}, every meter` : `${fault.plant}/${fault.meter}`;
  const what = fault.quantity === undefined ? '' : `${quantityDef(fault.quantity).label.en} `;
  switch (fault.kind) {
    case 'excursion':
      return `${what || 'process '}excursion at ${where}`;
    case 'stuck':
      return `stuck ${what}analyser at ${where}`;
    case 'comm_loss':
      return `comm loss at ${where}`;
    default:
      return `${what}${fault.kind.replace('_', ' ')} at ${where}`;
  }
}

/** 40s, 1m20s, 2h30m, 1d2h: a duration as a scenario file writes it. */
export function formatDuration(ms: number): string {
  let rest = Math.round(ms / 1000);
  if (rest === 0) return '0s';
  let text = '';
  for (const [unit, seconds] of [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const) {
    if (rest >= seconds) {
      text += `${Math.floor(rest / seconds)}${unit}`;
      rest %= seconds;
    }
  }
  return text;
}

/**
 * What a running scenario will show and when, in one line, with clock times as `time` formats them and the offset
 * from the start: `21:40:40 (+40s) COD excursion at paper-01/outfall-1-cod (to 21:41:40), …; again every 10m`.
 */
export function describeTimeline(scenario: Scenario, time: (ms: number) => string): string {
  if (scenario.faults.length === 0) return 'no scripted faults';
  const faults = scenario.faults.map((f) => `${time(f.fromMs)} (+${formatDuration(f.fromMs - scenario.startMs)}) ${describeFault(f)} (to ${time(f.toMs)})`).join(', ');
  const again = scenario.repeatMs === undefined ? '' : `; again every ${formatDuration(scenario.repeatMs)}`;
  return `${faults}${again}`;
}
