/**
 * Rules benchmark: 1,000 plants × 20 meters (20,000 series).
 *
 *   1. engine, in-process, one core: evaluations/s (readings × rules bound to each reading's series) with 10 and
 *      with 100 rules per plant, and the RSS it took;
 *   2. alert latency through a broker (Mosquitto when installed, else the embedded aedes), for each rule count: the
 *      rules service runs as in production (checkpoint file, readings acknowledged after checkpoints) in
 *      `--partitions N` child processes, each owning a partition of the plants (rules/partition.ts); a load
 *      generator in a child process publishes readings at a bounded rate (default 50,000 readings/s) and now and then
 *      steps one meter over its limit and back; an alert watcher in another child process measures latency =
 *      arrival of the alert − event time of the reading that caused it (the wall clock when it was published),
 *      p50/p99. Also, combined over the partitions: readings judged/s against offered, evaluations/s, evaluations
 *      per CPU-second of the rules processes, and each process's RSS;
 *   3. before those, in the same run and through the same broker, feed and watcher, baselines applying rule r000
 *      alone (--baselines): a bare MQTT.js relay (the floor of the broker path) and optionally Node-RED; a table at
 *      the end puts them side by side with the rules runs.
 *
 * Prints figures; it is not a test. Run: node bin/run-ts.js bench/rules.ts [--help]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
import { loadLimitsCatalog } from '../rules/limits/catalog.ts';
import { startRules, type RulesStats } from '../rules/service.ts';
import { MOSQUITTO, startMosquitto } from '../test/harness/mosquitto.ts';
import { freePort } from '../test/harness/ports.ts';
import { ensureNodeRed, startNodeRed, type RunningNodeRed } from './peers/node-red.ts';
import { processUsage, type ProcessUsage } from './peers/process-usage.ts';

const HELP = `usage: node bin/run-ts.js bench/rules.ts [options]

options:
  --plants N            plants (default 1000)
  --meters N            meters per plant, one COD series each (default 20)
  --rules LIST          rules per plant for the engine runs, or none (default 10,100)
  --engine-seconds S    time bound of each engine run (default 5)
  --latency-seconds S   publishing time of the latency run; 0 skips it (default 10)
  --rate R              readings/s offered in the latency run (default 50000)
  --latency-rules LIST  rules per plant for the latency runs (default: as --rules)
  --no-checkpoint       latency runs without a checkpoint file (readings acknowledged at once)
  --checkpoint-interval MS   checkpoint.intervalMs of the service (default 10000, as shipped)
  --max-unacked N       checkpoint.maxUnackedMessages of the service (default 10000, as shipped)
  --checkpoint-deltas N checkpoint.deltas: incremental checkpoints between full ones (default 8, as shipped; 0: all full)
  --broker B            mosquitto or aedes (default mosquitto when installed)
  --partitions N        rules processes in the latency runs, each owning a partition of the plants (default 1)
  --node-flags F        extra Node/V8 flags for the rules processes, comma-separated (e.g. --max-semi-space-size=64)
  --cpu-prof DIR        write a V8 CPU profile of each rules process into DIR (open in Chrome DevTools)
  --warmup-checkpoint B true: measure once every rules process has written its first checkpoint (default);
                        false: as soon as every series is bound (the start-up included)
  --storm-at S          S seconds into the latency run, one scan of every plant with every meter over its limit (an
                        alert storm: every series raises rule r000 at once, and clears at its next scan); its alerts
                        are reported apart from the steady-state ones (default: no storm)
  --baselines LIST      before the rules latency runs, in the same run and through the same broker, feed and watcher:
                        relay (a bare MQTT.js process applying rule r000 alone: decode, compare, publish, no
                        durability; the floor of the broker path), node-red (Node-RED 4 doing the same in a function
                        node; installed on demand into var/bench-peers), or none (default relay)
  --help                this text`;

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
    'no-checkpoint': { type: 'boolean' },
    'checkpoint-interval': { type: 'string' },
    'max-unacked': { type: 'string' },
    'checkpoint-deltas': { type: 'string' },
    partitions: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'node-flags': { type: 'string' },
    'storm-at': { type: 'string' },
    'warmup-checkpoint': { type: 'string' },
    baselines: { type: 'string' },
    role: { type: 'string' },
    'partition-index': { type: 'string' },
    'rule-count': { type: 'string' },
    dir: { type: 'string' },
    'broker-url': { type: 'string' },
    'influx-url': { type: 'string' },
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
const LATENCY_SECONDS = num(args['latency-seconds'], 10);
const RATE = num(args.rate, 50_000);
const BASELINES = (args.baselines ?? 'relay').split(',').filter((b) => b && b !== 'none').map((b) => {
  if (b !== 'relay' && b !== 'node-red') throw new Error(`--baselines: expected relay, node-red or none, got ${b}`);
  return b;
});
const LATENCY_RULE_COUNTS = args['latency-rules'] === undefined ? RULE_COUNTS : args['latency-rules'].split(',').map((x) => num(x, 10));
const CHECKPOINT = !args['no-checkpoint'];
const CHECKPOINT_INTERVAL_MS = num(args['checkpoint-interval'], 10_000);
const MAX_UNACKED = num(args['max-unacked'], 10_000);
const CHECKPOINT_DELTAS = num(args['checkpoint-deltas'], 8);
const PARTITIONS = Math.max(1, Math.round(num(args.partitions, 1)));
const WARMUP_CHECKPOINT = (args['warmup-checkpoint'] ?? 'true') !== 'false';
const STORM_AT_S = args['storm-at'] === undefined ? undefined : num(args['storm-at'], 0);
const ROOT = path.resolve(import.meta.dirname, '..');
/** Event time between two scans of a meter in the engine runs (windows hold a handful of samples, as with minute data). */
const SCAN_MS = 10_000;

