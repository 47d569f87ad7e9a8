/**
 * HJ 212 benchmark, two parts:
 *   1. parse: packets/s through parsePacket for a mix of realistic uploads (samples.ts), as bench/hj212-parse.ts.
 *   2. receiver: N simulated data loggers (default 2,000, in a child process) connect over loopback to one
 *      Hj212Receiver and each upload minute data (2051, Flag=5, waiting for each 9014); prints the receiver process's
 *      CPU and RSS, connections, packets and readings per second.
 * Run: node bin/run-ts.js bench/hj212.ts [--help]
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildPacket, parsePacket } from '../protocols/hj212/codec.ts';
import { hj212InputSchema } from '../gateway/drivers/hj212/config.ts';
import { Hj212Receiver } from '../gateway/drivers/hj212/receiver.ts';
import { samplePacket, seededRandom } from '../protocols/hj212/samples.ts';
import { startHj212Logger, type Hj212LoggerStats } from '../simulators/hj212/logger.ts';

const HELP = `usage: node bin/run-ts.js bench/hj212.ts [options]

Part 1 parses realistic HJ 212-2017 uploads and prints packets/s. Part 2 starts an HJ 212 receiver on 127.0.0.1 and
N simulated data loggers in a child process, each uploading minute data (2051, Flag=5, waiting for 9014); prints the
receiver's CPU (share of one core) and RSS, and the rates reached.

options:
  --parse-seconds S   length of part 1 (default 5; 0 skips it)
  --connections N     concurrent loggers in part 2 (default 2000; 0 skips it)
  --packets P         minute-data packets per logger (default 10)
  --interval-ms MS    wall time between one logger's packets (default 1000)
  --seconds S         bound on part 2 (default 90)
  --help              this text

Each connection uses a file descriptor on both sides: 2,000 connections need ulimit -n above about 4,100.`;

const codes = { w01018: 'outfall-1-cod', w00000: 'outfall-1-flow', w21003: 'outfall-1-nh3n', w01001: 'outfall-1-ph' };
const mnOf = (i: number): string => `BENCH${String(i).padStart(19, '0')}`;
const T0 = Date.UTC(2024, 4, 1, 0, 0, 0);

function number(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) {
    console.error(`--${name} must be a non-negative number, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}

const { values } = parseArgs({
  options: {
    'parse-seconds': { type: 'string' },
    connections: { type: 'string' },
    packets: { type: 'string' },
    'interval-ms': { type: 'string' },
    seconds: { type: 'string' },
    child: { type: 'string' },
    port: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

interface ChildReport {
  stats: Hj212LoggerStats;
  cpuMs: number;
  rssMb: number;
}

if (values.help) {
  console.log(HELP);
} else if (values.child !== undefined) {
  await runLoggers();
} else {
  await main();
}

/** The child: N loggers against the receiver's port; reports their summed stats to the parent. */
async function runLoggers(): Promise<void> {
  const connections = number('connections', values.child, 0);
  const port = number('port', values.port, 0);
  const packets = number('packets', values.packets, 10);
  const intervalMs = number('interval-ms', values['interval-ms'], 1000);
  const cpuStart = process.cpuUsage();
  const loggers = [];
  for (let i = 0; i < connections; i++) {
    loggers.push(
      startHj212Logger({
        host: '127.0.0.1',
        port,
        mn: mnOf(i),
        pw: '123456',
        codes: Object.keys(codes),
        source: { value: (code, t) => (code === 'w01001' ? 7 + ((t / 60_000 + i) % 10) / 10 : 10 + ((t / 60_000 + i) % 50)) },
        cn: '2051',
        intervalMs,
        count: packets,
        startDataTime: T0,
        overTimeMs: 10_000,
        reCount: 3,
      }),
    );
    // Spread the connects over the first interval, as real loggers are not synchronised.
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, Math.max(1, intervalMs / (connections / 50))));
  }
  await Promise.all(loggers.map((l) => l.done));
  const total: Hj212LoggerStats = { sent: 0, acknowledged: 0, refused: 0, unanswered: 0, resends: 0, connections: 0, heartbeats: 0, noticeAnswers: 0 };
  for (const l of loggers) for (const [k, v] of Object.entries(l.stats())) total[k as keyof Hj212LoggerStats] += v;
  const cpu = process.cpuUsage(cpuStart);
  const report: ChildReport = { stats: total, cpuMs: (cpu.user + cpu.system) / 1000, rssMb: process.memoryUsage().rss / 1e6 };
  process.send?.(report);
}

