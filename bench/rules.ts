/**
 * Rules benchmark: 1,000 plants × 20 meters (20,000 series).
 *
 *   1. engine, in-process, one core: evaluations/s with 10 and with 100 rules per plant, and the RSS it took. One
 *      evaluation is one rule judging one reading of a series it is bound to (one call of the rule's operator);
 *      a sliding window several rules read is fed once per reading and is not an evaluation itself, each rule that
 *      reads it is one. The rules bound per reading are counted (operator calls over readings, in an untimed pass),
 *      not assumed, and the timed run's evaluations are its readings × that count;
 *   2. alert latency through a broker (Mosquitto when installed, else the embedded aedes), for each configuration
 *      (rules per plant × processes), `--repeat N` times, every run reported: the rules service runs as in
 *      production (checkpoint file, readings acknowledged after checkpoints, alert rows written to a real InfluxDB)
 *      in child processes each owning a partition of the plants (rules/partition.ts); a load generator in a child
 *      process publishes readings at a bounded rate (default 50,000 readings/s) and, from its first scan, every 20 ms
 *      steps one meter over its limit and back; an alert watcher in another child process times every alert of
 *      every rule: latency = its arrival − the event time of the reading that caused it (the wall clock when that
 *      was published). The feed records every crossing it published, so each run says how many alerts the rules the
 *      spikes cross had to raise and clear, how many arrived, and whether InfluxDB holds one row per transition.
 *      Figures are given for the measured span (after the warm-up: every series bound and each rules process's
 *      first checkpoint written, plus 2 s) and from the feed's first reading;
 *   3. before those, in the same run and through the same broker, feed and watcher, baselines applying rule r000
 *      alone (--baselines): a bare MQTT.js relay (the floor of the broker path) and optionally Node-RED.
 *
 * At the end: every run side by side, the spread of each configuration, the verdict (met only if every run met it)
 * and markdown rows for rules/README.md (one per run) and bench/README.md (one per configuration, every run's p99).
 *
 * Prints figures; it is not a test. Run: node bin/run-ts.js bench/rules.ts [--help]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { connectAsync } from 'mqtt';
import { pino } from 'pino';
import { plantRegistryFrom, type PlantRegistry } from '../core/plants.ts';
import { decodeBatch, encodeBatch, type BatchReading, type ReadingBatch } from '../core/reading.ts';
import { TOPIC_ROOT, topics } from '../bus/topics.ts';
import { startBroker } from '../bus/broker.ts';
import type { Alert } from '../rules/alerts.ts';
import { parseRules, type RuleConfig } from '../rules/config.ts';
import { RulesEngine } from '../rules/engine.ts';
import { RULE_KINDS } from '../rules/kinds/index.ts';
import type { RuleKind } from '../rules/kinds/types.ts';
import { loadLimitsCatalog } from '../rules/limits/catalog.ts';
import { startRules, type RulesStats } from '../rules/service.ts';
import { SharedWindows } from '../rules/windows.ts';
import { startInfluxd, type RunningInflux } from '../test/harness/influxd.ts';
import { MOSQUITTO, startMosquitto } from '../test/harness/mosquitto.ts';
import { freePort } from '../test/harness/ports.ts';
import { ensureNodeRed, startNodeRed, type RunningNodeRed } from './peers/node-red.ts';
import { processUsage, type ProcessUsage } from './peers/process-usage.ts';

const HELP = `usage: node bin/run-ts.js bench/rules.ts [options]

With no options, the full run (about 10 minutes on a quiet 2-core machine): engine runs with 10 and 100 rules per
plant; the relay baseline once; then 10 rules per plant in 1 process and 100 in 2 processes, 3 runs each of 50 s
measured, every run reported; a verdict over all runs; markdown rows for rules/README.md and bench/README.md.

options:
  --plants N            plants (default 1000)
  --meters N            meters per plant, one COD series each (default 20)
  --rules LIST          rules per plant for the engine runs, or none (default 10,100)
  --engine-seconds S    time bound of each engine run (default 5)
  --latency-seconds S   measured publishing time of each latency run (after its warm-up); 0 skips them (default 50)
  --rate R              readings/s offered in the latency runs (default 50000)
  --latency-rules LIST  the latency configurations: rules per plant, each optionally xP for P processes
                        (default 10,100x2; an entry without xP takes --partitions)
  --partitions N        rules processes of a configuration that names none (default 1)
  --repeat N            runs of each latency configuration, every one reported (default 3); the verdict is met only
                        if every run meets it (p99 within --target-p99 and every expected alert delivered)
  --target-p99 MS       the latency target of the verdict (default 100)
  --measure-from W      which span the headline latency and the verdict cover: checkpoint (default: after the
                        warm-up, i.e. once every series is bound and each rules process has written its first
                        checkpoint, plus 2 s; with --no-checkpoint once every series is bound) or first-reading (from
                        the feed's first reading, the start-up included); both are printed either way
  --no-checkpoint       latency runs without a checkpoint file (readings acknowledged at once)
  --checkpoint-interval MS   checkpoint.intervalMs of the service (default 10000, as shipped)
  --max-unacked N       checkpoint.maxUnackedMessages of the service (default 10000, as shipped)
  --checkpoint-deltas N checkpoint.deltas: incremental checkpoints between full ones (default 8, as shipped; 0: all full)
  --broker B            mosquitto or aedes (default mosquitto when installed)
  --node-flags F        extra Node/V8 flags for the rules processes, comma-separated (e.g. --max-semi-space-size=64)
  --cpu-prof DIR        write a V8 CPU profile of each rules process into DIR (open in Chrome DevTools)
  --storm-at S          S seconds into the measured span, one scan of every plant with every meter over its limit (an
                        alert storm: every series crosses the limit rules at once, and clears at its next scan); its
                        alerts are reported apart from the steady-state ones (default: no storm)
  --baselines LIST      before the rules latency runs, once each, in the same run and through the same broker, feed
                        and watcher: relay (a bare MQTT.js process applying rule r000 alone: decode, compare,
                        publish, no durability; the floor of the broker path), node-red (Node-RED 4 doing the same in
                        a function node; installed on demand into var/bench-peers), or none (default relay)
  --help                this text

Every latency run's alert rows go to a real InfluxDB (Debian's influxd, started by the bench on loopback; one
database per run), and the run checks that it holds one row per transition that has one.`;

const { values: args } = parseArgs({
  options: {
    plants: { type: 'string' },
    meters: { type: 'string' },
    rules: { type: 'string' },
    'engine-seconds': { type: 'string' },
    'latency-seconds': { type: 'string' },
    rate: { type: 'string' },
    broker: { type: 'string' },
    'latency-rules': { type: 'string' },
    repeat: { type: 'string' },
    'target-p99': { type: 'string' },
    'measure-from': { type: 'string' },
    'no-checkpoint': { type: 'boolean' },
    'checkpoint-interval': { type: 'string' },
    'max-unacked': { type: 'string' },
    'checkpoint-deltas': { type: 'string' },
    partitions: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'node-flags': { type: 'string' },
    'storm-at': { type: 'string' },
    baselines: { type: 'string' },
    role: { type: 'string' },
    'partition-index': { type: 'string' },
    'rule-count': { type: 'string' },
    dir: { type: 'string' },
    'broker-url': { type: 'string' },
    'influx-url': { type: 'string' },
    'influx-db': { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (args.help && !args.role) {
  console.log(HELP);
  process.exit(0);
}
const num = (v: string | undefined, d: number): number => {
  const n = v === undefined ? d : Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`expected a non-negative number, got ${v}`);
  return n;
};
const PLANTS = num(args.plants, 1000);
const METERS = num(args.meters, 20);
const RULE_COUNTS = args.rules === 'none' ? [] : (args.rules ?? '10,100').split(',').map((s) => num(s, 10));
const ENGINE_SECONDS = num(args['engine-seconds'], 5);
const LATENCY_SECONDS = num(args['latency-seconds'], 50);
const RATE = num(args.rate, 50_000);
const BASELINES = (args.baselines ?? 'relay').split(',').filter((b) => b && b !== 'none').map((b) => {
  if (b !== 'relay' && b !== 'node-red') throw new Error(`--baselines: expected relay, node-red or none, got ${b}`);
  return b;
});
const PARTITIONS = Math.max(1, Math.round(num(args.partitions, 1)));
/** The latency configurations: rules per plant × rules processes. */
const LATENCY_CONFIGS = (args['latency-rules'] ?? '10,100x2').split(',').filter(Boolean).map((entry) => {
  const m = /^(\d+)(?:x(\d+))?$/.exec(entry.trim());
  if (!m) throw new Error(`--latency-rules: expected N or NxP (rules per plant, processes), got ${entry}`);
  return { rules: Number(m[1]), partitions: m[2] === undefined ? PARTITIONS : Math.max(1, Number(m[2])) };
});
const REPEAT = Math.max(1, Math.round(num(args.repeat, 3)));
const TARGET_P99_MS = num(args['target-p99'], 100);
const MEASURE_FROM = args['measure-from'] ?? 'checkpoint';
if (MEASURE_FROM !== 'checkpoint' && MEASURE_FROM !== 'first-reading') throw new Error(`--measure-from: expected checkpoint or first-reading, got ${MEASURE_FROM}`);
const CHECKPOINT = !args['no-checkpoint'];
const CHECKPOINT_INTERVAL_MS = num(args['checkpoint-interval'], 10_000);
const MAX_UNACKED = num(args['max-unacked'], 10_000);
const CHECKPOINT_DELTAS = num(args['checkpoint-deltas'], 8);
const STORM_AT_S = args['storm-at'] === undefined ? undefined : num(args['storm-at'], 0);
const ROOT = path.resolve(import.meta.dirname, '..');
/** Event time between two scans of a meter in the engine runs (windows hold a handful of samples, as with minute data). */
const SCAN_MS = 10_000;
/** How long a latency run waits for its warm-up (every series bound, first checkpoints) before measuring anyway. */
const WARMUP_LIMIT_MS = 120_000;
/** What a spike steps a meter to, and the level from which the feed counts a reading as over the limits (its crossings). */
const SPIKE_VALUE = 150;
const HIGH_FROM = 100;
/** The feed's normal values: 50 mg/L ± 0.5. */
const NORMAL_MAX = 50.5;