function registry(): PlantRegistry {
  return plantRegistryFrom('bench plants', {
    regions: [{ id: 'bench', name: { en: 'Bench', zh: '基准' } }],
    plants: Array.from({ length: PLANTS }, (_, p) => ({
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

function rules(n: number): RuleConfig[] {
  return parseRules('bench rules', ruleInputs(n));
}

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(0)} MB`;
}

function engineRun(reg: PlantRegistry, ruleCount: number): { readings: number; evaluations: number; seconds: number; bindSeconds: number; perSecond: number; rssBefore: number; rssAfter: number; transitions: number } {
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let transitions = 0;
  const engine = new RulesEngine({ rules: rules(ruleCount), limits: loadLimitsCatalog(), registry: reg, allowedLatenessMs: 0, clock: () => 0, onTransition: () => void transitions++ });
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
  const scan = (step: number): number => {
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
  // The first scan binds every series to its rules (operators and alert slots are made once): timed apart.
  const bindStart = process.hrtime.bigint();
  scan(0);
  const bindSeconds = Number(process.hrtime.bigint() - bindStart) / 1e9;
  let readings = 0;
  const start = process.hrtime.bigint();
  const deadline = Date.now() + ENGINE_SECONDS * 1000;
  for (let step = 1; Date.now() < deadline && step < 1_000_000; step++) readings += scan(step);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const rssAfter = process.memoryUsage().rss;
  const evaluations = readings * ruleCount;
  return { readings, evaluations, seconds, bindSeconds, perSecond: evaluations / seconds, rssBefore, rssAfter, transitions };
}

/** What `after` counted beyond `before`, largest first. */
function diffCounts(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out = Object.entries(after).map(([k, n]) => [k, n - (before[k] ?? 0)] as const).filter(([, n]) => n > 0);
  return Object.fromEntries(out.sort((a, b) => b[1] - a[1]));
}

/** p50, p99 and max of latencies sorted ascending. */
function latencySummary(sorted: number[]): { p50: number; p99: number; max: number } {
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Messages between this process and its children (IPC). */
type ToChild = { type: 'measure'; seconds: number } | { type: 'stats' } | { type: 'stop' };
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
  /** Event-loop delay since the last `measure` (what an alert can wait before it is judged). */
  loopDelayMs: { p99: number; max: number };
  /** Event-loop stalls of 100 ms or more since `measure`: seconds after it, and how long. */
  stalls: { atS: number; ms: number }[];
}
type FromChild =
  | { type: 'ready' }
  | { type: 'fed'; published: number; publishedMeasured: number; measuredSeconds: number; lagMs: number; storm?: { from: number; until: number } }
  | { type: 'latencies'; values: { eventTime: number; latency: number }[]; brokerStalls: { atS: number; ms: number }[] }
  | ({ type: 'stats' } & RulesProcessStats)
  | { type: 'stopped' };

/**
 * The load generator (a child process): every meter of every plant in one batch per plant, plants in turn, at the
 * offered rate, values about 50 mg/L with a little seeded noise (a real analyser's reading is never exactly constant:
 * a constant feed trips every series' flatline rule at the same moment, a storm of 20,000 alerts that once passed
 * for the steady state); once told to measure, every 20 ms one meter steps to 150 mg/L and back at its next scan.
 * With --storm-at, one scan of every plant has every meter at 150 mg/L. A reading's event time is the wall clock when
 * its batch is published.
 */
async function feedRole(reg: PlantRegistry, brokerUrl: string): Promise<void> {
  const publisher = await connectAsync(brokerUrl, { protocolVersion: 4, clientId: `bench-feed-${process.pid}` });
  const messagesPerSecond = RATE / METERS;
  const seqs = new Array<number>(PLANTS).fill(0);
  const spiking = new Set<number>();
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
  const start = Date.now();
  process.on('message', (m: ToChild) => {
    if (m.type === 'measure') {
      measureFrom = Date.now();
      measureUntil = measureFrom + m.seconds * 1000;
      publishedAtMeasure = published;
    } else process.exit(0);
  });
  process.send!({ type: 'ready' } satisfies FromChild);
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
          for (const r of readings) r.value = 150;
          spiking.delete(p);
        } else if (spiking.has(p)) {
          spiking.delete(p); // back to 50: clears
        } else if (now >= measureFrom && now - lastSpike >= 20) {
          lastSpike = now; // one meter steps to 150 mg/L: raises
          spiking.add(p);
          readings[0]!.value = 150;
        }
        void publisher.publishAsync(topics.readings(plant.id, `gw-${plant.id}`), encodeBatch({ v: 1, gateway: `gw-${plant.id}`, plant: plant.id, seq: seqs[p]!++, sentAt: ts, readings }), { qos: 1 });
        published += readings.length;
      }
    }, 5);
  });
  const measuredSeconds = (Date.now() - measureFrom) / 1000;
  process.send!({ type: 'fed', published, publishedMeasured: published - publishedAtMeasure, measuredSeconds, lagMs: Math.round(worstLagMs), ...(storm ? { storm: { from: storm.from, until: storm.until } } : {}) } satisfies FromChild);
  await publisher.endAsync();
}

/** The alert watcher (a child process): latency = arrival of rule r000's alert − event time of its reading. */
async function watchRole(brokerUrl: string): Promise<void> {
  const latencies: { eventTime: number; latency: number }[] = [];
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
    if (packet.retain || !measuring) return;
    const a = JSON.parse(payload.toString('utf8')) as Alert;
    if (a.rule !== 'r000') return;
    const eventTime = a.state === 'cleared' ? a.clearedAt! : a.raisedAt;
    latencies.push({ eventTime, latency: Date.now() - eventTime });
  });
  await watcher.subscribeAsync([topics.alertsFilter(), probeTopic], { qos: 1 });
  const probe = setInterval(() => void watcher.publishAsync(probeTopic, String(Date.now()), { qos: 0 }), 20);
  process.on('message', (m: ToChild) => {
    if (m.type === 'measure') {
      measuring = true;
      measureAt = Date.now();
    } else {
      clearInterval(probe);
      process.send!({ type: 'latencies', values: latencies, brokerStalls } satisfies FromChild, () => void watcher.endAsync().then(() => process.exit(0)));
    }
  });
  process.send!({ type: 'ready' } satisfies FromChild);
}

interface Child {
  proc: ChildProcess;
  next(type: FromChild['type']): Promise<FromChild>;
}

function startChild(role: 'feed' | 'watch' | 'rules' | 'relay', brokerUrl: string, extra: string[] = [], execArgv: string[] = []): Child {
  const proc = fork(path.join(ROOT, 'bin/run-ts.js'), ['bench/rules.ts', '--role', role, '--broker-url', brokerUrl, '--plants', String(PLANTS), '--meters', String(METERS), '--rate', String(RATE), ...extra], { cwd: ROOT, execArgv });
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
 * (all plants when count is 1), with its own client id, checkpoint and journal.
 */
async function rulesRole(reg: PlantRegistry, brokerUrl: string, influxUrl: string, ruleCount: number, index: number, count: number, dir: string): Promise<void> {
  const transitions: Record<string, number> = {};
  const service = await startRules(
    {
      mqtt: { url: brokerUrl, protocolVersion: 4 },
      clientId: 'bench-rules',
      ...(count > 1 ? { partition: { index, count } } : {}),
      influx: { url: influxUrl, database: 'bench', createDatabase: false },
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
    }
    else if (m.type === 'stats') {
      const st = service.stats();
      const cpu = process.cpuUsage();
      const byRule = { ...transitions };
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
        transitions: byRule,
        stalls: stalls.slice(0, 20),
        loopDelayMs: { p99: Math.round(loopDelay.percentile(99) / 1e6), max: Math.round(loopDelay.max / 1e6) },
      } satisfies FromChild);
    } else {
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

/**
 * Where the rules processes write their alert rows: an HTTP server on loopback that takes InfluxDB's v1 `/write` and
 * answers 204 (a rules service runs with an InfluxDB; one that is down makes it keep and retry rows, not the steady
 * state measured here).
 */
async function startAlertSink(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.statusCode = req.url?.startsWith('/write') ? 204 : 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
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
}

/**
 * The part of a latency run that does not depend on what is measured: the alert watcher and the feed (children, so
 * that neither competes with what is measured for its event loop), the warm-up, LATENCY_SECONDS of feed, and the
 * latencies the watcher saw. The processes started are added to `children` for the caller to stop.
 */
async function feedAndWatch(
  brokerUrl: string,
  children: Child[],
  run: FeedAndWatch,
): Promise<{ fed: Extract<FromChild, { type: 'fed' }>; watched: Extract<FromChild, { type: 'latencies' }>; wallSeconds: number }> {
  const watcher = startChild('watch', brokerUrl);
  children.push(watcher);
  await watcher.next('ready');
  const feeder = startChild('feed', brokerUrl, run.feedArgs);
  children.push(feeder);
  await feeder.next('ready');
  await run.warmup();
  await new Promise((r) => setTimeout(r, 2_000));
  await run.before();
  const wallBefore = Date.now();
  for (const c of [watcher, feeder, ...run.measuring]) c.proc.send({ type: 'measure', seconds: LATENCY_SECONDS } satisfies ToChild);
  const fed = (await feeder.next('fed')) as Extract<FromChild, { type: 'fed' }>;
  await new Promise((r) => setTimeout(r, 1_000)); // the last alerts on their way
  await run.after();
  const wallSeconds = (Date.now() - wallBefore) / 1000;
  watcher.proc.send({ type: 'stop' } satisfies ToChild);
  const watched = (await watcher.next('latencies')) as Extract<FromChild, { type: 'latencies' }>;
  return { fed, watched, wallSeconds };
}

/** What the summary prints for each run of the latency phase, baselines first. */
const summary: { what: string; readingsPerSecond: number; cpuCores: number; rss: string; latencyMs: { p50: number; p99: number; max: number }; alerts: number }[] = [];

/**
 * A baseline in the same run, through the same broker, feed and watcher: rule r000 alone (the limit every spike of the
 * feed crosses), applied by a bare MQTT.js process (`relay`: decode, compare, publish; no checkpoints, no journal,
 * no acknowledgement held back: the floor of the broker path) or by Node-RED (`node-red`: mqtt in → json →
 * function → mqtt out, what a Node-RED user would build).
 */
async function baselineRun(kind: 'relay' | 'node-red'): Promise<void> {
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
    const { fed, watched, wallSeconds } = await feedAndWatch(broker.url, children, {
      feedArgs: [],
      measuring,
      warmup: () => new Promise((r) => setTimeout(r, 3_000)),
      before: async () => void (before = processUsage(pid)),
      after: async () => void (after = processUsage(pid)),
    });
    const latencies = watched.values.map((m) => m.latency).sort((a, b) => a - b);
    const latencyMs = latencySummary(latencies);
    const cpuCores = before && after ? Number(((after.cpuSeconds - before.cpuSeconds) / wallSeconds).toFixed(2)) : NaN;
    const readingsPerSecond = Math.round(fed.publishedMeasured / fed.measuredSeconds);
    console.log(JSON.stringify({ baselineRun: { kind, broker: brokerKind, offeredReadingsPerSecond: RATE, achievedReadingsPerSecond: readingsPerSecond, alertsMeasured: latencies.length, latencyMs, cpuCores, rss: after ? mb(after.rssBytes) : 'n/a', brokerStalls: watched.brokerStalls } }));
    summary.push({ what: `baseline: ${kind}, rule r000 only`, readingsPerSecond, cpuCores, rss: after ? mb(after.rssBytes) : 'n/a', latencyMs, alerts: latencies.length });
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
 * acknowledged after checkpoints) in PARTITIONS child processes, and the load generator and the alert watcher in
 * two more.
 */
async function latencyRun(reg: PlantRegistry, ruleCount: number): Promise<void> {
  const { broker, kind: brokerKind } = await startBenchBroker();
  const alertSink = await startAlertSink();
  const dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-bench-rules-'));
  const children: Child[] = [];
  const rulesProcs: Child[] = [];
  try {
    const profile = [...(args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(args['cpu-prof'])] : []), ...(args['node-flags']?.split(',').filter(Boolean) ?? [])];
    for (let p = 0; p < PARTITIONS; p++) {
      const proc = startChild('rules', broker.url, ['--influx-url', alertSink.url, '--rule-count', String(ruleCount), '--partition-index', String(p), '--partitions', String(PARTITIONS), '--dir', dir, ...(CHECKPOINT ? [] : ['--no-checkpoint']), '--checkpoint-interval', String(CHECKPOINT_INTERVAL_MS), '--max-unacked', String(MAX_UNACKED), '--checkpoint-deltas', String(CHECKPOINT_DELTAS)], profile);
      rulesProcs.push(proc);
    }
    for (const r of rulesProcs) await r.next('ready');
    let before: RulesProcessStats[] = [];
    let after: RulesProcessStats[] = [];
    const { fed, watched, wallSeconds } = await feedAndWatch(broker.url, children, {
      feedArgs: STORM_AT_S === undefined ? [] : ['--storm-at', String(STORM_AT_S)],
      measuring: rulesProcs,
      // until every series has been bound to its rules (first readings) and, with checkpoints, every rules process
      // has written its first one (the first full checkpoint of a run grows the heap: a start-up cost, measured apart
      // by --warmup-checkpoint false)
      warmup: async () => {
        const warmupStart = Date.now();
        while (Date.now() - warmupStart < 120_000) {
          const stats = await rulesStats(rulesProcs);
          const series = stats.reduce((n, st) => n + st.series, 0);
          if (series >= PLANTS * METERS && (!CHECKPOINT || !WARMUP_CHECKPOINT || stats.every((st) => st.checkpoints > 0))) break;
          await new Promise((r) => setTimeout(r, 200));
        }
      },
      before: async () => void (before = await rulesStats(rulesProcs)),
      after: async () => void (after = await rulesStats(rulesProcs)),
    });
    const measured = watched.values;
    // the storm's alerts: raised by its scan, and cleared by the scan after it (one plant cycle later)
    const cycleMs = (PLANTS / (RATE / METERS)) * 1000;
    const inStorm = (eventTime: number): boolean => fed.storm !== undefined && eventTime >= fed.storm.from && eventTime <= fed.storm.until + cycleMs + 50;
    const stormLatencies = measured.filter((m) => inStorm(m.eventTime)).map((m) => m.latency).sort((a, b) => a - b);
    // (not Math.max(...): a storm's tens of thousands of arguments approach the engine's limit)
    const stormEnd = measured.reduce((end, m) => (inStorm(m.eventTime) ? Math.max(end, m.eventTime + m.latency) : end), -Infinity);
    // the single-meter spikes raised after the storm's readings but before its last alert was out wait behind it
    const behindStorm = (eventTime: number): boolean => fed.storm !== undefined && !inStorm(eventTime) && eventTime >= fed.storm.from && eventTime <= stormEnd;
    const latencies = measured.filter((m) => !inStorm(m.eventTime) && !behindStorm(m.eventTime)).map((m) => m.latency).sort((a, b) => a - b);
    const behindLatencies = measured.filter((m) => behindStorm(m.eventTime)).map((m) => m.latency).sort((a, b) => a - b);
    const latencyMs = latencySummary(latencies);
    const judged = after.reduce((n, s, i) => n + s.readings - before[i]!.readings, 0);
    const cpuSeconds = after.reduce((n, s, i) => n + s.cpuSeconds - before[i]!.cpuSeconds, 0);
    console.log(
      JSON.stringify({
        latencyRun: {
          broker: brokerKind,
          rulesPerPlant: ruleCount,
          partitions: PARTITIONS,
          checkpoint: CHECKPOINT ? { intervalMs: CHECKPOINT_INTERVAL_MS, maxUnackedMessages: MAX_UNACKED, deltas: CHECKPOINT_DELTAS } : false,
          offeredReadingsPerSecond: RATE,
          achievedReadingsPerSecond: Math.round(fed.publishedMeasured / fed.measuredSeconds),
          feedFellBehindMs: fed.lagMs,
          judgedReadingsPerSecond: Math.round(judged / wallSeconds),
          // readings judged while measuring (and in the second after) over those published while measuring: 1 = kept up
          judgedOfOffered: Number((judged / fed.publishedMeasured).toFixed(3)),
          evaluationsPerSecond: Math.round((judged * ruleCount) / wallSeconds),
          // CPU of the rules processes together (cores busy), and evaluations per CPU-second of them
          rulesCpuCores: Number((cpuSeconds / wallSeconds).toFixed(2)),
          evaluationsPerCpuSecond: Math.round((judged * ruleCount) / cpuSeconds),
          alertsMeasured: latencies.length,
          latencyMs,
          ...(fed.storm
            ? {
                storm: {
                  feedSpanMs: fed.storm.until - fed.storm.from,
                  // r000 transitions of every series (raised, then cleared) and the spikes that fell in its span
                  alertsMeasured: stormLatencies.length,
                  latencyMs: latencySummary(stormLatencies),
                  // from the storm's first reading to the arrival of its last alert at the watcher
                  allDeliveredAfterMs: stormEnd - fed.storm.from,
                  behindIt: { alertsMeasured: behindLatencies.length, latencyMs: latencySummary(behindLatencies) },
                },
              }
            : {}),
          brokerStalls: watched.brokerStalls,
          perProcess: after.map((s, i) => ({
            judgedReadingsPerSecond: Math.round((s.readings - before[i]!.readings) / wallSeconds),
            cpuCores: Number(((s.cpuSeconds - before[i]!.cpuSeconds) / wallSeconds).toFixed(2)),
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
    summary.push({
      what: `cleanstream rules: ${ruleCount} rules/plant, ${PARTITIONS} process${PARTITIONS > 1 ? 'es' : ''}`,
      readingsPerSecond: Math.round(judged / wallSeconds),
      cpuCores: Number((cpuSeconds / wallSeconds).toFixed(2)),
      rss: after.map((st) => mb(st.rss)).join(' + '),
      latencyMs,
      alerts: latencies.length,
    });
  } finally {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill();
    // stopped, not killed: a CPU profile is written when the process exits
    await Promise.all(
      rulesProcs.map(async (r) => {
        if (r.proc.exitCode !== null) return;
        const exited = new Promise((res) => r.proc.once('exit', res));
        r.proc.send({ type: 'stop' } satisfies ToChild);
        await Promise.race([exited, new Promise((res) => setTimeout(res, 30_000))]);
        if (r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill();
      }),
    );
    await broker.stop();
    await alertSink.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const reg = registry();
// a child goes with its parent, whatever becomes of it
if (args.role) process.on('disconnect', () => process.exit(0));
if (args.role === 'feed') await feedRole(reg, args['broker-url']!);
else if (args.role === 'watch') await watchRole(args['broker-url']!);
else if (args.role === 'relay') await relayRole(args['broker-url']!);
else if (args.role === 'rules') await rulesRole(reg, args['broker-url']!, args['influx-url']!, num(args['rule-count'], 10), num(args['partition-index'], 0), PARTITIONS, args.dir!);
else {
  for (const n of RULE_COUNTS) {
    const r = engineRun(reg, n);
    console.log(
      JSON.stringify({
        engineRun: {
          plants: PLANTS,
          series: PLANTS * METERS,
          rulesPerPlant: n,
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
    for (const n of LATENCY_RULE_COUNTS) await latencyRun(reg, n);
    if (summary.length) {
      // side by side: what the rules engine, its checkpoints and its acknowledgement discipline cost over the bare broker path
      console.log(`\nalert latency, ${RATE} readings/s offered for ${LATENCY_SECONDS} s each:`);
      console.log(`${'run'.padEnd(48)} ${'readings/s'.padStart(9)} ${'CPU'.padStart(6)} ${'RSS'.padStart(16)} ${'alerts'.padStart(7)}  p50 / p99 / max ms`);
      console.log('(readings/s: judged by the rules processes; for a baseline, published by the feed: it reports none)');
      for (const r of summary) console.log(`${r.what.padEnd(48)} ${String(r.readingsPerSecond).padStart(9)} ${r.cpuCores.toFixed(2).padStart(6)} ${r.rss.padStart(16)} ${String(r.alerts).padStart(7)}  ${r.latencyMs.p50} / ${r.latencyMs.p99} / ${r.latencyMs.max}`);
    }
  }
}