async function main(): Promise<void> {
  const parseSeconds = number('parse-seconds', values['parse-seconds'], 5);
  const connections = Math.floor(number('connections', values.connections, 2000));
  const packets = Math.floor(number('packets', values.packets, 10));
  const intervalMs = number('interval-ms', values['interval-ms'], 1000);
  const seconds = number('seconds', values.seconds, 90);

  if (parseSeconds > 0) {
    const random = seededRandom(1);
    const pool = Array.from({ length: 5000 }, () => Buffer.from(buildPacket(samplePacket(random))));
    for (let i = 0; i < 20_000; i++) parsePacket(pool[i % pool.length] as Buffer);
    const started = performance.now();
    const deadline = started + parseSeconds * 1000;
    let parsed = 0;
    let bytes = 0;
    while (true) {
      const frame = pool[parsed % pool.length] as Buffer;
      parsePacket(frame);
      parsed++;
      bytes += frame.length;
      if ((parsed & 1023) === 0 && performance.now() > deadline) break;
    }
    const s = (performance.now() - started) / 1000;
    console.log(`parse: ${parsed} packets in ${s.toFixed(2)} s = ${Math.round(parsed / s)} packets/s, ${(bytes / s / 1e6).toFixed(1)} MB/s (mean ${Math.round(bytes / parsed)} bytes)`);
  }
  if (connections === 0) return;

  const config = hj212InputSchema.parse({
    type: 'hj212',
    port: 0,
    maxConnections: connections + 100,
    devices: Array.from({ length: connections }, (_, i) => ({ mn: mnOf(i), pw: '123456', plant: 'paper-01', meters: codes })),
  });
  const receiver = new Hj212Receiver(config);
  let errors = 0;
  let readings = 0;
  receiver.on('error', () => errors++);
  receiver.on('scan', (batch) => (readings += batch.length));
  await receiver.start();
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  let peakConnections = 0;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    peakConnections = Math.max(peakConnections, receiver.stats().connections);
  }, 100);
  const cpuStart = process.cpuUsage();
  const started = performance.now();
  const child = fork(fileURLToPath(import.meta.url), ['--child', String(connections), '--port', String(receiver.port), '--packets', String(packets), '--interval-ms', String(intervalMs)], {
    execArgv: ['--import', 'tsx'],
  });
  const report = await new Promise<ChildReport | undefined>((resolve) => {
    const timer = setTimeout(() => {
      console.error(`part 2 did not finish within ${seconds} s; stopping`);
      child.kill();
      resolve(undefined);
    }, seconds * 1000);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve(m as ChildReport);
    });
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
  const elapsedS = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  clearInterval(sampler);
  const stats = receiver.stats();
  await receiver.stop();
  child.kill();
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(`receiver: ${connections} loggers × ${packets} minute packets (4 pollutants), ${intervalMs} ms apart, in ${elapsedS.toFixed(1)} s`);
  console.log(`  connections accepted ${stats.acceptedConnections}, peak open ${peakConnections}; packets ${stats.packets}; readings ${readings}; answers ${stats.answers}; errors ${errors}`);
  console.log(`  ${Math.round(stats.packets / elapsedS)} packets/s, ${Math.round(readings / elapsedS)} readings/s`);
  console.log(`  receiver CPU ${cpuMs.toFixed(0)} ms = ${((cpuMs / 1000 / elapsedS) * 100).toFixed(1)}% of one core; RSS ${(rssBefore / 1e6).toFixed(0)} MB before, peak ${(rssPeak / 1e6).toFixed(0)} MB (+${((rssPeak - rssBefore) / 1e6).toFixed(0)} MB, ${(((rssPeak - rssBefore) / Math.max(1, peakConnections)) / 1024).toFixed(1)} KiB per connection)`);
  if (report) {
    console.log(`  loggers (child process): sent ${report.stats.sent}, acknowledged ${report.stats.acknowledged}, resends ${report.stats.resends}, unanswered ${report.stats.unanswered}; CPU ${report.cpuMs.toFixed(0)} ms, RSS ${report.rssMb.toFixed(0)} MB`);
    if (report.stats.acknowledged !== connections * packets) process.exitCode = 1;
  } else {
    process.exitCode = 1;
  }
}