function registry(plants = PLANTS): PlantRegistry {
  return plantRegistryFrom('bench plants', {
    regions: [{ id: 'bench', name: { en: 'Bench', zh: '基准' } }],
    plants: Array.from({ length: plants }, (_, p) => ({
      id: `plant-${p}`,
      name: { en: `Plant ${p}`, zh: `工厂${p}` },
      region: 'bench',
      industry: 'pulp-paper',
      category: 'integrated',
      outfalls: [{ id: 'outfall-1' }],
      meters: Array.from({ length: METERS }, (_, m) => ({ id: `m${m}`, location: 'outfall-1', quantities: ['cod'] })),
    })),
  });
}

/** N rules on every series, of every kind, thresholds varied so that normal values (about 50) raise nothing. */
function ruleInputs(n: number): Record<string, unknown>[] {
  const make = (i: number): Record<string, unknown> => {
    const id = `r${String(i).padStart(3, '0')}`;
    const base = { id, severity: 'major', selector: { quantity: 'cod' } };
    const k = i % 10;
    const bump = Math.floor(i / 10);
    switch (k) {
      case 0: return { ...base, kind: 'limit', limit: { max: 100 + bump }, clear: { below: 90 + bump } };
      case 1: return { ...base, kind: 'limit', limit: 'catalog', clear: { deadbandPct: 5 } };
      case 2: return { ...base, kind: 'limit', limit: { max: 100 + bump }, averaging: { meanOverMs: 3_600_000, minSamples: 10 } };
      case 3: return { ...base, kind: 'sustained', limit: { max: 95 + bump }, forMs: 1_800_000 };
      case 4: return { ...base, kind: 'rate', maxPerMinute: 500 + bump, windowMs: 60_000 };
      case 5: return { ...base, kind: 'flatline', epsilon: 0.000_001, samples: 50 + bump };
      case 6: return { ...base, kind: 'quality', windowMs: 60_000, maxShare: 0.5 };
      case 7: return { ...base, kind: 'limit', limit: { min: 0, max: 1000 + bump } };
      case 8: return { ...base, kind: 'sustained', limit: { max: 150 + bump }, forMs: 600_000 };
      default: return { ...base, kind: 'rate', maxPerMinute: 1000 + bump, direction: 'rise', windowMs: 300_000 };
    }
  };
  return Array.from({ length: n }, (_, i) => make(i));
}

/**
 * The rules of the mix that every spike must raise and clear: instantaneous limits whose bound is below the spike and
 * whose clearing level is above the feed's normal values (r000, r001 and every tenth rule after them; the catalog
 * limit of r001 is the bench plants' own, GB 3544-2008's 90 mg/L). The other rules may fire too (a rate rule whose
 * window holds only a few seconds), and their alerts are timed as well, but the feed does not decide them.
 */
function rulesTheSpikesCross(n: number): string[] {
  const plant = registry(1).plants[0]!;
  const catalogMax = loadLimitsCatalog().limitFor(plant, 'cod', Date.now())?.max;
  return ruleInputs(n)
    .filter((r) => {
      if (r.kind !== 'limit' || r.averaging) return false;
      const limit = r.limit as 'catalog' | { min?: number; max?: number };
      const max = limit === 'catalog' ? catalogMax : limit.max;
      if (max === undefined || max >= SPIKE_VALUE) return false;
      const clear = r.clear as { below?: number; deadbandPct?: number } | undefined;
      const clearsBelow = clear?.below ?? (clear?.deadbandPct !== undefined ? max * (1 - clear.deadbandPct / 100) : max);
      return clearsBelow > NORMAL_MAX;
    })
    .map((r) => r.id as string);
}

