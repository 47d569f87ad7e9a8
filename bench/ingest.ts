/**
 * Ingest benchmark: end-to-end readings/s from MQTT publish to durable write (InfluxDB or spool), latency p50/p99,
 * ingest's RSS and CPU, against the raw InfluxDB ceiling (the same points posted as line protocol from a tight loop),
 * everything on this machine. Prints figures; it is not a test. Run: node bin/run-ts.js bench/ingest.ts [--help]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { connectAsync } from 'mqtt';
import { startBroker } from '../deploy/broker.ts';
import { startInfluxd, type RunningInflux } from '../test/harness/influxd.ts';
import { freePort } from '../test/harness/ports.ts';
import type { IngestConfigInput } from '../ingest/config.ts';

const HELP = `usage: node bin/run-ts.js bench/ingest.ts [options]

Publishes gateway-style batches (N readings of one plant per message, QoS 1) through the embedded aedes broker to
ingest (a child process) writing to a real InfluxDB 1.x, and prints end-to-end readings/s, latency, ingest RSS/CPU
and the raw InfluxDB ceiling for the same points.

options:
  --seconds S          how long to publish (default 60)
  --rate R             target readings/s; 0 publishes as fast as the broker acknowledges (default 150000)
  --per-message N      readings per MQTT message (default 100)
  --plants N           plants; each has 1000 meters, so N x 1000 series (default 10)
  --max-lines N        ingest batch.maxLines (default 5000)
  --gzip L             ingest write gzip level, 0 = off (default 1)
  --influx-down-at S   kill InfluxDB this many seconds into the run (default: never)
  --influx-down-for S  ... and restart it after S seconds (default 2)
  --raw-seconds S      run the raw ceiling for S seconds; 0 skips it (default 10)
  --help               this text`;

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string' },
    rate: { type: 'string' },
    'per-message': { type: 'string' },
    plants: { type: 'string' },
    'max-lines': { type: 'string' },
    gzip: { type: 'string' },
    'influx-down-at': { type: 'string' },
    'influx-down-for': { type: 'string' },
    'raw-seconds': { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
function num(name: keyof typeof args, fallback: number): number {
  const text = args[name];
  if (text === undefined || typeof text === 'boolean') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) {
    console.error(`--${name} must be a non-negative number, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}
const SECONDS = num('seconds', 60);
const RATE = num('rate', 150_000);
const PER_MESSAGE = Math.max(1, Math.floor(num('per-message', 100)));
const PLANTS = Math.max(1, Math.floor(num('plants', 10)));
const MAX_LINES = Math.max(1, Math.floor(num('max-lines', 5000)));
const GZIP = Math.floor(num('gzip', 1));
const DOWN_AT = args['influx-down-at'] === undefined ? undefined : num('influx-down-at', 0);
const DOWN_FOR = num('influx-down-for', 2);
const RAW_SECONDS = num('raw-seconds', 10);
const METERS = 1000;
const T0 = 1_600_000_000_000;
const REPO = fileURLToPath(new URL('../', import.meta.url));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Message m: plant m % PLANTS, a block of PER_MESSAGE consecutive meters, one scan timestamp: every point distinct. */
function messageShape(m: number): { plant: string; firstMeter: number; ts: number } {
  const blocks = Math.ceil(METERS / PER_MESSAGE);
  const plant = m % PLANTS;
  const block = Math.floor(m / PLANTS) % blocks;
  const scan = Math.floor(m / (PLANTS * blocks));
  return { plant: `bench-${String(plant).padStart(3, '0')}`, firstMeter: block * PER_MESSAGE, ts: T0 + scan };
}
const meterId = (i: number): string => `m-${String(i % METERS).padStart(4, '0')}`;
const valueOf = (m: number, j: number): number => ((m * 7 + j * 13) % 10_000) / 10;

function payload(m: number, seq: number): string {
  const { plant, firstMeter, ts } = messageShape(m);
  let readings = '';
  for (let j = 0; j < PER_MESSAGE; j++) {
    if (j > 0) readings += ',';
    readings += `{"meter":"${meterId(firstMeter + j)}","quantity":"cod","value":${valueOf(m, j)},"unit":"mg/L","ts":${ts},"quality":"good"}`;
  }
  return `{"v":1,"plant":"${plant}","gateway":"gw-1","seq":${seq},"sentAt":${ts},"readings":[${readings}]}`;
}

