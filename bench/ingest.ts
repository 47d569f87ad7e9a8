/**
 * Ingest benchmark, side by side with its peer: the raw InfluxDB ceiling, cleanstream ingest and Node-RED fed the same
 * gateway-style batches, each for the same time at the same offered rate, then the same with InfluxDB restarted
 * (SIGKILL, 2 s down) mid-run. Everything on this machine over loopback, every process started and stopped here:
 *
 *   load generators (child processes) ──QoS 1──▶ aedes (child; or Mosquitto) ──▶ ingest (child) or Node-RED (child) ──▶ influxd
 *
 * Prints figures; it is not a test. Run: node bin/run-ts.js bench/ingest.ts [--help]
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
import { ensureNodeRed, nodeRedFlow, startNodeRed } from './peers/node-red.ts';
import { processUsage } from './peers/process-usage.ts';

const HELP = `usage: node bin/run-ts.js bench/ingest.ts [options]

Load generators (separate processes) publish gateway-style batches (QoS 1) through a broker (aedes in its own process,
as \`cleanstream broker\` runs it, or Debian's Mosquitto) to cleanstream ingest
and to Node-RED (installed on demand into var/bench-peers), one after the other, each writing to a real InfluxDB 1.x.
Prints readings/s, latency, peak RSS, CPU and loss side by side with the raw InfluxDB ceiling, for a steady run and
for a run with InfluxDB restarted (killed, 2 s down) in the middle. After an outage it waits for ingest's spool to
drain (progress printed), prints the drain rate and RSS during the drain, then counts the points InfluxDB holds
against what was published (loss).

The 5-minute outage scenario (RSS flat while everything goes to the spool, then zero loss after the drain):
  node bin/run-ts.js bench/ingest.ts --peers cleanstream --duration 0 --raw-seconds 0 --restart-at 5 \\
    --restart-down 300 --restart-duration 330 --store-wait 600 --rss-series --rss-window 15

options:
  --duration S         seconds of publishing in the steady run; 0 skips it (default 60)
  --rate R             offered readings/s (default 150000)
  --per-message N      readings per MQTT message (default 200)
  --plants N           plants of 1000 meters each: N x 1000 series (default 10)
  --generators N       load generator processes (default 2)
  --peers LIST         which to run: cleanstream,node-red (default both)
  --broker B           aedes (the embedded broker, \`cleanstream broker\`, as its own process) or mosquitto (default aedes)
  --restart-duration S seconds of publishing in the InfluxDB restart run; 0 skips it (default 20)
  --restart-at S       when InfluxDB is killed in that run (default 5)
  --restart-down S     how long it stays down (default 2)
  --raw-seconds S      length of the raw ceiling run; 0 skips it (default 10)
  --concurrency N      ingest write.concurrency (default: ingest's default)
  --max-lines N        ingest batch.maxLines (default 5000)
  --max-unacked N      ingest batch.maxUnackedMessages (default: ingest's default)
  --high-water N       ingest batch.highWaterLines (default: ingest's default)
  --gzip L             ingest write gzip level, 0 = off (default: ingest's default)
  --runtime R          how ingest runs: bundle (esbuild bundle, plain node, as deployed) or tsx (default bundle)
  --node-flags="F …"   node/V8 flags for the ingest process (default --max-semi-space-size=4, as recommended for
                       deployment; --node-flags= runs it on plain node)
  --rss-series         print ingest's RSS over each run (min/max/last per window, heap and external at its end)
  --rss-window S       seconds per row of that series (default 5)
  --store-wait S       after publishing ends, how long to wait (at most) for ingest's spool to drain before counting
                       what InfluxDB holds; progress is printed every 10 s (default 120; a 5-minute outage at
                       150,000 readings/s leaves ~45 million readings to replay: give it 600)
  --help               this text`;

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string' },
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
type NumericArg = Exclude<keyof typeof args, 'help' | 'peers' | 'broker' | 'runtime' | 'node-flags' | 'rss-series'>;
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
const DURATION = num('duration', 60);
const RATE = num('rate', 150_000);
const SHAPE: FeedShape = { perMessage: Math.max(1, Math.floor(num('per-message', 200))), plants: Math.max(1, Math.floor(num('plants', 10))) };
const GENERATORS = Math.max(1, Math.floor(num('generators', 2)));
const PEERS = (args.peers ?? 'cleanstream,node-red').split(',').map((p) => p.trim());
const RESTART_DURATION = num('restart-duration', 20);
const RESTART_AT = num('restart-at', 5);
const RESTART_DOWN = num('restart-down', 2);
const RAW_SECONDS = num('raw-seconds', 10);
const CONCURRENCY = num('concurrency', undefined);
const MAX_LINES = Math.max(1, Math.floor(num('max-lines', 5000)));
const MAX_UNACKED = num('max-unacked', undefined);
const HIGH_WATER = num('high-water', undefined);
const GZIP = num('gzip', undefined);
/** The young-generation cap ingest should run with (see ingest/README.md, Performance); --node-flags= runs plain node. */
const RECOMMENDED_NODE_FLAGS = '--max-semi-space-size=4';
const NODE_FLAGS = (args['node-flags'] ?? RECOMMENDED_NODE_FLAGS).split(/\s+/).filter(Boolean);
const RSS_WINDOW = Math.max(1, num('rss-window', 5));
const RSS_SERIES = args['rss-series'] ?? false;
const STORE_WAIT = num('store-wait', 120);
const RUNTIME = args.runtime ?? 'bundle';
const BROKER = args.broker ?? 'aedes';
if (BROKER !== 'aedes' && BROKER !== 'mosquitto') throw new Error(`--broker must be aedes or mosquitto, got ${BROKER}`);
for (const p of PEERS) if (p !== 'cleanstream' && p !== 'node-red') throw new Error(`--peers: unknown peer ${p}`);
if (RUNTIME !== 'bundle' && RUNTIME !== 'tsx') throw new Error(`--runtime must be bundle or tsx, got ${RUNTIME}`);

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
  const perBatch = Math.max(1, Math.floor(5000 / SHAPE.perMessage));
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
  /** Readings the peer has made durable (ingest: written or spooled, i.e. acknowledgeable); undefined: use InfluxDB's count. */
  durable?(): Promise<number | undefined>;
  /** Ingest's spool as of the last durable(): batches waiting and readings replayed so far. */
  spool?(): { batches: number; replayed: number } | undefined;
  /** The process's own memory breakdown as of the last durable() (ingest's cleanstream_ingest_memory_bytes). */
  memory?(): { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number } | undefined;
  stop(): Promise<void>;
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
    batch: {
      maxLines: MAX_LINES,
      maxDelayMs: 200,
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
  return {
    pid: child.pid!,
    async durable() {
      const m = await ingestMetrics(httpUrl).catch(() => undefined);
      if (m) last = m;
      return m ? (m.written_readings_total ?? 0) + (m.spooled_readings_total ?? 0) : undefined;
    },
    spool() {
      return last ? { batches: last.spool_batches ?? 0, replayed: last.replayed_readings_total ?? 0 } : undefined;
    },
    memory() {
      if (!last || last.memory_heap_used === undefined) return undefined;
      const mb = (v: number | undefined): number => (v ?? 0) / 1024 ** 2;
      return { heapUsed: mb(last.memory_heap_used), heapTotal: mb(last.memory_heap_total), external: mb(last.memory_external), arrayBuffers: mb(last.memory_array_buffers) };
    },
    async stop() {
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
  const flow = nodeRedFlow({ brokerPort, influxPort: influx.port, database, subscription: SUBSCRIPTION });
  const red = await startNodeRed(redJs, path.join(work, `node-red-${database}`), await freePort(), flow);
  return { pid: red.pid, stop: () => red.stop() };
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
  published: number;
  readingsPerSecond: number;
  p50: number;
  p99: number;
  peakRssMb: number;
  cpuPercent: number;
  stored: number;
  offeredPerSecond: number;
  /** Memory breakdown at the sample with the peak RSS (ingest only). */
  atPeak: ProcSample | undefined;
  /** After an outage (ingest only): from InfluxDB's return until the spool was empty. */
  drain: DrainResult | undefined;
  /** RSS over the run, one row per RSS_WINDOW seconds: min / max / last. */
  rssSeries: { from: number; min: number; max: number; last: number; heapUsed?: number; external?: number }[];
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

async function startGenerators(brokerUrl: string, seconds: number): Promise<{ go(): void; done: Promise<DoneReport[]>; published: () => number; curve: { t: number; n: number }[]; kill(): void }> {
  const latest = new Array<number>(GENERATORS).fill(0);
  const curve: { t: number; n: number }[] = [];
  const children: ChildProcess[] = [];
  const ready: Promise<void>[] = [];
  const finished: Promise<DoneReport>[] = [];
  for (let g = 0; g < GENERATORS; g++) {
    const task: GeneratorTask = { ...SHAPE, url: brokerUrl, index: g, of: GENERATORS, rate: RATE, seconds, window: 1000 };
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

async function run(peerName: string, work: string, influx: RunningInflux, broker: { url: string; port: number }, seconds: number, outage?: { at: number; down: number }): Promise<RunResult> {
  const database = `bench_${peerName.replace('-', '_')}_${outage ? 'restart' : 'steady'}`;
  await influx.exec(`CREATE DATABASE ${database}`);
  const peer = peerName === 'cleanstream' ? await startCleanstream(work, broker.url, influx, database) : await startNodeRedPeer(work, broker.port, influx, database);
  const generators = await startGenerators(broker.url, seconds);
  const accepted = new MonotonicCounter();
  const base = (await influxPointsWritten(influx)) ?? 0;
  const doneCurve: { t: number; n: number }[] = [];
  const spoolCurve: { t: number; batches: number; replayed: number }[] = [];
  const proc: ProcSample[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const t = now();
      const n = peer.durable ? await peer.durable() : await influxPointsWritten(influx).then((v) => (v === undefined ? undefined : accepted.update(v) - base));
      if (n !== undefined) doneCurve.push({ t, n });
      const spool = peer.spool?.();
      if (spool) spoolCurve.push({ t, ...spool });
      const p = procSample(peer.pid);
      if (p) proc.push({ ...p, memory: peer.memory?.() });
      await sleep(100);
    }
  })();
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
    log(`${peerName}: published ${total.toLocaleString('en')} readings in ${((publishEnd - started) / 1000).toFixed(1)} s; waiting for them downstream`);
    // Until everything is done downstream, or nothing moved for 15 s (a peer that lost data), at most 180 s.
    const deadline = now() + 180_000;
    let lastN = -1;
    let lastMove = now();
    while (now() < deadline) {
      const n = doneCurve[doneCurve.length - 1]?.n ?? 0;
      if (n >= total) break;
      if (n !== lastN) [lastN, lastMove] = [n, now()];
      else if (now() - lastMove > 15_000) break;
      await sleep(200);
    }
    const finalN = Math.min(total, doneCurve[doneCurve.length - 1]?.n ?? 0);
    const doneAt = doneCurve.find((s) => s.n >= finalN)?.t ?? now();
    const cpuAtEnd = proc.filter((p) => p.t <= doneAt + 100).at(-1)?.cpuSeconds ?? cpuAtStart;
    // Ingest's spool may still be replaying: wait for it to drain (bounded), then count what InfluxDB holds.
    const drain = peer.spool && spoolCurve.some((c) => c.batches > 0) ? await waitForDrain(peerName, spoolCurve, proc, influxBackAt ?? started, total) : undefined;
    let stored = 0;
    // A count over tens of millions of points takes InfluxDB seconds of CPU: poll it only once the spool is empty.
    const storeDeadline = now() + (drain && !drain.drained ? 0 : 30_000);
    do {
      const rows = await influx.query<{ count: number }>('SELECT count(cod) FROM water', database).catch(() => []);
      stored = rows[0]?.count ?? 0;
      if (stored >= total) break;
      await sleep(2000);
    } while (now() < storeDeadline);
    log(`${peerName}: InfluxDB holds ${k(stored)} of ${k(total)} published readings`);
    const lat = latencies(generators.curve, doneCurve, finalN);
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
    return {
      peer: peerName,
      published: total,
      readingsPerSecond: finalN / elapsed,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      peakRssMb: Math.max(0, ...proc.map((p) => p.rssMb)),
      cpuPercent: ((cpuAtEnd - cpuAtStart) / elapsed) * 100,
      stored,
      offeredPerSecond: total / ((publishEnd - started) / 1000),
      atPeak: peak,
      drain,
      rssSeries,
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

const k = (n: number): string => (Number.isFinite(n) ? `${Math.round(n).toLocaleString('en')}` : 'n/a');
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
const loss = (r: RunResult): string => (r.stored === r.published ? '0' : `${k(r.published - r.stored)} of ${k(r.published)} (${(((r.published - r.stored) / r.published) * 100).toFixed(1)} %)`);

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'cleanstream-bench-ingest-'));
  const influx = await startInfluxd();
  const broker = BROKER === 'aedes' ? await startAedesProcess() : await startMosquitto();
  try {
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    console.log(`# bench/ingest: ${DURATION} s at ${k(RATE)} readings/s offered, ${SHAPE.perMessage} readings/message, ${k(SHAPE.plants * 1000)} series, ${GENERATORS} generator processes, ${BROKER === 'aedes' ? 'aedes' : 'Mosquitto'}, ingest as ${RUNTIME}${NODE_FLAGS.length ? ` with ${NODE_FLAGS.join(' ')}` : ''}; load average at start ${load}`);
    const raw = await rawCeiling(influx);
    if (raw) log(`raw ceiling ${k(raw)} points/s`);
    const steady: RunResult[] = [];
    const restart: RunResult[] = [];
    for (const peer of DURATION > 0 ? PEERS : []) {
      log(`${peer}: steady run, ${DURATION} s`);
      steady.push(await run(peer, work, influx, broker, DURATION));
      log(`${peer}: ${k(steady.at(-1)!.readingsPerSecond)} readings/s`);
    }
    if (RESTART_DURATION > 0) {
      for (const peer of PEERS) {
        log(`${peer}: InfluxDB restart run, ${RESTART_DURATION} s`);
        restart.push(await run(peer, work, influx, broker, RESTART_DURATION, { at: RESTART_AT, down: RESTART_DOWN }));
      }
    }
    const peerName = (peer: string): string => (peer === 'cleanstream' ? 'cleanstream ingest' : 'Node-RED 4.1.8');
    const names = (r: RunResult): string => peerName(r.peer);
    // One column per peer, whichever runs were made.
    const by = (results: RunResult[], cell: (r: RunResult) => string): string[] => PEERS.map((p) => {
      const r = results.find((x) => x.peer === p);
      return r ? cell(r) : '-';
    });
    const rows: string[][] = [];
    if (steady.length) rows.push(
      ['offered (readings/s)', '-', ...by(steady, (r) => k(r.offeredPerSecond))],
      ['readings/s, end to end', raw ? `${k(raw)} points/s` : 'n/a', ...by(steady, (r) => k(r.readingsPerSecond))],
      ['share of the raw ceiling', raw ? '1.00' : 'n/a', ...by(steady, (r) => (raw ? (r.readingsPerSecond / raw).toFixed(2) : 'n/a'))],
      ['latency p50 / p99', '-', ...by(steady, (r) => `${ms(r.p50)} / ${ms(r.p99)}`)],
      ['peak RSS', '-', ...by(steady, (r) => `${Math.round(r.peakRssMb)} MB`)],
      ['  at the peak: heap used / total, external', '-', ...by(steady, breakdown)],
      ['CPU (of one core)', '-', ...by(steady, (r) => `${Math.round(r.cpuPercent)} %`)],
      ['loss', '0', ...by(steady, loss)],
    );
    if (restart.length) {
      rows.push(
        [`InfluxDB restart (${RESTART_DOWN} s down at ${RESTART_AT} s of ${RESTART_DURATION} s): readings/s`, '-', ...by(restart, (r) => k(r.readingsPerSecond))],
        ['  latency p50 / p99', '-', ...by(restart, (r) => `${ms(r.p50)} / ${ms(r.p99)}`)],
        ['  peak RSS', '-', ...by(restart, (r) => `${Math.round(r.peakRssMb)} MB`)],
        ['  at the peak: heap used / total, external', '-', ...by(restart, breakdown)],
        ['  spool drain after InfluxDB returned', '-', ...by(restart, drainCell)],
        ['  RSS during the drain (min-max)', '-', ...by(restart, (r) => (r.drain ? `${mb(r.drain.rssMinMb)}-${mb(r.drain.rssMaxMb)} MB` : '-'))],
        ['  loss (InfluxDB count after the drain)', '-', ...by(restart, loss)],
      );
    }
    console.log(table(['', 'raw InfluxDB ceiling', ...PEERS.map(peerName)], rows));
    if (RSS_SERIES) {
      for (const [label, results] of [['steady', steady], ['InfluxDB restart', restart]] as const) {
        for (const r of results) {
          console.log(`\n${names(r)}, ${label} run: RSS per ${RSS_WINDOW} s (MB)`);
          console.log(table(['from (s)', 'min', 'max', 'last', 'heap used', 'external'], r.rssSeries.map((w) => [String(w.from), mb(w.min), mb(w.max), mb(w.last), w.heapUsed === undefined ? '-' : mb(w.heapUsed), w.external === undefined ? '-' : mb(w.external)])));
        }
      }
    }
    console.log(`latency: publish → ${PEERS.includes('cleanstream') ? 'acknowledgeable (written or spooled) for cleanstream, ' : ''}accepted by InfluxDB (/debug/vars pointsWrittenOK) for Node-RED; 100 ms sampling`);
  } finally {
    await broker.stop();
    await influx.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
