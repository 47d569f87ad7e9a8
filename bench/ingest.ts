/**
 * Ingest benchmark, a fair race with its peer: the raw InfluxDB ceiling, then cleanstream ingest and Node-RED fed the
 * same gateway-style batches, each stepped through the same offered rates (to see where each saturates), then the
 * same with InfluxDB killed (SIGKILL, 2 s down) mid-run. Both peers run on the same node/V8 flags, and both are
 * measured to the same finish line: accepted by InfluxDB (its /debug/vars pointsWrittenOK), loss counted from what
 * InfluxDB holds; ingest's spool is reported apart, never as done. Everything on this machine over loopback, every
 * process started and stopped here:
 *
 *   load generators (child processes) ──QoS 1──▶ aedes (child; or Mosquitto) ──▶ ingest (child) or Node-RED (child) ──▶ influxd
 *
 * Prints figures and markdown rows for the READMEs; it is not a test. Run: node bin/run-ts.js bench/ingest.ts [--help]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { connectAsync } from 'mqtt';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startInfluxd, type RunningInflux } from '../test/harness/influxd.ts';
import { startMosquitto } from '../test/harness/mosquitto.ts';
import { freePort } from '../test/harness/ports.ts';
import type { IngestConfigInput } from '../ingest/config.ts';
import { linesOf, type FeedShape } from './peers/feed.ts';
import type { GeneratorReport, GeneratorTask } from './peers/load-generator.ts';
import { ensureNodeRed, nodeRedBatchFlow, nodeRedFlow, startNodeRedWithFlags } from './peers/node-red.ts';
import { processUsage } from './peers/process-usage.ts';

const HELP = `usage: node bin/run-ts.js bench/ingest.ts [options]

Load generators (separate processes) publish gateway-style batches (QoS 1) through a broker (aedes in its own process,
as \`cleanstream broker\` runs it, or Debian's Mosquitto) to cleanstream ingest and to Node-RED (installed on demand
into var/bench-peers), one after the other, each writing to the same real InfluxDB 1.x. In order:
  1. the raw InfluxDB ceiling (prebuilt line protocol, 2 writers, batches of --max-lines lines);
  2. steady runs: each peer at each rate of --rates, --duration s each, a fresh peer and database per run;
  3. the InfluxDB restart run: each peer at --restart-rate with InfluxDB killed (SIGKILL) and restarted mid-run.

The finish line is the same for both peers: accepted by InfluxDB (/debug/vars pointsWrittenOK, sampled every
100 ms, also sampled just before the bench kills InfluxDB). Throughput is what InfluxDB accepted per second from the
start of publishing until the last accepted reading; latency is publish → accepted, matched by count (both peers
write in arrival order); loss is what the generators published minus what InfluxDB holds at the end (a count
query; every reading is a distinct point). Readings ingest put in its disk spool are reported in their own column,
and count as done only once replayed into InfluxDB. After an outage the bench waits (at most --store-wait s,
progress printed) for ingest's spool to drain and prints the drain rate and RSS during the drain.

Node-RED 4.1.8 with node-red-contrib-influxdb 0.7.0 runs at its best by default: mqtt in (parsed JSON) → function
batching --max-lines points or --batch-ms → influxdb batch (one request per batch); ingest gets the same batch size
and delay. Both run with the same --node-flags (printed in the header and in every row).

At the end: one table per kind of run, each peer's saturation (the highest offered rate it kept up with), and
markdown rows ready to paste into ingest/README.md and bench/README.md, one per run per peer (raw ceiling included),
each with its date, offered rate, finish line, flags and load average at its start.

The default full run (raw ceiling, both peers at 5 rates for 20 s, the 2-s InfluxDB kill) should take 8-10 minutes
(estimated from short runs; the bench prints how long it took).
The 5-minute outage scenario (RSS flat while everything goes to the spool, then zero loss after the drain):
  node bin/run-ts.js bench/ingest.ts --peers cleanstream --duration 0 --raw-seconds 0 --restart-at 5 \\
    --restart-down 300 --restart-duration 330 --store-wait 600 --rss-series --rss-window 15

options:
  --rates LIST         offered readings/s of the steady runs, comma-separated; every peer runs every rate
                       (default 50000,100000,150000,200000,250000)
  --duration S         seconds of publishing in each steady run; 0 skips them (default 20)
  --restart-rate R     offered readings/s in the InfluxDB restart run (default 150000)
  --rate R             shorthand for --rates R --restart-rate R
  --per-message N      readings per MQTT message (default 200)
  --plants N           plants of 1000 meters each: N x 1000 series (default 10)
  --generators N       load generator processes (default 2); the rows give the rate they reached beside the one asked
  --peers LIST         which to run: cleanstream,node-red (default both)
  --broker B           aedes (the embedded broker, \`cleanstream broker\`, as its own process) or mosquitto (default aedes)
  --restart-duration S seconds of publishing in the InfluxDB restart run; 0 skips it (default 20)
  --restart-at S       when InfluxDB is killed in that run (default 5)
  --restart-down S     how long it stays down (default 2)
  --raw-seconds S      length of the raw ceiling run; 0 skips it (default 10)
  --max-lines N        points per write for both peers: ingest batch.maxLines, Node-RED's batch (default 5000)
  --batch-ms MS        a batch that is not full is written this long after it started, both peers: ingest
                       batch.maxDelayMs, Node-RED's batch timer (default 1000, ingest's default)
  --node-red-flow F    batch (the default, above) or per-message (mqtt in → json → function → influxdb out: one
                       request per MQTT message, the flow of the earlier figures)
  --node-flags="F …"   node/V8 flags for BOTH peers' processes (default --max-semi-space-size=4, recommended for
                       ingest's deployment in ingest/README.md; --node-flags= runs both on plain node). Node-RED's
                       own documentation suggests node flags only to cap memory on small devices
                       (--max-old-space-size, as its node-red-pi launcher passes them); none for throughput
  --concurrency N      ingest write.concurrency (default: ingest's default)
  --max-unacked N      ingest batch.maxUnackedMessages (default: ingest's default)
  --high-water N       ingest batch.highWaterLines (default: ingest's default)
  --gzip L             ingest write gzip level, 0 = off (default: ingest's default)
  --runtime R          how ingest runs: bundle (esbuild bundle, plain node, as deployed) or tsx (default bundle)
  --rss-series         print each peer's RSS over each run (min/max/last per window; ingest: heap and external too)
  --rss-window S       seconds per row of that series (default 5)
  --store-wait S       after publishing ends, how long to wait (at most) for ingest's spool to drain before counting
                       what InfluxDB holds; progress is printed every 10 s (default 120; a 5-minute outage at
                       150,000 readings/s leaves ~45 million readings to replay: give it 600)
  --help               this text`;

const { values: args } = parseArgs({
  options: {
    rates: { type: 'string' },
    duration: { type: 'string' },
    'restart-rate': { type: 'string' },
    rate: { type: 'string' },
    'per-message': { type: 'string' },
    plants: { type: 'string' },
    generators: { type: 'string' },
    peers: { type: 'string' },
    broker: { type: 'string' },
    'restart-duration': { type: 'string' },
    'restart-at': { type: 'string' },
    'restart-down': { type: 'string' },
    'raw-seconds': { type: 'string' },
    concurrency: { type: 'string' },
    'max-lines': { type: 'string' },
    'batch-ms': { type: 'string' },
    'node-red-flow': { type: 'string' },
    'max-unacked': { type: 'string' },
    'high-water': { type: 'string' },
    gzip: { type: 'string' },
    runtime: { type: 'string' },
    'node-flags': { type: 'string' },
    'rss-window': { type: 'string' },
    'rss-series': { type: 'boolean' },
    'store-wait': { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
type NumericArg = Exclude<keyof typeof args, 'help' | 'rates' | 'peers' | 'broker' | 'runtime' | 'node-flags' | 'node-red-flow' | 'rss-series'>;
function num(name: NumericArg, fallback: number): number;
function num(name: NumericArg, fallback: undefined): number | undefined;
function num(name: NumericArg, fallback: number | undefined): number | undefined {
  const text = args[name];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) {
    console.error(`--${name} must be a non-negative number, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}
const SINGLE_RATE = num('rate', undefined);
const RATES = (args.rates ?? (SINGLE_RATE === undefined ? '50000,100000,150000,200000,250000' : String(SINGLE_RATE))).split(',').map((text) => {
  const value = Number(text.trim());
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`--rates must be positive numbers separated by commas, got ${JSON.stringify(args.rates)}`);
    process.exit(2);
  }
  return value;
});
const DURATION = num('duration', 20);
const RESTART_RATE = num('restart-rate', SINGLE_RATE ?? 150_000);
const SHAPE: FeedShape = { perMessage: Math.max(1, Math.floor(num('per-message', 200))), plants: Math.max(1, Math.floor(num('plants', 10))) };
const GENERATORS = Math.max(1, Math.floor(num('generators', 2)));
const PEERS = (args.peers ?? 'cleanstream,node-red').split(',').map((p) => p.trim());
const RESTART_DURATION = num('restart-duration', 20);
const RESTART_AT = num('restart-at', 5);
const RESTART_DOWN = num('restart-down', 2);
const RAW_SECONDS = num('raw-seconds', 10);
const CONCURRENCY = num('concurrency', undefined);
const MAX_LINES = Math.max(1, Math.floor(num('max-lines', 5000)));
const BATCH_MS = Math.max(1, Math.floor(num('batch-ms', 1000)));
const NODE_RED_FLOW = args['node-red-flow'] ?? 'batch';
const MAX_UNACKED = num('max-unacked', undefined);
const HIGH_WATER = num('high-water', undefined);
const GZIP = num('gzip', undefined);
/** The young-generation cap ingest should run with (see ingest/README.md, Performance); --node-flags= runs plain node. */
const RECOMMENDED_NODE_FLAGS = '--max-semi-space-size=4';
/** Given to both peers alike. */
const NODE_FLAGS = (args['node-flags'] ?? RECOMMENDED_NODE_FLAGS).split(/\s+/).filter(Boolean);
const RSS_WINDOW = Math.max(1, num('rss-window', 5));
const RSS_SERIES = args['rss-series'] ?? false;
const STORE_WAIT = num('store-wait', 120);
const RUNTIME = args.runtime ?? 'bundle';
const BROKER = args.broker ?? 'aedes';
if (BROKER !== 'aedes' && BROKER !== 'mosquitto') throw new Error(`--broker must be aedes or mosquitto, got ${BROKER}`);
for (const p of PEERS) if (p !== 'cleanstream' && p !== 'node-red') throw new Error(`--peers: unknown peer ${p}`);
if (RUNTIME !== 'bundle' && RUNTIME !== 'tsx') throw new Error(`--runtime must be bundle or tsx, got ${RUNTIME}`);
if (NODE_RED_FLOW !== 'batch' && NODE_RED_FLOW !== 'per-message') throw new Error(`--node-red-flow must be batch or per-message, got ${NODE_RED_FLOW}`);