function lines(m: number): string {
  const { plant, firstMeter, ts } = messageShape(m);
  let out = '';
  for (let j = 0; j < PER_MESSAGE; j++) {
    if (j > 0) out += '\n';
    out += `water,meter=${meterId(firstMeter + j)},plant=${plant} cod=${valueOf(m, j)},cod_quality="good" ${ts}`;
  }
  return out;
}

async function countPoints(influx: RunningInflux, db: string): Promise<number> {
  const rows = await influx.query<{ count: number }>('SELECT count(cod) FROM water', db);
  return rows[0]?.count ?? 0;
}

/** (a) the raw ceiling: pre-built line protocol, 5,000-line batches, two concurrent writers, for RAW_SECONDS. */
async function rawCeiling(influx: RunningInflux): Promise<{ pointsPerSecond: number; points: number } | undefined> {
  if (RAW_SECONDS === 0) return undefined;
  const db = 'bench_raw';
  await influx.exec(`CREATE DATABASE ${db}`);
  const perBatch = Math.max(1, Math.floor(5000 / PER_MESSAGE));
  const batches: string[] = [];
  // Enough distinct batches for the run at up to 400k points/s (prebuilt: the loop only posts).
  const needed = Math.ceil((RAW_SECONDS * 400_000) / (perBatch * PER_MESSAGE));
  for (let b = 0; b < needed; b++) {
    const parts: string[] = [];
    for (let k = 0; k < perBatch; k++) parts.push(lines(b * perBatch + k));
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
      points += perBatch * PER_MESSAGE;
    }
  };
  await Promise.all([worker(), worker()]);
  const seconds = (performance.now() - started) / 1000;
  return { pointsPerSecond: points / seconds, points };
}

interface ProcSample {
  t: number;
  rssMb: number;
  cpuSeconds: number;
}
function procSample(pid: number): ProcSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { t: performance.now(), rssMb: rss, cpuSeconds: ticks / 100 };
  } catch {
    return undefined;
  }
}