function rules(n: number): RuleConfig[] {
  return parseRules('bench rules', ruleInputs(n));
}

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(0)} MB`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One scan of every plant at event time `ts`: values 45-55 mg/L (nothing crosses a limit), fed to the engine. */
function engineFeed(reg: PlantRegistry): (engine: RulesEngine, step: number) => number {
  const batches: ReadingBatch[] = reg.plants.map((p) => ({
    v: 1,
    gateway: `gw-${p.id}`,
    plant: p.id,
    seq: 0,
    sentAt: 0,
    readings: p.meters.map((m): BatchReading => ({ meter: m.id, quantity: 'cod', value: 50, unit: 'mg/L', ts: 0, quality: 'good' })),
  }));
  let seed = 1;
  const noise = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 10;
  return (engine, step) => {
    const ts = 1_700_000_000_000 + step * SCAN_MS;
    let n = 0;
    for (const b of batches) {
      for (const r of b.readings) {
        r.ts = ts;
        r.value = 45 + noise();
      }
      engine.ingestBatch(b);
      n += b.readings.length;
    }
    return n;
  };
}

/**
 * Rules judged per reading and shared windows fed per reading, counted rather than assumed: an engine with the same
 * rules whose operators count their calls (every rule kind's operators wrapped while it binds) over a few scans of
 * two plants, untimed. A shared window is fed once per reading however many rules read it; each rule reading it is
 * one judgement.
 */
function countJudgements(ruleCount: number): { rulesPerReading: number; windowsPerReading: number } {
  const kinds = RULE_KINDS as unknown as Record<string, RuleKind>;
  const originals = { ...kinds };
  const feedWindows = Object.getOwnPropertyDescriptor(SharedWindows.prototype, 'feed')!;
  let judged = 0;
  let windowFeeds = 0;
  try {
    for (const [name, kind] of Object.entries(originals)) {
      kinds[name] = {
        ...kind,
        create: (params, ctx, windows) => {
          const op = kind.create(params, ctx, windows);
          const sample = op.sample.bind(op);
          op.sample = (ts, value, quality, port) => {
            judged++;
            sample(ts, value, quality, port);
          };
          return op;
        },
      };
    }
    const original = feedWindows.value as SharedWindows['feed'];
    SharedWindows.prototype.feed = function (this: SharedWindows, ts, value, quality) {
      windowFeeds += this.size;
      original.call(this, ts, value, quality);
    };
    const reg = registry(2);
    const engine = new RulesEngine({ rules: rules(ruleCount), limits: loadLimitsCatalog(), registry: reg, allowedLatenessMs: 0, clock: () => 0 });
    const scan = engineFeed(reg);
    scan(engine, 0);
    judged = 0;
    windowFeeds = 0;
    let readings = 0;
    for (let step = 1; step <= 3; step++) readings += scan(engine, step);
    return { rulesPerReading: judged / readings, windowsPerReading: windowFeeds / readings };
  } finally {
    Object.assign(kinds, originals);
    Object.defineProperty(SharedWindows.prototype, 'feed', feedWindows);
  }
}

function engineRun(reg: PlantRegistry, ruleCount: number): { readings: number; evaluations: number; seconds: number; bindSeconds: number; perSecond: number; rssBefore: number; rssAfter: number; transitions: number; rulesPerReading: number; windowsPerReading: number } {
  const { rulesPerReading, windowsPerReading } = countJudgements(ruleCount);
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let transitions = 0;
  const engine = new RulesEngine({ rules: rules(ruleCount), limits: loadLimitsCatalog(), registry: reg, allowedLatenessMs: 0, clock: () => 0, onTransition: () => void transitions++ });
  const scan = engineFeed(reg);
  // The first scan binds every series to its rules (operators and alert slots are made once): timed apart.
  const bindStart = process.hrtime.bigint();
  scan(engine, 0);
  const bindSeconds = Number(process.hrtime.bigint() - bindStart) / 1e9;
  let readings = 0;
  const start = process.hrtime.bigint();
  const deadline = Date.now() + ENGINE_SECONDS * 1000;
  for (let step = 1; Date.now() < deadline && step < 1_000_000; step++) readings += scan(engine, step);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const rssAfter = process.memoryUsage().rss;
  const evaluations = readings * rulesPerReading;
  return { readings, evaluations, seconds, bindSeconds, perSecond: evaluations / seconds, rssBefore, rssAfter, transitions, rulesPerReading, windowsPerReading };
}

/** What `after` counted beyond `before`, largest first. */
function diffCounts(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out = Object.entries(after).map(([k, n]) => [k, n - (before[k] ?? 0)] as const).filter(([, n]) => n > 0);
  return Object.fromEntries(out.sort((a, b) => b[1] - a[1]));
}

interface LatencySummary {
  p50: number;
  p99: number;
  max: number;
}

/** p50, p99 and max of latencies sorted ascending. */
function latencySummary(sorted: number[]): LatencySummary {
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Messages between this process and its children (IPC). */
type ToChild = { type: 'measure'; seconds: number } | { type: 'stats' } | { type: 'count' } | { type: 'stop' };
/** What a rules process reports when asked: counters since it started, its CPU time and memory. */
interface RulesProcessStats {
  readings: number;
  series: number;
  checkpoints: number;
  deltaCheckpoints: number;
  /** The last full and incremental checkpoints: size and time taken. */
  lastCheckpoint: RulesStats['lastCheckpoint'];
  /** Batches held back for their gateway's order (a hold delays every later batch of that gateway). */
  reorder: RulesStats['reorder'];
  unacked: number;
  cpuSeconds: number;
  rss: number;
  /** Alert transitions emitted so far, by rule and kind (`r005.raised`). */
  transitions: Record<string, number>;
  /** Of those, the ones the history gets a row for (a throttled re-trigger has none), by rule. */
  rows: Record<string, number>;
  /** The alert writer: rows written to InfluxDB, waiting, dropped, failed writes. */
  influx: RulesStats['influx'];
  /** Event-loop delay since the last `measure` (what an alert can wait before it is judged). */
  loopDelayMs: { p99: number; max: number };
  /** Event-loop stalls of 100 ms or more since `measure`: seconds after it, and how long. */
  stalls: { atS: number; ms: number }[];
}
/** Readings the feed published over the limits and back: series index (plant × METERS + meter), 1 up / 0 down, event time. */
interface Crossings {
  series: number[];
  up: number[];
  ts: number[];
}
/** Every alert the watcher saw (retained ones aside): rule number, series index, 1 raised/updated / 0 cleared, event time, latency. */
interface SeenAlerts {
  rule: number[];
  series: number[];
  up: number[];
  eventTime: number[];
  latency: number[];
}
type FromChild =
  | { type: 'ready' }
  | { type: 'fed'; startedAt: number; published: number; publishedMeasured: number; measuredSeconds: number; lagMs: number; crossings: Crossings; storm?: { from: number; until: number } }
  | { type: 'latencies'; seen: SeenAlerts; brokerStalls: { atS: number; ms: number }[] }
  | { type: 'count'; alerts: number }
  | ({ type: 'stats' } & RulesProcessStats)
  | { type: 'stopped' };

/**
 * The load generator (a child process): every meter of every plant in one batch per plant, plants in turn, at the
 * offered rate, values about 50 mg/L with a little seeded noise (a real analyser's reading is never exactly constant:
 * a constant feed trips every series' flatline rule at the same moment, a storm of 20,000 alerts that once passed
 * for the steady state); from its first scan, every 20 ms one meter steps to 150 mg/L and back at its next scan.
 * With --storm-at, one scan of every plant has every meter at 150 mg/L. A reading's event time is the wall clock when
 * its batch is published. Every reading that crosses 100 mg/L up or back down is recorded (the alerts it owes).
 */
async function feedRole(reg: PlantRegistry, brokerUrl: string): Promise<void> {
  const publisher = await connectAsync(brokerUrl, { protocolVersion: 4, clientId: `bench-feed-${process.pid}` });
  const messagesPerSecond = RATE / METERS;
  const seqs = new Array<number>(PLANTS).fill(0);
  const spiking = new Set<number>();
  const high = new Uint8Array(PLANTS * METERS);
  const crossings: Crossings = { series: [], up: [], ts: [] };
  let plantCursor = 0;
  let sent = 0;
  let published = 0;
  let measureFrom = Infinity;
  let measureUntil = Infinity;
  let publishedAtMeasure = 0;
  let lastSpike = 0;
  let worstLagMs = 0;
  let seed = 12345;
  // ±0.5 mg/L at the 0.01 mg/L resolution an analyser reports
  const noise = (): number => Math.round(((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 100) / 100;
  /** The storm's event times, and how many plants are still to be published in it. */
  let storm: { from: number; until: number; plantsLeft: number } | undefined;
  process.on('message', (m: ToChild) => {
    if (m.type === 'measure') {
      measureFrom = Date.now();
      measureUntil = measureFrom + m.seconds * 1000;
      publishedAtMeasure = published;
    } else process.exit(0);
  });
  process.send!({ type: 'ready' } satisfies FromChild);
  const start = Date.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = Date.now();
      if (now >= measureUntil) {
        clearInterval(timer);
        resolve();
        return;
      }
      // paced by the clock, not by timer ticks, so late ticks do not lower the offered rate
      const due = Math.floor(((now - start) / 1000) * messagesPerSecond);
      if (due - sent > messagesPerSecond / 10) worstLagMs = Math.max(worstLagMs, ((due - sent) / messagesPerSecond) * 1000);
      for (; sent < due; sent++) {
        const p = plantCursor++ % PLANTS;
        const plant = reg.plants[p]!;
        const ts = Date.now();
        const readings: BatchReading[] = plant.meters.map((m) => ({ meter: m.id, quantity: 'cod', value: 50 + noise(), unit: 'mg/L', ts, quality: 'good' }));
        if (STORM_AT_S !== undefined && !storm && now >= measureFrom + STORM_AT_S * 1000) storm = { from: ts, until: ts, plantsLeft: PLANTS };
        if (storm && storm.plantsLeft > 0) {
          storm.plantsLeft--;
          storm.until = ts;
          for (const r of readings) r.value = SPIKE_VALUE;
          spiking.delete(p);
        } else if (spiking.has(p)) {
          spiking.delete(p); // back to 50: clears
        } else if (now - lastSpike >= 20) {
          lastSpike = now; // one meter steps to 150 mg/L: raises
          spiking.add(p);
          readings[0]!.value = SPIKE_VALUE;
        }
        for (let m = 0; m < readings.length; m++) {
          const s = p * METERS + m;
          const up = readings[m]!.value! >= HIGH_FROM ? 1 : 0;
          if (up === high[s]) continue;
          high[s] = up;
          crossings.series.push(s);
          crossings.up.push(up);
          crossings.ts.push(ts);
        }
        void publisher.publishAsync(topics.readings(plant.id, `gw-${plant.id}`), encodeBatch({ v: 1, gateway: `gw-${plant.id}`, plant: plant.id, seq: seqs[p]!++, sentAt: ts, readings }), { qos: 1 });
        published += readings.length;
      }
    }, 5);
  });
  const measuredSeconds = (Date.now() - measureFrom) / 1000;
  process.send!({ type: 'fed', startedAt: start, published, publishedMeasured: published - publishedAtMeasure, measuredSeconds, lagMs: Math.round(worstLagMs), crossings, ...(storm ? { storm: { from: storm.from, until: storm.until } } : {}) } satisfies FromChild);
  await publisher.endAsync();
}

/**
 * The alert watcher (a child process): every alert of every rule, from before the feed's first reading; latency =
 * its arrival − the event time of the reading that caused it (the clear's time for a clear, the last trigger's for a
 * raise or re-trigger).
 */
async function watchRole(brokerUrl: string): Promise<void> {
  const seen: SeenAlerts = { rule: [], series: [], up: [], eventTime: [], latency: [] };
  let measuring = false;
  let measureAt = Date.now();
  /** Round trips of a probe through the broker of 100 ms or more: when the broker (not a rules process) was slow. */
  const brokerStalls: { atS: number; ms: number }[] = [];
  const watcher = await connectAsync(brokerUrl, { protocolVersion: 4, clientId: `bench-alert-watcher-${process.pid}` });
  const probeTopic = `bench/probe/${process.pid}`;
  watcher.on('message', (topic, payload, packet) => {
    if (topic === probeTopic) {
      const sent = Number(payload.toString('utf8'));
      if (measuring && Date.now() - sent >= 100 && brokerStalls.length < 50) brokerStalls.push({ atS: Number(((sent - measureAt) / 1000).toFixed(2)), ms: Date.now() - sent });
      return;
    }
    if (packet.retain) return;
    const arrived = Date.now();
    const a = JSON.parse(payload.toString('utf8')) as Pick<Alert, 'rule' | 'plant' | 'meter' | 'state' | 'raisedAt' | 'clearedAt'> & { updatedAt?: number };
    // the baselines' alerts carry no updatedAt: they have no re-triggers
    const eventTime = a.state === 'cleared' ? a.clearedAt! : (a.updatedAt ?? a.raisedAt);
    seen.rule.push(Number(a.rule.slice(1)));
    seen.series.push(Number(a.plant.slice('plant-'.length)) * METERS + Number(a.meter.slice(1)));
    seen.up.push(a.state === 'cleared' ? 0 : 1);
    seen.eventTime.push(eventTime);
    seen.latency.push(arrived - eventTime);
  });
  await watcher.subscribeAsync([topics.alertsFilter(), probeTopic], { qos: 1 });
  const probe = setInterval(() => void watcher.publishAsync(probeTopic, String(Date.now()), { qos: 0 }), 20);
  process.on('message', (m: ToChild) => {
    if (m.type === 'measure') {
      measuring = true;
      measureAt = Date.now();
    } else if (m.type === 'count') {
      process.send!({ type: 'count', alerts: seen.rule.length } satisfies FromChild);
    } else {
      clearInterval(probe);
      process.send!({ type: 'latencies', seen, brokerStalls } satisfies FromChild, () => void watcher.endAsync().then(() => process.exit(0)));
    }
  });
  process.send!({ type: 'ready' } satisfies FromChild);
}

interface Child {
  proc: ChildProcess;
  next(type: FromChild['type']): Promise<FromChild>;
}

function startChild(role: 'feed' | 'watch' | 'rules' | 'relay', brokerUrl: string, extra: string[] = [], execArgv: string[] = []): Child {
  // advanced serialization: the feed's crossings and the watcher's alerts are arrays of up to millions of numbers
  const proc = fork(path.join(ROOT, 'bin/run-ts.js'), ['bench/rules.ts', '--role', role, '--broker-url', brokerUrl, '--plants', String(PLANTS), '--meters', String(METERS), '--rate', String(RATE), ...extra], { cwd: ROOT, execArgv, serialization: 'advanced' });
  const inbox: FromChild[] = [];
  const waiting: { type: FromChild['type']; resolve: (m: FromChild) => void }[] = [];
  proc.on('message', (m: FromChild) => {
    const w = waiting.findIndex((x) => x.type === m.type);
    if (w >= 0) waiting.splice(w, 1)[0]!.resolve(m);
    else inbox.push(m);
  });
  return {
    proc,
    next: (type) => {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]!);
      return new Promise((resolve, reject) => {
        const onExit = (code: number | null): void => reject(new Error(`the ${role} process exited (${code}) before sending ${type}`));
        proc.once('exit', onExit);
        waiting.push({
          type,
          resolve: (m) => {
            proc.off('exit', onExit);
            resolve(m);
          },
        });
      });
    },
  };
}

/**
 * A rules process (a child): the rules service as it runs in production, judging partition `index` of `count`
 * (all plants when count is 1), with its own client id, checkpoint and journal, writing its alert rows to InfluxDB.
 */
async function rulesRole(reg: PlantRegistry, brokerUrl: string, influxUrl: string, database: string, ruleCount: number, index: number, count: number, dir: string): Promise<void> {
  const transitions: Record<string, number> = {};
  const rows: Record<string, number> = {};
  const service = await startRules(
    {
      mqtt: { url: brokerUrl, protocolVersion: 4 },
      clientId: 'bench-rules',
      ...(count > 1 ? { partition: { index, count } } : {}),
      influx: { url: influxUrl, database, createDatabase: true },
      eventTime: { allowedLatenessMs: 0 },
      ...(CHECKPOINT ? { checkpoint: { file: path.join(dir, 'checkpoint.json'), intervalMs: CHECKPOINT_INTERVAL_MS, maxUnackedMessages: MAX_UNACKED, deltas: CHECKPOINT_DELTAS } } : {}),
      rules: ruleInputs(ruleCount) as never,
    },
    {
      registry: reg,
      logger: pino({ level: 'silent' }),
      onTransition: (t) => {
        const key = `${t.alert.rule}.${t.transition}`;
        transitions[key] = (transitions[key] ?? 0) + 1;
        if (t.historyRow !== false) rows[t.alert.rule] = (rows[t.alert.rule] ?? 0) + 1;
      },
    },
  );
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  // when the loop stalls, not only how much: to line stalls up with the feed's timeline
  let measureAt = Date.now();
  let stalls: { atS: number; ms: number }[] = [];
  let lastBeat = Date.now();
  setInterval(() => {
    const now = Date.now();
    if (now - lastBeat >= 110) stalls.push({ atS: Number(((lastBeat - measureAt) / 1000).toFixed(2)), ms: now - lastBeat - 10 });
    lastBeat = now;
  }, 10).unref();
  process.on('message', (m: ToChild) => {
    if (m.type === 'measure') {
      loopDelay.reset();
      measureAt = Date.now();
      stalls = [];
    } else if (m.type === 'stats') {
      const st = service.stats();
      const cpu = process.cpuUsage();
      process.send!({
        type: 'stats',
        readings: st.engine.readings,
        series: st.engine.series,
        checkpoints: st.checkpoints,
        deltaCheckpoints: st.deltaCheckpoints,
        lastCheckpoint: st.lastCheckpoint,
        reorder: st.reorder,
        unacked: st.unackedMessages,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        rss: process.memoryUsage().rss,
        transitions: { ...transitions },
        rows: { ...rows },
        influx: st.influx,
        stalls: stalls.slice(0, 20),
        loopDelayMs: { p99: Math.round(loopDelay.percentile(99) / 1e6), max: Math.round(loopDelay.max / 1e6) },
      } satisfies FromChild);
    } else if (m.type === 'stop') {
      // no final checkpoint: the bench's state is thrown away, and exiting writes the CPU profile (--cpu-prof)
      process.send!({ type: 'stopped' } satisfies FromChild, () => process.exit(0));
    }
  });
  process.send!({ type: 'ready' } satisfies FromChild);
}

async function rulesStats(children: readonly Child[]): Promise<RulesProcessStats[]> {
  return Promise.all(
    children.map((c) => {
      const reply = c.next('stats');
      c.proc.send({ type: 'stats' } satisfies ToChild);
      return reply as Promise<RulesProcessStats>;
    }),
  );
}

/** The broker of a latency run: Mosquitto when installed (a broker we did not write), else the embedded aedes; --broker chooses. */
async function startBenchBroker(): Promise<{ broker: { url: string; stop(): Promise<void> }; kind: 'mosquitto' | 'aedes' }> {
  const kind = (args.broker ?? (existsSync(MOSQUITTO) ? 'mosquitto' : 'aedes')) === 'mosquitto' ? 'mosquitto' : 'aedes';
  return { broker: kind === 'mosquitto' ? await startMosquitto() : await startBroker(), kind };
}

interface FeedAndWatch {
  /** Extra flags for the feed (--storm-at). */
  feedArgs: string[];
  /** The processes under test, told to measure with the feed and the watcher. */
  measuring: Child[];
  /** Settles once what is under test is warm (2 s more are waited after it). */
  warmup(): Promise<void>;
  /** Right before and right after the measured span. */
  before(): Promise<void>;
  after(): Promise<void>;
  /** After `after`, before the watcher stops: what must be done while alerts may still arrive (a backlog drained). */
  settle?(): Promise<void>;
}

interface Watched {
  fed: Extract<FromChild, { type: 'fed' }>;
  watched: Extract<FromChild, { type: 'latencies' }>;
  /** The measured span (wall clock): from `measure` to the feed's end. */
  measureFrom: number;
  measureUntil: number;
  /** Wall time from `measure` to `after` (the feed's span and 1 s for the last alerts), for rates and CPU. */
  wallSeconds: number;
}

/**
 * The part of a latency run that does not depend on what is measured: the alert watcher and the feed (children, so
 * that neither competes with what is measured for its event loop), the warm-up, LATENCY_SECONDS of measured feed,
 * then until the watcher has seen no new alert for 2 s (at most 30 s: a backlog's alerts are delivered and timed,
 * not dropped), and everything the watcher saw. The processes started are added to `children` for the caller to stop.
 */
async function feedAndWatch(brokerUrl: string, children: Child[], run: FeedAndWatch): Promise<Watched> {
  const watcher = startChild('watch', brokerUrl);
  children.push(watcher);
  await watcher.next('ready');
  const feeder = startChild('feed', brokerUrl, run.feedArgs);
  children.push(feeder);
  await feeder.next('ready');
  await run.warmup();
  await sleep(2_000);
  await run.before();
  const measureFrom = Date.now();
  for (const c of [watcher, feeder, ...run.measuring]) c.proc.send({ type: 'measure', seconds: LATENCY_SECONDS } satisfies ToChild);
  const fed = (await feeder.next('fed')) as Extract<FromChild, { type: 'fed' }>;
  const measureUntil = Date.now();
  await sleep(1_000); // the last alerts on their way
  await run.after();
  const wallSeconds = (Date.now() - measureFrom) / 1000;
  let seenBefore = -1;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    const reply = watcher.next('count');
    watcher.proc.send({ type: 'count' } satisfies ToChild);
    const { alerts } = (await reply) as Extract<FromChild, { type: 'count' }>;
    if (alerts === seenBefore) break;
    seenBefore = alerts;
    await sleep(2_000);
  }
  await run.settle?.();
  watcher.proc.send({ type: 'stop' } satisfies ToChild);
  const watched = (await watcher.next('latencies')) as Extract<FromChild, { type: 'latencies' }>;
  return { fed, watched, measureFrom, measureUntil, wallSeconds };
}

/** Latency and delivery over one span of a run: every alert seen whose reading was published in [from, until]. */
interface SpanFigures {
  /** Alerts the spikes owed in the span (their crossings × the rules they cross), how many arrived, missing, extra. */
  expected: number;
  delivered: number;
  missing: number;
  /** Alerts of those rules that no crossing explains (a re-trigger), and the same alert twice. */
  unexpected: number;
  duplicates: number;
  /** Alerts of the other rules (not decided by the feed), by rule. */
  others: Record<string, number>;
  alertsMeasured: number;
  latencyMs: LatencySummary;
  /** The rule with the highest p99 (rules with at least 20 alerts; else any), with its count. */
  worstRule: ({ rule: string; alerts: number } & LatencySummary) | undefined;
  byRule: Record<string, { alerts: number } & LatencySummary>;
}

const ruleName = (n: number): string => `r${String(n).padStart(3, '0')}`;

/**
 * Every alert seen in [from, until] (by the event time of its reading), matched against the crossings the feed
 * published in it: each crossing owes one alert per rule it crosses (raised going up, cleared coming down).
 * `exclude` leaves alerts out of the latency figures (a storm's), not out of the delivery count.
 */
function spanFigures(seen: SeenAlerts, crossings: Crossings, crossed: string[], from: number, until: number, exclude: (eventTime: number) => boolean = () => false): SpanFigures {
  const crossedIndex = new Map(crossed.map((r, i) => [Number(r.slice(1)), i] as const));
  const owed = new Map<string, number>();
  for (let i = 0; i < crossings.ts.length; i++) {
    const ts = crossings.ts[i]!;
    if (ts >= from && ts <= until) owed.set(`${crossings.series[i]}|${crossings.up[i]}|${ts}`, owed.size);
  }
  const got = new Uint8Array(owed.size * crossed.length);
  let unexpected = 0;
  let duplicates = 0;
  const others: Record<string, number> = {};
  const byRuleLatencies = new Map<number, number[]>();
  const latencies: number[] = [];
  for (let i = 0; i < seen.rule.length; i++) {
    const eventTime = seen.eventTime[i]!;
    if (eventTime < from || eventTime > until) continue;
    const rule = seen.rule[i]!;
    const r = crossedIndex.get(rule);
    if (r === undefined) others[ruleName(rule)] = (others[ruleName(rule)] ?? 0) + 1;
    else {
      const c = owed.get(`${seen.series[i]}|${seen.up[i]}|${eventTime}`);
      if (c === undefined) unexpected++;
      else if (got[c * crossed.length + r]!++ > 0) duplicates++;
    }
    if (exclude(eventTime)) continue;
    const latency = seen.latency[i]!;
    latencies.push(latency);
    let list = byRuleLatencies.get(rule);
    if (!list) byRuleLatencies.set(rule, (list = []));
    list.push(latency);
  }
  const delivered = got.reduce((n, x) => n + (x > 0 ? 1 : 0), 0);
  const byRule: SpanFigures['byRule'] = {};
  for (const [rule, list] of [...byRuleLatencies].sort((a, b) => a[0] - b[0])) byRule[ruleName(rule)] = { alerts: list.length, ...latencySummary(list.sort((a, b) => a - b)) };
  const ranked = Object.entries(byRule).sort((a, b) => b[1].p99 - a[1].p99 || b[1].max - a[1].max);
  const worst = ranked.find(([, s]) => s.alerts >= 20) ?? ranked[0];
  return {
    expected: got.length,
    delivered,
    missing: got.length - delivered,
    unexpected,
    duplicates,
    others,
    alertsMeasured: latencies.length,
    latencyMs: latencySummary(latencies.sort((a, b) => a - b)),
    worstRule: worst ? { rule: worst[0], ...worst[1] } : undefined,
    byRule,
  };
}

/** One latency run as the summary, the verdict and the markdown rows see it. */
interface RunRecord {
  kind: 'baseline' | 'rules';
  /** `relay`, `node-red`, or `10x1` (rules per plant × processes). */
  config: string;
  rulesPerPlant: number;
  partitions: number;
  run: number;
  date: string;
  loadAtStart: number;
  broker: string;
  warmupSeconds: number;
  /** Set when the warm-up was not over in WARMUP_LIMIT_MS: what it had reached. */
  warmupIncomplete?: string;
  measuredSeconds: number;
  judgedOfOffered: number | undefined;
  readingsPerSecond: number;
  cpuCores: number;
  rss: string;
  checkpointFull: string;
  measured: SpanFigures;
  fromFirstReading: SpanFigures;
  /** Alert rows: InfluxDB's count against the transitions that have one (rules runs). */
  rows?: { expected: number; inInflux: number; byRuleMismatch: Record<string, { expected: number; inInflux: number }>; dropped: number; writeErrors: number };
  met: boolean;
}

const runs: RunRecord[] = [];
/** The engine runs, for the summary: rules per plant, evaluations/s per core, rules judged and shared windows fed per reading. */
const engineRuns: { rulesPerPlant: number; perSecond: number; rulesPerReading: number; windowsPerReading: number; loadAtStart: number }[] = [];
/** The engine's target: evaluations/s on one core. */
const ENGINE_TARGET = 1_000_000;

/** The span the verdict and the headline figures cover (--measure-from). */
const headline = (r: RunRecord): SpanFigures => (MEASURE_FROM === 'first-reading' ? r.fromFirstReading : r.measured);

/** A run meets the target when its p99 is within it and every alert the spikes owed arrived. */
function meets(span: SpanFigures): boolean {
  return span.alertsMeasured > 0 && span.latencyMs.p99 <= TARGET_P99_MS && span.missing === 0;
}

function runHeader(what: string, loadAtStart: number): void {
  const warmup = MEASURE_FROM === 'first-reading' ? 'measured from the feed\'s first reading (start-up included)' : CHECKPOINT ? 'measured after the warm-up: every series bound, each rules process\'s first checkpoint written, + 2 s' : 'measured after the warm-up: every series bound, + 2 s';
  console.error(`\n== ${what}: ${new Date().toISOString()}, load average ${loadAtStart.toFixed(2)}; ${RATE} readings/s offered; ${warmup}; ${LATENCY_SECONDS} s measured`);
}

/**
 * A baseline in the same run, through the same broker, feed and watcher: rule r000 alone (the limit every spike of the
 * feed crosses), applied by a bare MQTT.js process (`relay`: decode, compare, publish; no checkpoints, no journal,
 * no acknowledgement held back: the floor of the broker path) or by Node-RED (`node-red`: mqtt in → json →
 * function → mqtt out, what a Node-RED user would build).
 */
async function baselineRun(kind: 'relay' | 'node-red'): Promise<void> {
  const loadAtStart = loadavg()[0]!;
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
  runHeader(`baseline ${kind}`, loadAtStart);
  const { broker, kind: brokerKind } = await startBenchBroker();
  const children: Child[] = [];
  let nodeRed: RunningNodeRed | undefined;
  try {
    let pid: number;
    const measuring: Child[] = [];
    if (kind === 'relay') {
      const relay = startChild('relay', broker.url);
      children.push(relay);
      await relay.next('ready');
      measuring.push(relay);
      pid = relay.proc.pid!;
    } else {
      const redJs = ensureNodeRed(ROOT, (line) => console.error(line));
      const port = await freePort();
      nodeRed = await startNodeRed(redJs, mkdtempSync(path.join(tmpdir(), 'cleanstream-bench-node-red-')), port, nodeRedRuleFlow(new URL(broker.url).port));
      pid = nodeRed.pid;
    }
    let before: ProcessUsage | undefined;
    let after: ProcessUsage | undefined;
    const w = await feedAndWatch(broker.url, children, {
      feedArgs: [],
      measuring,
      warmup: () => sleep(3_000),
      before: async () => void (before = processUsage(pid)),
      after: async () => void (after = processUsage(pid)),
    });
    const measured = spanFigures(w.watched.seen, w.fed.crossings, ['r000'], w.measureFrom, w.measureUntil);
    const fromFirstReading = spanFigures(w.watched.seen, w.fed.crossings, ['r000'], w.fed.startedAt, w.measureUntil);
    const cpuCores = before && after ? Number(((after.cpuSeconds - before.cpuSeconds) / w.wallSeconds).toFixed(2)) : NaN;
    const readingsPerSecond = Math.round(w.fed.publishedMeasured / w.fed.measuredSeconds);
    const record: RunRecord = {
      kind: 'baseline',
      config: kind,
      rulesPerPlant: 1,
      partitions: 1,
      run: 1,
      date,
      loadAtStart,
      broker: brokerKind,
      warmupSeconds: (w.measureFrom - w.fed.startedAt) / 1000,
      measuredSeconds: w.fed.measuredSeconds,
      judgedOfOffered: undefined,
      readingsPerSecond,
      cpuCores,
      rss: after ? mb(after.rssBytes) : 'n/a',
      checkpointFull: '',
      measured,
      fromFirstReading,
      met: false,
    };
    record.met = meets(headline(record));
    runs.push(record);
    const { byRule: _m, ...measuredOut } = measured;
    const { byRule: _f, ...firstOut } = fromFirstReading;
    console.log(JSON.stringify({ baselineRun: { kind, broker: brokerKind, date, loadAtStart, offeredReadingsPerSecond: RATE, achievedReadingsPerSecond: readingsPerSecond, warmupSeconds: record.warmupSeconds, cpuCores, rss: record.rss, measured: measuredOut, fromFirstReading: firstOut, brokerStalls: w.watched.brokerStalls } }));
  } finally {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill();
    await nodeRed?.stop();
    await broker.stop();
  }
}

/** Node-RED doing what the relay does: r000 (above 100 mg/L raises, below 90 clears) per meter, state in the flow's context. */
function nodeRedRuleFlow(brokerPort: string): object[] {
  const judge = [
    'const b = msg.payload;',
    "const raised = context.get('raised') || {};",
    'const out = [];',
    'for (const r of b.readings) {',
    '  const key = b.plant + "/" + r.meter;',
    '  if (r.value === null) continue;',
    '  if (r.value > 100 && !raised[key]) raised[key] = true;',
    '  else if (r.value < 90 && raised[key]) delete raised[key];',
    '  else continue;',
    '  const up = !!raised[key];',
    `  out.push({ topic: "${TOPIC_ROOT}/alerts/" + b.plant + "/r000/" + r.meter, payload: JSON.stringify({ rule: "r000", plant: b.plant, meter: r.meter, state: up ? "raised" : "cleared", raisedAt: r.ts, clearedAt: up ? null : r.ts, value: r.value }) });`,
    '}',
    "context.set('raised', raised);",
    'return [out];',
  ].join('\n');
  return [
    { id: 'tab', type: 'tab', label: 'bench rules', disabled: false },
    { id: 'broker', type: 'mqtt-broker', name: 'bench broker', broker: '127.0.0.1', port: brokerPort, clientid: 'bench-node-red-rules', autoConnect: true, usetls: false, protocolVersion: '4', keepalive: '60', cleansession: true, autoUnsubscribe: true },
    { id: 'in', type: 'mqtt in', z: 'tab', name: 'readings', topic: topics.readingsFilter(), qos: '1', datatype: 'utf8', broker: 'broker', nl: false, rap: true, rh: 0, inputs: 0, x: 100, y: 100, wires: [['json']] },
    { id: 'json', type: 'json', z: 'tab', name: '', property: 'payload', action: 'obj', pretty: false, x: 250, y: 100, wires: [['judge']] },
    { id: 'judge', type: 'function', z: 'tab', name: 'r000', func: judge, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 400, y: 100, wires: [['out']] },
    { id: 'out', type: 'mqtt out', z: 'tab', name: 'alerts', topic: '', qos: '1', retain: 'false', broker: 'broker', x: 550, y: 100, wires: [] },
  ];
}

/**
 * The relay baseline (a child): r000 alone on every reading, with the least a process can do: decode and validate
 * the batch (core's decodeBatch, as the rules service does), compare, publish the change. Messages are acknowledged
 * on arrival (MQTT.js's default) and nothing is written to disk.
 */
async function relayRole(brokerUrl: string): Promise<void> {
  const client = await connectAsync(brokerUrl, { protocolVersion: 4, clientId: `bench-relay-${process.pid}` });
  const raised = new Set<string>();
  client.on('message', (_topic, payload) => {
    const b = decodeBatch(payload);
    for (const r of b.readings) {
      if (r.value === null) continue;
      const key = `${b.plant}/${r.meter}`;
      const up = raised.has(key);
      if (r.value > 100 && !up) raised.add(key);
      else if (r.value < 90 && up) raised.delete(key);
      else continue;
      const alert = { rule: 'r000', plant: b.plant, meter: r.meter, state: up ? 'cleared' : 'raised', raisedAt: r.ts, clearedAt: up ? r.ts : null, value: r.value };
      void client.publishAsync(topics.alert(b.plant, 'r000', r.meter), JSON.stringify(alert), { qos: 1 });
    }
  });
  await client.subscribeAsync(topics.readingsFilter(), { qos: 1 });
  process.on('message', (m: ToChild) => {
    if (m.type === 'stop') void client.endAsync().then(() => process.exit(0));
  });
  process.send!({ type: 'ready' } satisfies FromChild);
}

/**
 * Alert latency through a broker, with the rules service as it runs in production (checkpoint file, readings
 * acknowledged after checkpoints, alert rows to InfluxDB) in `partitions` child processes, and the load generator
 * and the alert watcher in two more. Everything is fresh for each run: broker, processes, checkpoint folder and the
 * InfluxDB database.
 */
async function latencyRun(reg: PlantRegistry, influx: RunningInflux, ruleCount: number, partitions: number, run: number, runId: number): Promise<void> {
  const loadAtStart = loadavg()[0]!;
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const config = `${ruleCount}x${partitions}`;
  runHeader(`rules ${ruleCount} rules/plant, ${partitions} process${partitions > 1 ? 'es' : ''}, run ${run} of ${REPEAT}`, loadAtStart);
  const crossed = rulesTheSpikesCross(ruleCount);
  const database = `bench_rules_${runId}`;
  const { broker, kind: brokerKind } = await startBenchBroker();
  const dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-bench-rules-'));
  const children: Child[] = [];
  const rulesProcs: Child[] = [];
  try {
    const profile = [...(args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(args['cpu-prof'])] : []), ...(args['node-flags']?.split(',').filter(Boolean) ?? [])];
    for (let p = 0; p < partitions; p++) {
      const proc = startChild('rules', broker.url, ['--influx-url', influx.url, '--influx-db', database, '--rule-count', String(ruleCount), '--partition-index', String(p), '--partitions', String(partitions), '--dir', dir, ...(CHECKPOINT ? [] : ['--no-checkpoint']), '--checkpoint-interval', String(CHECKPOINT_INTERVAL_MS), '--max-unacked', String(MAX_UNACKED), '--checkpoint-deltas', String(CHECKPOINT_DELTAS)], profile);
      rulesProcs.push(proc);
    }
    for (const r of rulesProcs) await r.next('ready');
    const atStart = await rulesStats(rulesProcs);
    let before: RulesProcessStats[] = [];
    let after: RulesProcessStats[] = [];
    let atEnd: RulesProcessStats[] = [];
    let atEndTime = NaN;
    let firstCheckpointAt = NaN;
    /** What the warm-up had not reached when its time was up. */
    let warmupIncomplete: string | undefined;
    const w = await feedAndWatch(broker.url, children, {
      feedArgs: STORM_AT_S === undefined ? [] : ['--storm-at', String(STORM_AT_S)],
      measuring: rulesProcs,
      // until every series has been bound to its rules (first readings) and, with checkpoints, every rules process
      // has written its first one (the first full checkpoint of a run grows the heap: a start-up cost, in the
      // from-the-first-reading figures)
      warmup: async () => {
        const warmupStart = Date.now();
        let reportAt = warmupStart + 5_000;
        for (;;) {
          const stats = await rulesStats(rulesProcs);
          const series = stats.reduce((n, st) => n + st.series, 0);
          const checkpointed = stats.filter((st) => st.checkpoints > 0).length;
          if (series >= PLANTS * METERS && (!CHECKPOINT || checkpointed === stats.length)) break;
          const progress = `${series} of ${PLANTS * METERS} series bound, ${checkpointed} of ${stats.length} processes checkpointed, ${stats.reduce((n, st) => n + st.readings, 0)} readings judged, ${stats.reduce((n, st) => n + st.unacked, 0)} messages unacknowledged`;
          if (Date.now() - warmupStart >= WARMUP_LIMIT_MS) {
            warmupIncomplete = progress;
            console.error(`  warm-up not over after ${WARMUP_LIMIT_MS / 1000} s (${progress}): measuring anyway, and the run says so`);
            break;
          }
          if (Date.now() >= reportAt) {
            console.error(`  warm-up, ${((Date.now() - warmupStart) / 1000).toFixed(0)} s: ${progress}`);
            reportAt += 5_000;
          }
          await sleep(200);
        }
        firstCheckpointAt = Date.now();
      },
      before: async () => void (before = await rulesStats(rulesProcs)),
      after: async () => void (after = await rulesStats(rulesProcs)),
      // every row the transitions owe written (or given up on), at most 30 s
      settle: async () => {
        for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(500)) {
          atEnd = await rulesStats(rulesProcs);
          atEndTime = Date.now();
          if (atEnd.every((s) => s.influx.pending === 0 && s.influx.written + s.influx.dropped >= Object.values(s.rows).reduce((n, x) => n + x, 0))) break;
        }
      },
    });
    const { fed } = w;
    // the storm's alerts: raised by its scan, and cleared by the scan after it (one plant cycle later)
    const cycleMs = (PLANTS / (RATE / METERS)) * 1000;
    const inStorm = (eventTime: number): boolean => fed.storm !== undefined && eventTime >= fed.storm.from && eventTime <= fed.storm.until + cycleMs + 50;
    const seen = w.watched.seen;
    let stormEnd = -Infinity;
    const stormLatencies: number[] = [];
    for (let i = 0; i < seen.eventTime.length; i++) {
      if (!inStorm(seen.eventTime[i]!)) continue;
      stormLatencies.push(seen.latency[i]!);
      stormEnd = Math.max(stormEnd, seen.eventTime[i]! + seen.latency[i]!);
    }
    // the single-meter spikes raised after the storm's readings but before its last alert was out wait behind it
    const behindStorm = (eventTime: number): boolean => fed.storm !== undefined && !inStorm(eventTime) && eventTime >= fed.storm.from && eventTime <= stormEnd;
    const measured = spanFigures(seen, fed.crossings, crossed, w.measureFrom, w.measureUntil, (t) => inStorm(t) || behindStorm(t));
    const fromFirstReading = spanFigures(seen, fed.crossings, crossed, fed.startedAt, w.measureUntil, (t) => inStorm(t) || behindStorm(t));
    const behindLatencies: number[] = [];
    for (let i = 0; i < seen.eventTime.length; i++) if (behindStorm(seen.eventTime[i]!)) behindLatencies.push(seen.latency[i]!);
    const judged = after.reduce((n, s, i) => n + s.readings - before[i]!.readings, 0);
    const cpuSeconds = after.reduce((n, s, i) => n + s.cpuSeconds - before[i]!.cpuSeconds, 0);
    const { rulesPerReading } = countJudgements(ruleCount);
    // InfluxDB's rows against the transitions that have one, over the whole run (warm-up included)
    const rowsExpected: Record<string, number> = {};
    for (const s of atEnd) for (const [rule, n] of Object.entries(s.rows)) rowsExpected[rule] = (rowsExpected[rule] ?? 0) + n;
    const inInflux: Record<string, number> = {};
    for (const row of await influx.query<{ rule: string; count: number }>('SELECT count("state") FROM "alerts" GROUP BY "rule"', database)) inInflux[row.rule] = row.count;
    const byRuleMismatch: Record<string, { expected: number; inInflux: number }> = {};
    for (const rule of new Set([...Object.keys(rowsExpected), ...Object.keys(inInflux)])) {
      if ((rowsExpected[rule] ?? 0) !== (inInflux[rule] ?? 0)) byRuleMismatch[rule] = { expected: rowsExpected[rule] ?? 0, inInflux: inInflux[rule] ?? 0 };
    }
    const sum = (o: Record<string, number>): number => Object.values(o).reduce((n, x) => n + x, 0);
    const rows = { expected: sum(rowsExpected), inInflux: sum(inInflux), byRuleMismatch, dropped: atEnd.reduce((n, s) => n + s.influx.dropped, 0), writeErrors: atEnd.reduce((n, s) => n + s.influx.errors, 0) };
    const full = after.map((s) => s.lastCheckpoint.full).filter((c) => c !== undefined);
    const record: RunRecord = {
      kind: 'rules',
      config,
      rulesPerPlant: ruleCount,
      partitions,
      run,
      date,
      loadAtStart,
      broker: brokerKind,
      warmupSeconds: (w.measureFrom - fed.startedAt) / 1000,
      ...(warmupIncomplete ? { warmupIncomplete } : {}),
      measuredSeconds: fed.measuredSeconds,
      judgedOfOffered: Number((judged / fed.publishedMeasured).toFixed(3)),
      readingsPerSecond: Math.round(judged / w.wallSeconds),
      cpuCores: Number((cpuSeconds / w.wallSeconds).toFixed(2)),
      rss: after.map((st) => mb(st.rss)).join(' + '),
      checkpointFull: full.length ? `${full.map((c) => mb(c.bytes)).join(' + ')}, ${full.map((c) => (c.ms / 1000).toFixed(1)).join(' / ')} s` : '',
      measured,
      fromFirstReading,
      rows,
      met: false,
    };
    record.met = meets(headline(record)) && rows.expected === rows.inInflux;
    runs.push(record);
    const { byRule: _m, ...measuredOut } = measured;
    const { byRule: _f, ...firstOut } = fromFirstReading;
    console.log(
      JSON.stringify({
        latencyRun: {
          date,
          loadAtStart,
          broker: brokerKind,
          rulesPerPlant: ruleCount,
          partitions,
          run: `${run} of ${REPEAT}`,
          checkpoint: CHECKPOINT ? { intervalMs: CHECKPOINT_INTERVAL_MS, maxUnackedMessages: MAX_UNACKED, deltas: CHECKPOINT_DELTAS } : false,
          // from the feed's first reading to the measured span: binding every series, the first checkpoints, 2 s
          warmupSeconds: record.warmupSeconds,
          ...(warmupIncomplete ? { warmupIncomplete } : {}),
          firstCheckpointsAfterSeconds: Number(((firstCheckpointAt - fed.startedAt) / 1000).toFixed(1)),
          offeredReadingsPerSecond: RATE,
          achievedReadingsPerSecond: Math.round(fed.publishedMeasured / fed.measuredSeconds),
          feedFellBehindMs: fed.lagMs,
          judgedReadingsPerSecond: record.readingsPerSecond,
          // readings judged while measuring (and in the second after) over those published while measuring: 1 = kept up
          judgedOfOffered: record.judgedOfOffered,
          // one evaluation: one rule judging one reading of a series it is bound to (rules bound per reading counted)
          rulesJudgedPerReading: rulesPerReading,
          evaluationsPerSecond: Math.round((judged * rulesPerReading) / w.wallSeconds),
          // CPU of the rules processes together (cores busy), and evaluations per CPU-second of them
          rulesCpuCores: record.cpuCores,
          evaluationsPerCpuSecond: Math.round((judged * rulesPerReading) / cpuSeconds),
          rulesTheSpikesCross: crossed,
          measured: measuredOut,
          fromFirstReading: firstOut,
          latencyByRule: measured.byRule,
          alertRows: rows,
          ...(fed.storm
            ? {
                storm: {
                  feedSpanMs: fed.storm.until - fed.storm.from,
                  // transitions of every series (raised, then cleared) and the spikes that fell in its span
                  alertsMeasured: stormLatencies.length,
                  latencyMs: latencySummary(stormLatencies.sort((a, b) => a - b)),
                  // from the storm's first reading to the arrival of its last alert at the watcher
                  allDeliveredAfterMs: stormEnd - fed.storm.from,
                  behindIt: { alertsMeasured: behindLatencies.length, latencyMs: latencySummary(behindLatencies.sort((a, b) => a - b)) },
                },
              }
            : {}),
          brokerStalls: w.watched.brokerStalls,
          perProcess: after.map((s, i) => ({
            judgedReadingsPerSecond: Math.round((s.readings - before[i]!.readings) / w.wallSeconds),
            cpuCores: Number(((s.cpuSeconds - before[i]!.cpuSeconds) / w.wallSeconds).toFixed(2)),
            cpuCoresFromFirstReading: Number(((atEnd[i]!.cpuSeconds - atStart[i]!.cpuSeconds) / ((atEndTime - fed.startedAt) / 1000)).toFixed(2)),
            rss: mb(s.rss),
            eventLoopDelayMs: s.loopDelayMs,
            stalls: s.stalls,
            checkpoints: s.checkpoints - before[i]!.checkpoints,
            deltaCheckpoints: s.deltaCheckpoints - before[i]!.deltaCheckpoints,
            lastCheckpoint: Object.fromEntries(Object.entries(s.lastCheckpoint).map(([k, c]) => [k, { size: mb(c.bytes), ms: c.ms }])),
            unackedAtEnd: s.unacked,
            reorder: { reordered: s.reorder.reordered - before[i]!.reorder.reordered, gapsSkipped: s.reorder.gapsSkipped - before[i]!.reorder.gapsSkipped },
            transitions: diffCounts(s.transitions, before[i]!.transitions),
          })),
        },
      }),
    );
  } finally {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill();
    // stopped, not killed: a CPU profile is written when the process exits
    await Promise.all(
      rulesProcs.map(async (r) => {
        if (r.proc.exitCode !== null) return;
        const exited = new Promise((res) => r.proc.once('exit', res));
        r.proc.send({ type: 'stop' } satisfies ToChild);
        // a timer left running would hold the bench's exit for its 30 s
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([exited, new Promise((res) => (timer = setTimeout(res, 30_000)))]);
        clearTimeout(timer);
        if (r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill();
      }),
    );
    await broker.stop();
    await influx.exec(`DROP DATABASE "${database}"`).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

const range = (values: number[], digits = 0): string => {
  const ok = values.filter((v) => Number.isFinite(v));
  if (!ok.length) return 'n/a';
  const lo = Math.min(...ok).toFixed(digits);
  const hi = Math.max(...ok).toFixed(digits);
  return lo === hi ? lo : `${lo}-${hi}`;
};
const ms = (l: LatencySummary): string => `${l.p50} / ${l.p99} / ${l.max} ms`;
const delivery = (s: SpanFigures): string => `${s.delivered} of ${s.expected}${s.unexpected ? `, ${s.unexpected} unexpected` : ''}${s.duplicates ? `, ${s.duplicates} twice` : ''}`;
const warmupText = (r: RunRecord): string => (r.kind === 'baseline' ? `first ${r.warmupSeconds.toFixed(0)} s` : r.warmupIncomplete ? `first ${r.warmupSeconds.toFixed(0)} s (warm-up NOT over: ${r.warmupIncomplete})` : CHECKPOINT ? `first ${r.warmupSeconds.toFixed(0)} s (to each process's 1st checkpoint, + 2 s)` : `first ${r.warmupSeconds.toFixed(0)} s (to every series bound, + 2 s)`);

/** Every run side by side, each configuration's spread and verdict, and the markdown rows for the READMEs. */
function printSummary(): void {
  if (engineRuns.length) {
    const each = engineRuns.map((e) => `${(e.perSecond / 1e6).toFixed(2)} M evaluations/s with ${e.rulesPerPlant} rules per plant (${e.rulesPerReading} rules judged and ${e.windowsPerReading} shared windows fed per reading; load average ${e.loadAtStart.toFixed(1)} at its start)`);
    const met = engineRuns.every((e) => e.perSecond >= ENGINE_TARGET);
    console.log(`
engine alone, one core: ${each.join('; ')}; target >= ${ENGINE_TARGET / 1e6} M/s per core: ${met ? 'met' : 'NOT met'}`);
  }
  if (!runs.length) return;
  const span = MEASURE_FROM === 'first-reading' ? 'from the feed\'s first reading' : 'after each run\'s warm-up';
  console.log(`\nalert latency, ${RATE} readings/s offered, ${LATENCY_SECONDS} s measured per run, every rule's alerts timed, ${span}:`);
  console.log(`${'run'.padEnd(30)} ${'load'.padStart(5)} ${'warm-up'.padStart(8)} ${'judged/s'.padStart(9)} ${'CPU'.padStart(5)} ${'RSS'.padStart(16)} ${'alerts (of owed)'.padStart(20)} ${'rows (of owed)'.padStart(16)}  ${'p50 / p99 / max'.padEnd(24)} ${'worst rule'.padEnd(22)} ${MEASURE_FROM === 'first-reading' ? 'after the warm-up' : 'from the 1st reading'}`);
  console.log(`(warm-up: from the feed's first reading to the measured span, ${CHECKPOINT ? 'every series bound and each rules process\'s first checkpoint written' : 'every series bound'} + 2 s, excluded from the figures but the last column's; ! when it was not over in ${WARMUP_LIMIT_MS / 1000} s. judged/s: readings judged by the rules processes; for a baseline, published by the feed)`);
  for (const r of runs) {
    const h = headline(r);
    const other = MEASURE_FROM === 'first-reading' ? r.measured : r.fromFirstReading;
    const what = r.kind === 'baseline' ? `baseline ${r.config} (r000)` : `rules ${r.rulesPerPlant}/plant x${r.partitions} #${r.run}`;
    const worst = h.worstRule ? `${h.worstRule.rule} p99 ${h.worstRule.p99} ms` : '';
    console.log(`${what.padEnd(30)} ${r.loadAtStart.toFixed(2).padStart(5)} ${`${r.warmupSeconds.toFixed(0)} s${r.warmupIncomplete ? '!' : ''}`.padStart(8)} ${String(r.readingsPerSecond).padStart(9)} ${r.cpuCores.toFixed(2).padStart(5)} ${r.rss.padStart(16)} ${delivery(h).padStart(20)} ${(r.rows ? `${r.rows.inInflux} of ${r.rows.expected}` : '').padStart(16)}  ${ms(h.latencyMs).padEnd(24)} ${worst.padEnd(22)} ${ms(other.latencyMs)}`);
  }
  const configs = [...new Set(runs.filter((r) => r.kind === 'rules').map((r) => r.config))];
  console.log(`\nverdict (p99 <= ${TARGET_P99_MS} ms ${span}, every owed alert delivered, one InfluxDB row per transition; met only if every run meets it):`);
  for (const c of configs) {
    const series = runs.filter((r) => r.config === c);
    const met = series.filter((r) => r.met).length;
    console.log(`  ${c.replace('x', ' rules/plant x ')} process(es), ${series.length} runs: p50 ${range(series.map((r) => headline(r).latencyMs.p50))} ms, p99 ${series.map((r) => headline(r).latencyMs.p99).join(' / ')} ms, max ${range(series.map((r) => headline(r).latencyMs.max))} ms, CPU ${range(series.map((r) => r.cpuCores), 2)}; ${met === series.length ? 'met' : `NOT met (${met} of ${series.length} runs)`}`);
  }

  console.log('\nrows for rules/README.md (one per run):\n');
  console.log('| date (UTC) | load at start | broker | rules/plant | processes | warm-up excluded | measured | judged/offered | rules CPU (cores) | RSS per process | checkpoint (full) | alerts delivered (of owed) | alert rows in InfluxDB (of transitions) | latency p50 / p99 / max, every rule | worst rule (p99) | from the first reading p50 / p99 / max | target |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of runs) {
    if (r.kind === 'baseline') continue;
    console.log(`| ${r.date} | ${r.loadAtStart.toFixed(2)} | ${r.broker} | ${r.rulesPerPlant} | ${r.partitions} | ${warmupText(r)} | ${r.measuredSeconds.toFixed(0)} s | ${r.judgedOfOffered?.toFixed(2)} | ${r.cpuCores.toFixed(2)} | ${r.rss} | ${r.checkpointFull} | ${delivery(r.measured)} | ${r.rows!.inInflux} of ${r.rows!.expected} | ${ms(r.measured.latencyMs)} | ${r.measured.worstRule ? `${r.measured.worstRule.rule}: ${r.measured.worstRule.p99} ms (${r.measured.worstRule.alerts} alerts)` : ''} | ${ms(r.fromFirstReading.latencyMs)} (${delivery(r.fromFirstReading)}) | ${r.met ? 'met' : '**not met**'} |`);
  }
  const baselines = runs.filter((r) => r.kind === 'baseline');
  console.log('\nrow(s) for bench/README.md (one per configuration; every run\'s p99 listed):\n');
  for (const c of configs) {
    const series = runs.filter((r) => r.config === c);
    const first = series[0]!;
    const met = series.filter((r) => r.met).length;
    const loads = range(series.map((r) => r.loadAtStart), 1);
    const warmup = warmupText(first).replace(/^first \d+ s/, `first ${range(series.map((r) => r.warmupSeconds))} s`);
    const spanText = MEASURE_FROM === 'first-reading' ? `from the feed's first reading (the warm-up, ${warmup}, included)` : `${warmup} excluded`;
    const otherText = MEASURE_FROM === 'first-reading' ? `after the warm-up p99 ${series.map((r) => r.measured.latencyMs.p99).join(' / ')} ms` : `from the first reading p99 ${series.map((r) => r.fromFirstReading.latencyMs.p99).join(' / ')} ms`;
    const figure = `${series.length} runs of ${LATENCY_SECONDS} s, ${spanText}: p99 ${series.map((r) => headline(r).latencyMs.p99).join(' / ')} ms (p50 ${range(series.map((r) => headline(r).latencyMs.p50))}, max ${range(series.map((r) => headline(r).latencyMs.max))} ms), every rule's alerts; worst rule p99 ${range(series.map((r) => headline(r).worstRule?.p99 ?? NaN))} ms; alerts delivered ${series.map((r) => delivery(headline(r))).join('; ')}; InfluxDB rows ${series.map((r) => `${r.rows!.inInflux} of ${r.rows!.expected}`).join('; ')}; ${range(series.map((r) => r.cpuCores), 2)} of a core, RSS ${series.map((r) => r.rss).join('; ')}; ${otherText}`;
    const base = baselines.map((b) => `${b.config} p99 ${headline(b).latencyMs.p99} ms`).join(', ');
    console.log(`| \`rules\` (${first.rulesPerPlant} rules/plant, ${first.partitions} process${first.partitions > 1 ? 'es' : ''}, ${RATE} readings/s through ${first.broker}; ${first.date.slice(0, 10)}, load average ${loads} at the starts) | ${figure} | ${base} | p99 <= ${TARGET_P99_MS} ms in every run: ${met === series.length ? 'met' : `not met (${met} of ${series.length})`} |`);
  }
}

const reg = registry();
// a child goes with its parent, whatever becomes of it
if (args.role) process.on('disconnect', () => process.exit(0));
if (args.role === 'feed') await feedRole(reg, args['broker-url']!);
else if (args.role === 'watch') await watchRole(args['broker-url']!);
else if (args.role === 'relay') await relayRole(args['broker-url']!);
else if (args.role === 'rules') await rulesRole(reg, args['broker-url']!, args['influx-url']!, args['influx-db']!, num(args['rule-count'], 10), num(args['partition-index'], 0), PARTITIONS, args.dir!);
else {
  const benchStart = Date.now();
  console.error('evaluation: one rule judging one reading of a series it is bound to (one call of its operator); a sliding window shared by several rules is fed once per reading and is not counted, each rule reading it is; rules bound per reading are counted in an untimed pass, not assumed');
  for (const n of RULE_COUNTS) {
    const loadAtStart = loadavg()[0]!;
    const r = engineRun(reg, n);
    engineRuns.push({ rulesPerPlant: n, perSecond: r.perSecond, rulesPerReading: r.rulesPerReading, windowsPerReading: r.windowsPerReading, loadAtStart });
    console.log(
      JSON.stringify({
        engineRun: {
          date: new Date().toISOString().slice(0, 16).replace('T', ' '),
          loadAtStart,
          plants: PLANTS,
          series: PLANTS * METERS,
          rulesPerPlant: n,
          rulesJudgedPerReading: r.rulesPerReading,
          sharedWindowsFedPerReading: r.windowsPerReading,
          bindSeconds: Number(r.bindSeconds.toFixed(2)),
          readings: r.readings,
          seconds: Number(r.seconds.toFixed(2)),
          readingsPerSecond: Math.round(r.readings / r.seconds),
          evaluationsPerSecondPerCore: Math.round(r.perSecond),
          transitions: r.transitions,
          rss: `${mb(r.rssBefore)} → ${mb(r.rssAfter)}`,
        },
      }),
    );
  }
  if (LATENCY_SECONDS > 0) {
    for (const kind of BASELINES) await baselineRun(kind);
    if (LATENCY_CONFIGS.length) {
      const influx = await startInfluxd();
      try {
        let runId = 0;
        for (const c of LATENCY_CONFIGS) for (let run = 1; run <= REPEAT; run++) await latencyRun(reg, influx, c.rules, c.partitions, run, ++runId);
      } finally {
        await influx.stop();
      }
    }
  }
  printSummary();
  console.error(`\nbench/rules took ${((Date.now() - benchStart) / 1000).toFixed(0)} s`);
}
