/**
 * Broker memory with ingest stopped: a gateway publishes at a steady rate through the embedded broker (as
 * `cleanstream broker` runs it, its own process) while ingest's persistent session is offline; the broker's RSS is
 * sampled; then ingest starts again and every reading must reach InfluxDB. Bounded in time (--offline, --drain-wait).
 *
 * Prints figures; it is not a test (test/integration/broker/queues.test.ts is the short one).
 * Run: node bin/run-ts.js bench/broker-queue.ts [--help]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { DiskQueue } from '../core/disk-queue.ts';
import type { Reading } from '../core/reading.ts';
import { Publisher } from '../gateway/publisher.ts';
import { BROKER_LIMITS } from '../bus/broker-limits.ts';
import { startCli, type CliProcess } from '../test/harness/cli.ts';
import { startInfluxd, type RunningInflux } from '../test/harness/influxd.ts';
import { freePort } from '../test/harness/ports.ts';
import { until } from '../test/harness/wait.ts';
import { processUsage } from './peers/process-usage.ts';

const HELP = `usage: node bin/run-ts.js bench/broker-queue.ts [options]

A gateway (gateway/publisher.ts with its disk store-and-forward queue) publishes pH readings at --rate through
\`cleanstream broker\` while ingest (\`cleanstream ingest\`, clientId cleanstream-ingest, persistent session) is stopped
for --offline seconds. Prints the broker's RSS every --sample seconds, what the broker refused and what the gateway
held on disk; then starts ingest and waits (at most --drain-wait seconds) until InfluxDB holds every reading.

options:
  --offline S        seconds ingest is stopped while the gateway publishes (default 600)
  --rate R           readings/s offered (default 10000)
  --per-message N    readings per batch (default 200)
  --bound B          broker --max-session-queue-bytes (default ${BROKER_LIMITS.maxSessionQueueBytes})
  --sample S         seconds between RSS samples (default 15)
  --drain-wait S     seconds to wait for InfluxDB to hold everything after ingest is back (default 600)

A short run: node bin/run-ts.js bench/broker-queue.ts --offline 60 --rate 20000 --bound 33554432 --sample 5
`;

const REPO = fileURLToPath(new URL('../', import.meta.url));
const DB = 'bench_broker_queue';
const T0 = 1_700_000_000_000;
const MiB = 1024 * 1024;

const { values: args } = parseArgs({
  options: {
    offline: { type: 'string', default: '600' },
    rate: { type: 'string', default: '10000' },
    'per-message': { type: 'string', default: '200' },
    bound: { type: 'string', default: String(BROKER_LIMITS.maxSessionQueueBytes) },
    sample: { type: 'string', default: '15' },
    'drain-wait': { type: 'string', default: '600' },
    help: { type: 'boolean', default: false },
  },
});

function positiveArg(name: keyof typeof args): number {
  const n = Number(args[name]);
  if (!(n > 0)) throw new Error(`--${name}: expected a positive number, got ${String(args[name])}`);
  return n;
}

function rss(proc: CliProcess): string {
  const usage = processUsage(proc.proc.pid!);
  return usage ? `${(usage.rssBytes / MiB).toFixed(0)} MB` : 'gone';
}

async function stopCli(proc: CliProcess): Promise<void> {
  if (proc.proc.exitCode !== null) return;
  proc.proc.kill('SIGTERM');
  await proc.exited;
}

async function countInInflux(influx: RunningInflux): Promise<number> {
  const rows = await influx.query<{ count: number }>(`SELECT count(ph) FROM water WHERE plant = 'paper-01'`, DB).catch(() => []);
  return rows[0]?.count ?? 0;
}

async function main(): Promise<void> {
  if (args.help) {
    process.stdout.write(HELP);
    return;
  }
  const offlineS = positiveArg('offline');
  const rate = positiveArg('rate');
  const perMessage = positiveArg('per-message');
  const bound = positiveArg('bound');
  const sampleS = positiveArg('sample');
  const drainWaitS = positiveArg('drain-wait');

  const work = mkdtempSync(path.join(tmpdir(), 'cleanstream-bench-broker-queue-'));
  const influx = await startInfluxd();
  const brokerPort = await freePort();
  const broker = startCli(['broker', '--port', String(brokerPort), '--max-session-queue-bytes', String(bound)]);
  const ingestConfig = path.join(work, 'ingest.json');
  writeFileSync(
    ingestConfig,
    JSON.stringify({
      mqtt: { url: `mqtt://127.0.0.1:${brokerPort}` },
      influx: { url: influx.url, database: DB },
      plants: path.join(REPO, 'deploy/demo/plants.yaml'),
      http: { port: await freePort() },
      spool: { dir: path.join(work, 'spool') },
      // the readings carry fixed timestamps from 2023 (T0), unique per reading: older than ingest's 30-day bound
      timestamps: { backfill: true },
    }),
  );
  const queue = await DiskQueue.open({ dir: path.join(work, 'gateway-queue'), maxBytes: 8 * 1024 * MiB });
  let publisher: Publisher | undefined;
  let ingest: CliProcess | undefined;
  try {
    await until('the broker to listen', () => broker.log.some((l) => l.includes('broker listening')), 20_000);
    console.log(`broker RSS at start ${rss(broker)}; bound ${(bound / MiB).toFixed(0)} MiB per session`);

    // ingest subscribes once (its persistent session), then stops: the broker now queues for it
    ingest = startCli(['ingest', '--config', ingestConfig]);
    await until('ingest to subscribe', () => ingest!.log.some((l) => l.includes('ingest running')), 30_000);
    await stopCli(ingest);
    ingest = undefined;

    publisher = new Publisher({
      gatewayId: 'gw-bench',
      mqtt: { url: `mqtt://127.0.0.1:${brokerPort}`, protocolVersion: 4 },
      queue,
      rejectedFile: path.join(work, 'rejected.jsonl'),
      maxReadingsPerBatch: perMessage,
    });
    const log = pino({ level: 'warn' });
    publisher.on('error', (err) => log.debug(err.message));

    let offered = 0;
    const start = Date.now();
    let nextSample = start + sampleS * 1000;
    console.log(`ingest stopped; publishing ${rate} readings/s for ${offlineS} s`);
    while (Date.now() - start < offlineS * 1000) {
      const due = Math.floor(((Date.now() - start) / 1000) * rate);
      if (due > offered) {
        const readings: Reading[] = [];
        for (let i = offered; i < due; i++) {
          readings.push({ plant: 'paper-01', meter: 'outfall-1-ph', quantity: 'ph', value: 6 + (i % 800) / 100, unit: 'pH', ts: T0 + i, quality: 'good' });
        }
        publisher.publishScan(readings);
        offered = due;
      }
      if (Date.now() >= nextSample) {
        nextSample += sampleS * 1000;
        const s = publisher.stats();
        const refused = broker.log.filter((l) => l.includes('refused')).length;
        console.log(`${((Date.now() - start) / 1000).toFixed(0).padStart(5)} s  broker RSS ${rss(broker)}  offered ${offered}  acknowledged by the broker ${s.readingsPublished}  gateway queue ${s.queuedBatches} batches (${(s.queueBytes / MiB).toFixed(0)} MiB)  broker refusals logged ${refused}  rejected ${s.rejectedBatches}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`published for ${offlineS} s: ${offered} readings offered; broker RSS ${rss(broker)}; starting ingest`);

    ingest = startCli(['ingest', '--config', ingestConfig]);
    const drainStart = Date.now();
    let held = 0;
    while (Date.now() - drainStart < drainWaitS * 1000) {
      held = await countInInflux(influx);
      if (held >= offered) break;
      await new Promise((r) => setTimeout(r, 2_000));
      if ((Date.now() - drainStart) % (sampleS * 1000) < 2_000) {
        console.log(`drain ${((Date.now() - drainStart) / 1000).toFixed(0)} s: InfluxDB holds ${held} of ${offered}; broker RSS ${rss(broker)}; gateway queue ${publisher.stats().queuedBatches} batches`);
      }
    }
    const s = publisher.stats();
    const outcome = held === offered ? 'none lost' : `${offered - held} not there when --drain-wait ended, the gateway still holding ${s.queuedBatches} batches`;
    console.log(`InfluxDB holds ${held} of ${offered} readings after ${((Date.now() - drainStart) / 1000).toFixed(0)} s (${outcome}); gateway rejected ${s.rejectedBatches} batches, dropped ${s.droppedBatches}; broker RSS ${rss(broker)}`);
  } finally {
    await publisher?.stop().catch(() => undefined);
    await queue.close().catch(() => undefined);
    if (ingest) await stopCli(ingest);
    await stopCli(broker);
    await influx.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