const REPO = fileURLToPath(new URL('../', import.meta.url));
const SUBSCRIPTION = 'cleanstream/v1/readings/+/+';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const now = (): number => performance.timeOrigin + performance.now();
const log = (line: string): void => console.error(`[bench] ${line}`);

// ---------------------------------------------------------------------------------------------------------------
// Measuring

interface ProcSample {
  t: number;
  rssMb: number;
  cpuSeconds: number;
  /** From the process itself (ingest only), MB. */
  memory?: { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number } | undefined;
}

/** RSS and CPU (user + system) of a process now (bench/peers/process-usage.ts). */
function procSample(pid: number): ProcSample | undefined {
  const u = processUsage(pid);
  return u && { t: now(), rssMb: u.rssBytes / 1048576, cpuSeconds: u.cpuSeconds };
}

async function ingestMetrics(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^cleanstream_ingest_([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    // memory_bytes{kind="heap_used"} → memory_heap_used; other labels are summed over.
    const kind = match[1] === 'memory_bytes' ? /kind="([a-z_]+)"/.exec(match[2] ?? '')?.[1] : undefined;
    const key = kind ? `memory_${kind}` : match[1]!;
    out[key] = (out[key] ?? 0) + Number(match[3]);
  }
  return out;
}

/** Points InfluxDB has accepted over HTTP since it started (`/debug/vars`, httpd.pointsWrittenOK). */
async function influxPointsWritten(influx: RunningInflux): Promise<number | undefined> {
  try {
    const vars = (await (await fetch(`${influx.url}/debug/vars`)).json()) as Record<string, { name?: string; values?: Record<string, number> }>;
    let total = 0;
    for (const entry of Object.values(vars)) if (entry?.name === 'httpd') total += entry.values?.pointsWrittenOK ?? 0;
    return total;
  } catch {
    return undefined;
  }
}

/** A counter that survives InfluxDB restarts (its own counters start again from 0). */
class MonotonicCounter {
  private offset = 0;
  private last = 0;
  update(raw: number): number {
    if (raw < this.last) this.offset += this.last;
    this.last = raw;
    return this.offset + raw;
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * Latency by curve shift: for each level c (every 1,000 readings), the first time the published total reached c and
 * the first time the downstream count did. The peers acknowledge or write in arrival order, so this is publish →
 * done for the reading that brought the count to c. Resolution: the 100 ms sampling.
 */
function latencies(published: { t: number; n: number }[], done: { t: number; n: number }[], total: number): number[] {
  const out: number[] = [];
  let p = 0;
  let d = 0;
  for (let c = 1000; c <= total; c += 1000) {
    while (p < published.length && published[p]!.n < c) p++;
    while (d < done.length && done[d]!.n < c) d++;
    if (p >= published.length || d >= done.length) break;
    out.push(Math.max(0, done[d]!.t - published[p]!.t));
  }
  return out.sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------------------------
// The raw ceiling

async function rawCeiling(influx: RunningInflux): Promise<number | undefined> {
  if (RAW_SECONDS === 0) return undefined;
  const db = 'bench_raw';
  await influx.exec(`CREATE DATABASE ${db}`);
  const perBatch = Math.max(1, Math.floor(MAX_LINES / SHAPE.perMessage));
  const batches: string[] = [];
  // Prebuilt, distinct batches for the whole run at up to 450k points/s: the loop only posts.
  const needed = Math.ceil((RAW_SECONDS * 450_000) / (perBatch * SHAPE.perMessage));
  for (let b = 0; b < needed; b++) {
    const parts: string[] = [];
    for (let k = 0; k < perBatch; k++) parts.push(linesOf(SHAPE, b * perBatch + k));
    batches.push(parts.join('\n'));
  }
  let next = 0;
  let points = 0;
  const started = performance.now();
  const deadline = started + RAW_SECONDS * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline && next < batches.length) {
      const body = batches[next++]!;
      const res = await fetch(`${influx.url}/write?db=${db}&precision=ms`, { method: 'POST', body });
      if (res.status !== 204) throw new Error(`raw write answered ${res.status}: ${await res.text()}`);
      points += perBatch * SHAPE.perMessage;
    }
  };
  await Promise.all([worker(), worker()]);
  await influx.exec(`DROP DATABASE ${db}`);
  return points / ((performance.now() - started) / 1000);
}

// ---------------------------------------------------------------------------------------------------------------
// Peers

interface Peer {
  pid: number;
  /** Samples the peer's own metrics (ingest's /metrics); spool() and memory() answer as of the last sample. */
  sample?(): Promise<void>;
  /** Ingest's spool: batches waiting, readings spooled and readings replayed so far. */
  spool?(): { batches: number; spooled: number; replayed: number } | undefined;
  /** Messages the peer dead-lettered so far (ingest's cleanstream_ingest_rejected_messages_total, all reasons). */
  deadLettered?(): number | undefined;
  /** The process's own memory breakdown (ingest's cleanstream_ingest_memory_bytes). */
  memory?(): { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number } | undefined;
  /** How the process ended, if it ended before the bench stopped it. */
  exited(): string | undefined;
  stop(): Promise<void>;
}

/** "exit code 1" / "killed by SIGABRT" for a child that ended, undefined while it runs. */
function endOf(child: ChildProcess): string | undefined {
  if (child.signalCode !== null) return `killed by ${child.signalCode}`;
  return child.exitCode === null ? undefined : `exit code ${child.exitCode}`;
}

let bundledIngest: string | undefined;
/** ingest/main.ts as one ES module for plain node (how it would be deployed), dependencies left in node_modules. */
async function ingestEntry(): Promise<string[]> {
  if (RUNTIME === 'tsx') return [path.join(REPO, 'bin/run-ts.js'), path.join(REPO, 'ingest/main.ts')];
  if (!bundledIngest) {
    // esbuild comes with tsx (a dependency); imported only here.
    const esbuild = await import('esbuild');
    bundledIngest = path.join(REPO, 'var/bench-build/ingest.mjs');
    await esbuild.build({ entryPoints: [path.join(REPO, 'ingest/main.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile: bundledIngest, logLevel: 'warning' });
  }
  return [bundledIngest];
}

async function startCleanstream(work: string, brokerUrl: string, influx: RunningInflux, database: string): Promise<Peer> {
  const httpPort = await freePort();
  const config: IngestConfigInput = {
    mqtt: { url: brokerUrl, protocolVersion: 4 },
    clientId: `bench-ingest-${database}`,
    influx: { url: influx.url, database },
    // The feed's scans are from 2020 (bench/peers/feed.ts): older than ingest takes unless told it is a backfill.
    timestamps: { backfill: true },
    batch: {
      maxLines: MAX_LINES,
      maxDelayMs: BATCH_MS,
      ...(MAX_UNACKED === undefined ? {} : { maxUnackedMessages: MAX_UNACKED }),
      ...(HIGH_WATER === undefined ? {} : { highWaterLines: HIGH_WATER }),
    },
    write: { ...(GZIP === undefined ? {} : { gzipLevel: Math.floor(GZIP) }), ...(CONCURRENCY === undefined ? {} : { concurrency: CONCURRENCY }) },
    retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 500, pauseMs: 500, requestTimeoutMs: 10_000 },
    spool: { dir: path.join(work, `spool-${database}`), maxBytes: 8 * 1024 ** 3, segmentBytes: 32 * 1024 ** 2 },
    http: { port: httpPort },
  };
  const configFile = path.join(work, `${database}.yaml`);
  writeFileSync(configFile, JSON.stringify(config));
  const child: ChildProcess = spawn(process.execPath, [...NODE_FLAGS, ...(await ingestEntry()), '--config', configFile, '--stats-interval', '0'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  for (let i = 0; ; i++) {
    if ((await fetch(`${httpUrl}/readyz`).catch(() => undefined))?.status === 200) break;
    if (i > 300 || child.exitCode !== null) throw new Error('ingest did not become ready');
    await sleep(50);
  }
  let last: Record<string, number> | undefined;
  let stopping = false;
  return {
    pid: child.pid!,
    async sample() {
      last = (await ingestMetrics(httpUrl).catch(() => undefined)) ?? last;
    },
    spool() {
      return last ? { batches: last.spool_batches ?? 0, spooled: last.spooled_readings_total ?? 0, replayed: last.replayed_readings_total ?? 0 } : undefined;
    },
    deadLettered: () => last?.rejected_messages_total,
    exited: () => (stopping ? undefined : endOf(child)),
    memory() {
      if (!last || last.memory_heap_used === undefined) return undefined;
      const mb = (v: number | undefined): number => (v ?? 0) / 1024 ** 2;
      return { heapUsed: mb(last.memory_heap_used), heapTotal: mb(last.memory_heap_total), external: mb(last.memory_external), arrayBuffers: mb(last.memory_array_buffers) };
    },
    async stop() {
      stopping = true;
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
      // This run's ingest never comes back: end its persistent session, or the broker keeps queueing the next runs'
      // feed for it (aedes grew to ~900 MB that way during the Node-RED run; it now refuses publishes past its bound).
      const session = await connectAsync(brokerUrl, { clientId: config.clientId, clean: true, protocolVersion: 4, reconnectPeriod: 0 }).catch(() => undefined);
      await session?.endAsync();
    },
  };
}

async function startNodeRedPeer(work: string, brokerPort: number, influx: RunningInflux, database: string): Promise<Peer> {
  const redJs = ensureNodeRed(REPO, log);
  const connections = { brokerPort, influxPort: influx.port, database, subscription: SUBSCRIPTION };
  const flow = NODE_RED_FLOW === 'batch' ? nodeRedBatchFlow({ ...connections, batchPoints: MAX_LINES, batchMs: BATCH_MS }) : nodeRedFlow(connections);
  const red = await startNodeRedWithFlags(redJs, path.join(work, `node-red-${database}`), await freePort(), flow, { nodeFlags: NODE_FLAGS });
  let stopping = false;
  return {
    pid: red.pid,
    exited: () => (stopping ? undefined : endOf(red.process)),
    stop: () => ((stopping = true), red.stop()),
  };
}

/** The embedded broker as deployed (`cleanstream broker`), in its own process so that its CPU is not the bench's. */
async function startAedesProcess(): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(REPO, 'bin/cleanstream.js'), 'broker', '--host', '127.0.0.1', '--port', String(port)], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connectTcp(port, '127.0.0.1', () => (socket.end(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (up) break;
    if (i > 300 || child.exitCode !== null) throw new Error('the aedes broker did not start');
    await sleep(50);
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// One run

interface RunResult {
  peer: string;
  /** 'steady' or 'restart' (InfluxDB killed mid-run). */
  kind: 'steady' | 'restart';
  /** The rate the generators were asked for, readings/s. */
  offered: number;
  /** The rate they reached: readings published / the seconds of the publishing window. */
  publishedPerSecond: number;
  published: number;
  /** Readings accepted by InfluxDB per second, from the start of publishing until the last accepted reading. */
  acceptedPerSecond: number;
  /** Readings ingest wrote to its disk spool in the run (replayed later, counted in acceptedPerSecond only then). */
  spooled: number | undefined;
  p50: number;
  p99: number;
  peakRssMb: number;
  cpuPercent: number;
  /** What InfluxDB holds at the end (count query). */
  stored: number;
  /** Memory breakdown at the sample with the peak RSS (ingest only). */
  atPeak: ProcSample | undefined;
  /** After an outage (ingest only): from InfluxDB's return until the spool was empty. */
  drain: DrainResult | undefined;
  /** RSS over the run, one row per RSS_WINDOW seconds: min / max / last. */
  rssSeries: { from: number; min: number; max: number; last: number; heapUsed?: number; external?: number }[];
  /** Date and time (UTC) and /proc/loadavg (1, 5, 15 min) when the run started. */
  startedAt: string;
  loadAtStart: string;
  /** Messages the peer dead-lettered (ingest only): a loss with its reason on the dead-letter topic. */
  deadLettered: number | undefined;
  /** The peer process ended by itself during the run (a crash, e.g. out of memory). */
  exited: string | undefined;
}

interface DrainResult {
  /** Whether the spool was empty before --store-wait ran out. */
  drained: boolean;
  seconds: number;
  /** Spooled readings written to InfluxDB per second over the drain (live data spooled behind the backlog included). */
  readingsPerSecond: number;
  /** Batches still in the spool when the bench stopped waiting. */
  batchesLeft: number;
  rssMinMb: number;
  rssMaxMb: number;
}

type DoneReport = Extract<GeneratorReport, { kind: 'done' }>;

async function startGenerators(brokerUrl: string, rate: number, seconds: number): Promise<{ go(): void; done: Promise<DoneReport[]>; published: () => number; curve: { t: number; n: number }[]; kill(): void }> {
  const latest = new Array<number>(GENERATORS).fill(0);
  const curve: { t: number; n: number }[] = [];
  const children: ChildProcess[] = [];
  const ready: Promise<void>[] = [];
  const finished: Promise<DoneReport>[] = [];
  for (let g = 0; g < GENERATORS; g++) {
    const task: GeneratorTask = { ...SHAPE, url: brokerUrl, index: g, of: GENERATORS, rate, seconds, window: 1000 };
    const child = spawn(process.execPath, [path.join(REPO, 'bin/run-ts.js'), path.join(REPO, 'bench/peers/load-generator.ts'), JSON.stringify(task)], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    children.push(child);
    ready.push(new Promise((resolve, reject) => {
      child.on('message', (report: GeneratorReport) => {
        if (report.kind === 'ready') resolve();
        else {
          latest[g] = report.publishedReadings;
          curve.push({ t: report.t, n: latest.reduce((a, b) => a + b, 0) });
        }
      });
      child.once('exit', (code) => reject(new Error(`load generator ${g} exited with ${code}`)));
    }));
    finished.push(new Promise((resolve, reject) => {
      child.on('message', (report: GeneratorReport) => report.kind === 'done' && resolve(report));
      child.once('exit', (code) => reject(new Error(`load generator ${g} exited with ${code} before it was done`)));
    }));
  }
  await Promise.all(ready);
  return {
    go: () => children.forEach((c) => c.send('go')),
    done: Promise.all(finished),
    published: () => latest.reduce((a, b) => a + b, 0),
    curve,
    kill: () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')),
  };
}

/**
 * Waits (at most --store-wait after publishing ended) until ingest's spool is empty, printing progress every 10 s.
 * The drain is timed from InfluxDB's return (or from the start of the run when there was no outage).
 */
async function waitForDrain(peerName: string, spoolCurve: { t: number; batches: number; replayed: number }[], proc: ProcSample[], from: number, total: number): Promise<DrainResult> {
  const deadline = now() + STORE_WAIT * 1000;
  let lastPrint = now();
  const startSample = spoolCurve.find((c) => c.t >= from) ?? spoolCurve.at(-1)!;
  const emptyAfterStart = (): { t: number; batches: number; replayed: number } | undefined => spoolCurve.find((c) => c.t > startSample.t && c.batches === 0);
  while (!emptyAfterStart() && now() < deadline) {
    await sleep(250);
    if (now() - lastPrint >= 10_000) {
      lastPrint = now();
      const c = spoolCurve.at(-1)!;
      const seconds = (c.t - startSample.t) / 1000;
      const rss = proc.at(-1)?.rssMb ?? Number.NaN;
      log(`${peerName}: draining the spool: ${k(c.batches)} batches left, ${k(c.replayed - startSample.replayed)} readings replayed in ${seconds.toFixed(0)} s (${k((c.replayed - startSample.replayed) / Math.max(seconds, 0.001))} readings/s), RSS ${mb(rss)} MB, ${k(total)} published`);
    }
  }
  const end = emptyAfterStart() ?? spoolCurve.at(-1)!;
  const seconds = Math.max(0.001, (end.t - startSample.t) / 1000);
  const during = proc.filter((p) => p.t >= startSample.t && p.t <= end.t).map((p) => p.rssMb);
  const result: DrainResult = {
    drained: end.batches === 0,
    seconds,
    readingsPerSecond: (end.replayed - startSample.replayed) / seconds,
    batchesLeft: end.batches,
    rssMinMb: during.length ? Math.min(...during) : Number.NaN,
    rssMaxMb: during.length ? Math.max(...during) : Number.NaN,
  };
  log(`${peerName}: ${result.drained ? 'spool drained' : `gave up waiting with ${k(result.batchesLeft)} batches in the spool`} after ${seconds.toFixed(1)} s: ${k(result.readingsPerSecond)} readings/s replayed, RSS ${mb(result.rssMinMb)}-${mb(result.rssMaxMb)} MB`);
  return result;
}

const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function run(peerName: string, work: string, influx: RunningInflux, broker: { url: string; port: number }, rate: number, seconds: number, outage?: { at: number; down: number }): Promise<RunResult> {
  const kind = outage ? 'restart' : 'steady';
  const database = `bench_${peerName.replace('-', '_')}_${kind}_${rate}`;
  await influx.exec(`CREATE DATABASE ${database}`);
  const peer = peerName === 'cleanstream' ? await startCleanstream(work, broker.url, influx, database) : await startNodeRedPeer(work, broker.port, influx, database);
  const generators = await startGenerators(broker.url, rate, seconds);
  const accepted = new MonotonicCounter();
  const base = (await influxPointsWritten(influx)) ?? 0;
  const acceptedCurve: { t: number; n: number }[] = [];
  // One sample at a time: two answers handled out of order would look like an InfluxDB restart to the counter.
  let samplingChain: Promise<void> = Promise.resolve();
  const sampleAccepted = (): Promise<void> =>
    (samplingChain = samplingChain.then(async () => {
      const t = now();
      const raw = await influxPointsWritten(influx);
      if (raw !== undefined) acceptedCurve.push({ t, n: accepted.update(raw) - base });
    }));
  const spoolCurve: { t: number; batches: number; spooled: number; replayed: number }[] = [];
  const proc: ProcSample[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const t = now();
      await sampleAccepted();
      await peer.sample?.();
      const spool = peer.spool?.();
      if (spool) spoolCurve.push({ t, ...spool });
      const p = procSample(peer.pid);
      if (p) proc.push({ ...p, memory: peer.memory?.() });
      await sleep(100);
    }
  })();
  const startedAt = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const loadAtStart = loadAverage();
  try {
    const started = now();
    const cpuAtStart = procSample(peer.pid)?.cpuSeconds ?? 0;
    generators.go();
    let outageDone: Promise<void> | undefined;
    let influxBackAt: number | undefined;
    if (outage) {
      outageDone = (async () => {
        await sleep(outage.at * 1000);
        log(`${peerName}: killing InfluxDB for ${outage.down} s`);
        // InfluxDB's counters start again from 0 when it returns: what it accepted until now is counted first.
        await sampleAccepted();
        await influx.kill();
        await sleep(outage.down * 1000);
        await influx.restart();
        influxBackAt = now();
        log(`${peerName}: InfluxDB is back`);
      })();
    }
    const reports = await generators.done;
    await outageDone;
    const total = reports.reduce((a, r) => a + r.publishedReadings, 0);
    const publishEnd = Math.max(...reports.map((r) => r.t));
    log(`${peerName}: published ${total.toLocaleString('en')} readings in ${((publishEnd - started) / 1000).toFixed(1)} s; waiting for InfluxDB to accept them`);
    // Ingest's spool may still be replaying: wait for it to drain (bounded, progress printed).
    const drain = peer.spool && spoolCurve.some((c) => c.batches > 0) ? await waitForDrain(peerName, spoolCurve, proc, influxBackAt ?? started, total) : undefined;
    // Until InfluxDB accepted everything, or nothing moved for 10 s (a peer that lost data), at most 180 s.
    const deadline = now() + 180_000;
    let lastN = -1;
    let lastMove = now();
    while (now() < deadline) {
      const n = acceptedCurve.at(-1)?.n ?? 0;
      if (n >= total) break;
      if (n !== lastN) [lastN, lastMove] = [n, now()];
      else if (now() - lastMove > 10_000) break;
      await sleep(200);
    }
    const finalN = Math.min(total, acceptedCurve.at(-1)?.n ?? 0);
    const doneAt = acceptedCurve.find((s) => s.n >= finalN)?.t ?? now();
    const cpuAtEnd = proc.filter((p) => p.t <= doneAt + 100).at(-1)?.cpuSeconds ?? cpuAtStart;
    let stored = 0;
    // InfluxDB answers a query with every point it accepted, and acceptance has stopped moving: a few polls are
    // enough. A count over tens of millions of points takes InfluxDB seconds of CPU: none while the spool is not empty.
    const storeDeadline = now() + (drain && !drain.drained ? 0 : 6000);
    do {
      const rows = await influx.query<{ count: number }>('SELECT count(cod) FROM water', database).catch(() => []);
      stored = rows[0]?.count ?? 0;
      if (stored >= total) break;
      await sleep(2000);
    } while (now() < storeDeadline);
    log(`${peerName}: InfluxDB holds ${k(stored)} of ${k(total)} published readings`);
    // Points InfluxDB accepted between the last sample of its counter and its SIGKILL are held but were never counted
    // (nor timed): the throughput and latency rows leave them out, the loss row does not.
    if (stored > finalN) log(`${peerName}: ${k(stored - finalN)} of them accepted but not counted by /debug/vars (accepted just before InfluxDB was killed): not in readings/s nor latency`);
    const lat = latencies(generators.curve, acceptedCurve, finalN);
    const elapsed = (doneAt - started) / 1000;
    const peak = proc.reduce<ProcSample | undefined>((best, p) => (!best || p.rssMb > best.rssMb ? p : best), undefined);
    const rssSeries: RunResult['rssSeries'] = [];
    for (const p of proc) {
      const from = Math.floor((p.t - started) / 1000 / RSS_WINDOW) * RSS_WINDOW;
      const row = rssSeries.at(-1);
      if (row && row.from === from) {
        row.min = Math.min(row.min, p.rssMb);
        row.max = Math.max(row.max, p.rssMb);
        row.last = p.rssMb;
        if (p.memory) [row.heapUsed, row.external] = [p.memory.heapUsed, p.memory.external];
      } else rssSeries.push({ from, min: p.rssMb, max: p.rssMb, last: p.rssMb, heapUsed: p.memory?.heapUsed, external: p.memory?.external });
    }
    const spoolAtStart = spoolCurve[0]?.spooled ?? 0;
    return {
      peer: peerName,
      kind,
      offered: rate,
      // Within the publishing window: what the generators handed to the broker (its PUBACKs may come later).
      publishedPerSecond: total / seconds,
      published: total,
      acceptedPerSecond: finalN / elapsed,
      spooled: peer.spool ? (spoolCurve.at(-1)?.spooled ?? spoolAtStart) - spoolAtStart : undefined,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      peakRssMb: Math.max(0, ...proc.map((p) => p.rssMb)),
      cpuPercent: ((cpuAtEnd - cpuAtStart) / elapsed) * 100,
      stored,
      atPeak: peak,
      drain,
      rssSeries,
      startedAt,
      loadAtStart,
      deadLettered: peer.deadLettered?.(),
      exited: peer.exited(),
    };
  } finally {
    sampling = false;
    await sampler;
    generators.kill();
    await peer.stop();
    await influx.exec(`DROP DATABASE ${database}`).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------------------------

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

const k = (n: number): string => (Number.isFinite(n) ? `${(Math.round(n) || 0).toLocaleString('en')}` : 'n/a');
const ms = (n: number): string => (Number.isFinite(n) ? (n >= 1000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`) : 'n/a');
const mb = (n: number): string => String(Math.round(n));
const breakdown = (r: RunResult): string => {
  const m = r.atPeak?.memory;
  return m ? `${mb(m.heapUsed)} / ${mb(m.heapTotal)}, ${mb(m.external)} MB` : '-';
};
const drainCell = (r: RunResult): string => {
  const d = r.drain;
  if (!d) return '-';
  return d.drained ? `${d.seconds.toFixed(1)} s, ${k(d.readingsPerSecond)} readings/s` : `not drained after ${d.seconds.toFixed(0)} s (${k(d.batchesLeft)} batches left; raise --store-wait), ${k(d.readingsPerSecond)} readings/s`;
};
const loss = (r: RunResult): string => {
  const deadLettered = r.deadLettered ? `, ${k(r.deadLettered)} messages dead-lettered` : '';
  return r.stored === r.published ? `0${deadLettered}` : `${k(r.published - r.stored)} of ${k(r.published)} (${(((r.published - r.stored) / r.published) * 100).toFixed(1)} %)${deadLettered}`;
};

const peerLabel = (peer: string): string =>
  peer === 'cleanstream' ? 'cleanstream ingest' : `Node-RED 4.1.8 (${NODE_RED_FLOW === 'batch' ? `influxdb batch, ${k(MAX_LINES)} points or ${BATCH_MS} ms` : 'influxdb out, one request per message'})`;
const flagsCell = (): string => (NODE_FLAGS.length ? NODE_FLAGS.map((f) => `\`${f}\``).join(' ') : 'none (plain node)');
const runCell = (r: RunResult): string =>
  `${r.kind === 'steady' ? `${DURATION} s` : `${RESTART_DURATION} s, InfluxDB killed ${RESTART_DOWN} s at ${RESTART_AT} s`}, ${BROKER}`;
const offeredCell = (r: RunResult): string => `${k(r.offered)} (reached ${k(r.publishedPerSecond)})`;
const spooledCell = (r: RunResult): string => (r.spooled === undefined ? '-' : r.spooled === 0 ? '0' : `${k(r.spooled)} (replayed before counting)`);
const latencyCell = (r: RunResult): string => `${ms(r.p50)} / ${ms(r.p99)}`;
const exitedNote = (r: RunResult): string => (r.exited ? ` (the peer died: ${r.exited})` : '');

/**
 * A peer kept up with an offered rate when InfluxDB accepted at least 95 % of it with nothing lost; its saturation
 * lies between the highest rate it kept up with and the next step.
 */
function saturation(peer: string, runs: RunResult[]): string {
  const steps = runs.filter((r) => r.peer === peer).sort((a, b) => a.offered - b.offered);
  const keptUp = (r: RunResult): boolean => r.stored === r.published && r.acceptedPerSecond >= 0.95 * r.offered;
  const held = steps.filter(keptUp).at(-1);
  const over = steps.find((r) => !keptUp(r));
  const generatorsShort = steps.filter((r) => r.publishedPerSecond < 0.95 * r.offered).map((r) => k(r.offered));
  const parts = [
    held ? `kept up with ${k(held.offered)} readings/s offered` : 'kept up with none of the offered rates',
    over ? `at ${k(over.offered)} offered InfluxDB accepted ${k(over.acceptedPerSecond)} readings/s, loss ${loss(over)}${exitedNote(over)}` : 'and with every step: not saturated yet, raise --rates',
  ];
  if (generatorsShort.length) parts.push(`the generators published less than 95 % of the rate asked at ${generatorsShort.join(', ')} (the broker held them back, QoS 1, or they reached their own limit: compare the other peer's reached rate at the same step)`);
  return `${peerLabel(peer)}: ${parts.join('; ')}`;
}

async function main(): Promise<void> {
  const benchStarted = now();
  const work = mkdtempSync(path.join(tmpdir(), 'cleanstream-bench-ingest-'));
  const influx = await startInfluxd();
  const broker = BROKER === 'aedes' ? await startAedesProcess() : await startMosquitto();
  try {
    const header = [
      DURATION > 0 ? `steady runs of ${DURATION} s at ${RATES.map(k).join(', ')} readings/s offered` : 'no steady runs',
      RESTART_DURATION > 0 ? `InfluxDB restart run of ${RESTART_DURATION} s at ${k(RESTART_RATE)} readings/s` : 'no restart run',
      `${SHAPE.perMessage} readings/message, ${k(SHAPE.plants * 1000)} series, ${GENERATORS} generator processes, ${BROKER === 'aedes' ? 'aedes' : 'Mosquitto'}`,
      `ingest as ${RUNTIME}, Node-RED flow ${NODE_RED_FLOW}, batches of ${k(MAX_LINES)} points or ${BATCH_MS} ms for both`,
      `node flags for both peers: ${NODE_FLAGS.length ? NODE_FLAGS.join(' ') : 'none'}`,
      `load average at start ${loadAverage()}`,
    ];
    console.log(`# bench/ingest: ${header.join('; ')}`);
    const rawAt = { startedAt: new Date().toISOString().slice(0, 16).replace('T', ' '), load: loadAverage() };
    const raw = await rawCeiling(influx);
    if (raw) log(`raw ceiling ${k(raw)} points/s`);
    const steady: RunResult[] = [];
    const restart: RunResult[] = [];
    for (const peer of DURATION > 0 ? PEERS : []) {
      for (const rate of RATES) {
        log(`${peer}: steady run, ${DURATION} s at ${k(rate)} readings/s offered`);
        const r = await run(peer, work, influx, broker, rate, DURATION);
        steady.push(r);
        log(`${peer}: InfluxDB accepted ${k(r.acceptedPerSecond)} readings/s, loss ${loss(r)}${exitedNote(r)}`);
      }
    }
    if (RESTART_DURATION > 0) {
      for (const peer of PEERS) {
        log(`${peer}: InfluxDB restart run, ${RESTART_DURATION} s at ${k(RESTART_RATE)} readings/s offered`);
        restart.push(await run(peer, work, influx, broker, RESTART_RATE, RESTART_DURATION, { at: RESTART_AT, down: RESTART_DOWN }));
      }
    }
    if (raw) console.log(`\nraw InfluxDB ceiling: ${k(raw)} points/s (prebuilt line protocol, 2 writers, ${k(MAX_LINES)}-line batches, ${RAW_SECONDS} s)`);
    const share = (r: RunResult): string => (raw ? (r.acceptedPerSecond / raw).toFixed(2) : 'n/a');
    if (steady.length) {
      console.log(`\nsteady runs, ${DURATION} s each: finish line accepted by InfluxDB`);
      console.log(table(
        ['peer', 'offered (reached)', 'accepted by InfluxDB/s', 'of raw', 'spooled', 'loss', 'p50 / p99', 'peak RSS', 'at the peak: heap used / total, external', 'CPU (of one core)', 'load at start'],
        steady.map((r) => [peerLabel(r.peer) + exitedNote(r), offeredCell(r), k(r.acceptedPerSecond), share(r), spooledCell(r), loss(r), latencyCell(r), `${mb(r.peakRssMb)} MB`, breakdown(r), `${Math.round(r.cpuPercent)} %`, r.loadAtStart]),
      ));
      console.log('\nsaturation (kept up: InfluxDB accepted >= 95 % of the offered rate, nothing lost):');
      for (const peer of PEERS) console.log(`- ${saturation(peer, steady)}`);
    }
    if (restart.length) {
      console.log(`\nInfluxDB restart run: ${RESTART_DOWN} s down at ${RESTART_AT} s of ${RESTART_DURATION} s`);
      console.log(table(
        ['peer', 'offered (reached)', 'accepted by InfluxDB/s', 'spooled', 'loss (count after the drain)', 'p50 / p99', 'peak RSS', 'at the peak: heap used / total, external', 'spool drain after InfluxDB returned', 'RSS during the drain', 'load at start'],
        restart.map((r) => [peerLabel(r.peer) + exitedNote(r), offeredCell(r), k(r.acceptedPerSecond), spooledCell(r), loss(r), latencyCell(r), `${mb(r.peakRssMb)} MB`, breakdown(r), drainCell(r), r.drain ? `${mb(r.drain.rssMinMb)}-${mb(r.drain.rssMaxMb)} MB` : '-', r.loadAtStart]),
      ));
    }
    if (RSS_SERIES) {
      for (const r of [...steady, ...restart]) {
        console.log(`\n${peerLabel(r.peer)}, ${r.kind} run at ${k(r.offered)} readings/s: RSS per ${RSS_WINDOW} s (MB)`);
        console.log(table(['from (s)', 'min', 'max', 'last', 'heap used', 'external'], r.rssSeries.map((w) => [String(w.from), mb(w.min), mb(w.max), mb(w.last), w.heapUsed === undefined ? '-' : mb(w.heapUsed), w.external === undefined ? '-' : mb(w.external)])));
      }
    }
    // Every run, one row each, ready for the READMEs (the stage README lists them all; the top table picks).
    const rows: string[][] = [];
    if (raw) rows.push([rawAt.startedAt, `raw InfluxDB ceiling (prebuilt line protocol, 2 writers, ${k(MAX_LINES)}-line batches)`, `${RAW_SECONDS} s`, 'as fast as it takes', 'accepted by InfluxDB', `${k(raw)} points/s`, '-', '0', '-', '-', '-', '-', rawAt.load]);
    for (const r of [...steady, ...restart]) {
      rows.push([r.startedAt, peerLabel(r.peer) + exitedNote(r), runCell(r), offeredCell(r), 'accepted by InfluxDB', k(r.acceptedPerSecond), spooledCell(r), loss(r), latencyCell(r), `${mb(r.peakRssMb)} MB`, `${Math.round(r.cpuPercent)} %`, flagsCell(), r.loadAtStart]);
    }
    console.log(`\nrows for ingest/README.md and bench/README.md (${SHAPE.perMessage} readings/message, ${k(SHAPE.plants * 1000)} series, ${GENERATORS} generator processes, ingest as ${RUNTIME}):\n`);
    console.log(table(['date (UTC)', 'peer', 'run', 'offered readings/s (reached)', 'finish line', 'readings/s', 'spooled', 'loss', 'p50 / p99 publish → accepted', 'peak RSS', 'CPU (of one core)', 'node flags', 'load average at start'], rows));
    console.log('\nlatency: publish → accepted by InfluxDB (/debug/vars pointsWrittenOK) for both peers, matched by count (approximate for a run with loss); 100 ms sampling');
    console.log(`the whole bench took ${((now() - benchStarted) / 60_000).toFixed(1)} min`);
  } finally {
    await broker.stop();
    await influx.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