async function scrape(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^cleanstream_ingest_([a-z_]+)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (match) out[match[1]!] = (out[match[1]!] ?? 0) + Number(match[2]);
  }
  return out;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), 'cleanstream-bench-ingest-'));
  const influx = await startInfluxd();
  const broker = await startBroker();
  let child: ReturnType<typeof spawn> | undefined;
  try {
    console.log(`# bench/ingest: ${SECONDS} s at ${RATE || 'max'} readings/s, ${PER_MESSAGE} readings/message, ${PLANTS * METERS} series, gzip ${GZIP}`);
    const raw = await rawCeiling(influx);
    if (raw) console.log(`raw InfluxDB ceiling: ${Math.round(raw.pointsPerSecond).toLocaleString('en')} points/s (${raw.points.toLocaleString('en')} points, 2 writers, 5,000-line batches)`);

    const db = 'bench_ingest';
    const httpPort = await freePort();
    const config: IngestConfigInput = {
      mqtt: { url: broker.url, protocolVersion: 4 },
      clientId: 'bench-ingest',
      influx: { url: influx.url, database: db },
      batch: { maxLines: MAX_LINES, maxDelayMs: 200, maxUnackedMessages: 2000, highWaterLines: MAX_LINES * 8 },
      write: { gzipLevel: GZIP },
      retry: { maxAttempts: 2, initialDelayMs: 50, maxDelayMs: 500, pauseMs: 500, requestTimeoutMs: 10_000 },
      spool: { dir: path.join(work, 'spool'), maxBytes: 8 * 1024 ** 3, segmentBytes: 32 * 1024 ** 2 },
      http: { port: httpPort },
    };
    const configFile = path.join(work, 'ingest.yaml');
    writeFileSync(configFile, JSON.stringify(config));
    child = spawn(process.execPath, [path.join(REPO, 'bin/run-ts.js'), path.join(REPO, 'ingest/main.ts'), '--config', configFile, '--stats-interval', '0'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const pid = child.pid!;
    const httpUrl = `http://127.0.0.1:${httpPort}`;
    for (let i = 0; ; i++) {
      if ((await fetch(`${httpUrl}/readyz`).catch(() => undefined))?.status === 200) break;
      if (i > 200 || child.exitCode !== null) throw new Error('ingest did not become ready');
      await sleep(50);
    }

    const publisher = await connectAsync(broker.url, { clientId: 'bench-publisher', protocolVersion: 4 });
    const samples: { t: number; durable: number }[] = [];
    const proc: ProcSample[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const m = await scrape(httpUrl).catch(() => undefined);
        const t = performance.now();
        if (m) samples.push({ t, durable: (m.written_readings_total ?? 0) + (m.spooled_readings_total ?? 0) });
        const p = procSample(pid);
        if (p) proc.push(p);
        await sleep(100);
      }
    })();

    const publishTimes: number[] = [];
    const window = 1000;
    let inFlight = 0;
    let wake: (() => void) | undefined;
    const started = performance.now();
    const cpuAtStart = procSample(pid)?.cpuSeconds ?? 0;
    let outage: Promise<void> | undefined;
    let m = 0;
    const messagesPerSecond = RATE > 0 ? RATE / PER_MESSAGE : Infinity;
    while (performance.now() - started < SECONDS * 1000) {
      const elapsed = performance.now() - started;
      if (DOWN_AT !== undefined && !outage && elapsed >= DOWN_AT * 1000) {
        outage = (async () => {
          await influx.kill();
          await sleep(DOWN_FOR * 1000);
          await influx.restart();
        })();
      }
      if (m > (elapsed / 1000) * messagesPerSecond) {
        await sleep(2);
        continue;
      }
      if (inFlight >= window) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      const topic = `cleanstream/v1/readings/${messageShape(m).plant}/gw-1`;
      publishTimes.push(performance.now());
      inFlight++;
      publisher.publish(topic, payload(m, m), { qos: 1 }, () => {
        inFlight--;
        const w = wake;
        wake = undefined;
        w?.();
      });
      m++;
      // Let acknowledgements in every few messages.
      if (m % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const published = m;
    const total = published * PER_MESSAGE;
    const publishSeconds = (performance.now() - started) / 1000;
    await outage;
    const deadline = performance.now() + 120_000;
    while ((samples[samples.length - 1]?.durable ?? 0) < total && performance.now() < deadline) await sleep(100);
    const durableAt = samples.find((s) => s.durable >= total)?.t ?? Number.NaN;
    const cpuAtEnd = procSample(pid)?.cpuSeconds ?? 0;
    // Then wait for the spool (if any) to drain into InfluxDB, and count what InfluxDB holds.
    let stored = 0;
    while (performance.now() < deadline) {
      stored = await countPoints(influx, db).catch(() => 0);
      if (stored >= total) break;
      await sleep(250);
    }
    sampling = false;
    await sampler;
    await publisher.endAsync();

    // Latency of message i: first sample whose durable count covers it, minus its publish time (100 ms sampling).
    const latencies: number[] = [];
    let s = 0;
    for (let i = 0; i < published; i++) {
      const needed = (i + 1) * PER_MESSAGE;
      while (s < samples.length && samples[s]!.durable < needed) s++;
      if (s < samples.length) latencies.push(samples[s]!.t - publishTimes[i]!);
    }
    latencies.sort((a, b) => a - b);
    const e2eSeconds = (durableAt - started) / 1000;
    const rss = proc.map((p) => p.rssMb);
    const end = await scrape(httpUrl);
    const rows: [string, string][] = [
      ['published', `${total.toLocaleString('en')} readings in ${published.toLocaleString('en')} messages over ${publishSeconds.toFixed(1)} s`],
      ['end-to-end (publish → durable)', `${Math.round(total / e2eSeconds).toLocaleString('en')} readings/s`],
      ['latency p50 / p99', `${Math.round(percentile(latencies, 50))} ms / ${Math.round(percentile(latencies, 99))} ms (100 ms sampling)`],
      ['in InfluxDB', `${stored.toLocaleString('en')} points (${stored === total ? 'zero loss' : `LOSS: ${total - stored}`})`],
      ['spooled / replayed', `${(end.spooled_readings_total ?? 0).toLocaleString('en')} / ${(end.replayed_readings_total ?? 0).toLocaleString('en')} readings`],
      ['ingest RSS max / last', `${Math.max(...rss).toFixed(0)} MB / ${rss[rss.length - 1]?.toFixed(0)} MB`],
      ['ingest CPU', `${(((cpuAtEnd - cpuAtStart) / e2eSeconds) * 100).toFixed(0)} % of one core`],
    ];
    if (raw) rows.push(['vs raw ceiling', `${((total / e2eSeconds / raw.pointsPerSecond) * 100).toFixed(0)} %`]);
    if (DOWN_AT !== undefined) rows.push(['InfluxDB outage', `killed at ${DOWN_AT} s for ${DOWN_FOR} s`]);
    const width = Math.max(...rows.map(([k]) => k.length));
    for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await broker.stop();
    await influx.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
