/**
 * `cleanstream simulate`: serve the plants of a registry over OPC UA and Modbus TCP until Ctrl-C, SIGTERM or --duration;
 * with --scenario, serve the scenario's plants and faults on a virtual clock, or (--out) write its feed to a file.
 * `cleanstream record`: record a broker's messages to NDJSON. `cleanstream replay`: publish a recording again.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { Fault } from './faults.ts';
import { loadPlantRegistry, type PlantRegistry } from '../core/plants.ts';
import { DEFAULT_UPDATE_INTERVAL_MS } from './clock.ts';
import { writeFeedFile } from './feed.ts';
import { registerCount, simulatorLayout } from './layout.ts';
import { startRecorder } from './record.ts';
import { formatReplaySummary, replayFile } from './replay.ts';
import { loadScenario, parseDuration } from './scenario.ts';
import { startModbusSimulator } from './servers/modbus.ts';
import { startOpcuaSimulator } from './servers/opcua.ts';
import { pino } from 'pino';
import { routeNodeOpcuaLogs } from '../gateway/drivers/opcua/library-logs.ts';

export interface SimulateOptions {
  plants: string;
  seed: number;
  opcuaPort: number;
  modbusPort: number;
  host: string;
  interval: number;
  pkiDir: string;
  duration?: number;
  /** A scenario file: its plants, seed and faults, on a clock starting at its start. */
  scenario?: string;
  /** With a scenario: write its feed to this file (NDJSON, .gz compresses) instead of serving. */
  out?: string;
  /** With a scenario: virtual seconds per real second when serving. */
  speed?: number;
}

function positiveNumber(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} must be a positive number, got ${value}`);
    return n;
  };
}

function integer(flag: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max}, got ${value}`);
    return n;
  };
}

export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('serve simulated plant meters over OPC UA and Modbus TCP, deterministic for a given seed')
    .option('--plants <file>', 'plant registry whose meters are simulated', 'deploy/demo/plants.yaml')
    .option('--seed <n>', 'seed of the plant model: the same seed gives the same values at the same time', integer('--seed', 0), 1)
    .option('--opcua-port <n>', 'TCP port of the OPC UA server', integer('--opcua-port', 1, 65_535), 4840)
    .option('--modbus-port <n>', 'TCP port of the Modbus TCP server', integer('--modbus-port', 1, 65_535), 5020)
    .option('--host <addr>', 'address both servers listen on', '127.0.0.1')
    .option('--interval <ms>', 'update interval: values change at multiples of it', integer('--interval', 10), DEFAULT_UPDATE_INTERVAL_MS)
    .option('--pki-dir <dir>', "folder for the OPC UA server's certificates", 'var/pki/simulator')
    .option('--duration <s>', 'stop after this many seconds (default: run until Ctrl-C; with --scenario: the scenario length at --speed)', integer('--duration', 1))
    .option('--scenario <file>', "scenario YAML (simulators/scenarios/): its plants, seed and scripted faults replace --plants and --seed; the servers' clock starts at its start")
    .option('--out <file>', 'with --scenario: write the feed a gateway would publish to this NDJSON file (.gz to compress) without any network, then exit; the same scenario gives the same bytes')
    .option('--speed <factor>', 'with --scenario when serving: virtual time runs this many times faster than real time', positiveNumber('--speed'), 1)
    .addHelpText(
      'after',
      '\nExamples:\n  cleanstream simulate --plants deploy/demo/plants.yaml --seed 1\n  cleanstream simulate --scenario simulators/scenarios/cod-upset.yaml --out var/cod-upset.ndjson\n  cleanstream simulate --scenario simulators/scenarios/meter-offline.yaml --speed 60',
    )
    .action(async (opts: SimulateOptions) => {
      // node-opcua's own console warnings are not the simulator's to show (the server reports its errors itself)
      routeNodeOpcuaLogs(pino({ level: 'info' }));
      await runSimulate(opts);
    });
}

export async function runSimulate(opts: SimulateOptions): Promise<void> {
  if (opts.out && !opts.scenario) throw new InvalidArgumentError('--out needs --scenario: the scenario says which plants, from when and for how long');
  let registry: PlantRegistry;
  let seed = opts.seed;
  let faults: Fault[] = [];
  let clock: (() => number) | undefined;
  let duration = opts.duration;
  if (opts.scenario) {
    const scenario = loadScenario(opts.scenario);
    if (opts.out) {
      const started = Date.now();
      const summary = await writeFeedFile(scenario, opts.out);
      const seconds = Math.max(0.001, (Date.now() - started) / 1000);
      console.log(
        `wrote ${summary.messages} messages (${summary.readings} readings, ${summary.bytes} bytes) of scenario ${scenario.name} to ${opts.out} ` +
          `in ${seconds.toFixed(1)} s (${Math.round(summary.readings / seconds)} readings/s)`,
      );
      return;
    }
    registry = scenario.registry;
    seed = scenario.seed;
    faults = scenario.faults;
    const speed = opts.speed ?? 1;
    const realStart = Date.now();
    clock = () => scenario.startMs + (Date.now() - realStart) * speed;
    duration ??= Math.max(1, Math.ceil(scenario.durationMs / speed / 1000));
    console.log(`scenario ${scenario.name}: ${scenario.description || 'no description'} (${faults.length} faults, virtual time ${speed}x from ${new Date(scenario.startMs).toISOString()})`);
  } else {
    registry = loadPlantRegistry(opts.plants);
  }
  const common = { registry, seed, host: opts.host, updateIntervalMs: opts.interval, faults, ...(clock ? { clock } : {}) };
  const opcua = await startOpcuaSimulator({ ...common, port: opts.opcuaPort, pkiDir: opts.pkiDir });
  let modbus;
  try {
    modbus = await startModbusSimulator({ ...common, port: opts.modbusPort });
  } catch (err) {
    await opcua.stop();
    throw err;
  }

  const points = simulatorLayout(registry);
  console.log(`simulating ${registry.plants.length} plants, ${points.length} points, seed ${seed}, values every ${opts.interval} ms`);
  console.log(`  OPC UA  ${opcua.endpoint}  (NodeIds ns=1;s=<plant>.<meter>.<quantity>, security None)`);
  console.log(`  Modbus  ${modbus.host}:${modbus.port}  (holding registers, big-endian words)`);
  registry.plants.forEach((plant, i) => {
    const own = points.filter((p) => p.plant === plant.id);
    const last = own.at(-1);
    const registers = last ? last.modbus.address + registerCount(last.modbus.type) : 0;
    console.log(`    unit ${String(i + 1).padStart(3)}  ${plant.id}  ${own.length} points in registers 0-${registers - 1}`);
  });
  console.log(duration ? `  stopping after ${duration} s` : '  Ctrl-C stops');

  await new Promise<void>((resolve) => {
    const timer = duration ? setTimeout(done, duration * 1000) : undefined;
    function done(): void {
      clearTimeout(timer);
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    }
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await Promise.allSettled([modbus.stop(), opcua.stop()]);
  console.log('simulators stopped');
}

/** Resolves on Ctrl-C or SIGTERM (once). */
function interrupted(): { promise: Promise<void>; dispose(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  const on = (): void => resolve();
  process.once('SIGINT', on);
  process.once('SIGTERM', on);
  return {
    promise,
    dispose() {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}

const mqttConnectionOptions = (command: Command): Command =>
  command
    .option('--url <url>', 'broker URL (mqtt://host:port, mqtts:// for TLS)', 'mqtt://127.0.0.1:1883')
    .option('--username <name>', 'broker user name')
    .option('--password <secret>', 'broker password (prefer the MQTT_PASSWORD environment variable)')
    .option('--protocol-version <n>', 'MQTT protocol version: 4 (3.1.1, aedes) or 5', integer('--protocol-version', 4, 5), 4)
    .option('--client-id <id>', 'MQTT client id (default: a random one)');

interface MqttFlags {
  url: string;
  username?: string;
  password?: string;
  protocolVersion: number;
  clientId?: string;
}

function mqttOptions(opts: MqttFlags) {
  const password = opts.password ?? process.env.MQTT_PASSWORD;
  return {
    url: opts.url,
    protocolVersion: opts.protocolVersion as 4 | 5,
    ...(opts.username === undefined ? {} : { username: opts.username }),
    ...(password === undefined ? {} : { password }),
    ...(opts.clientId === undefined ? {} : { clientId: opts.clientId }),
  };
}

function durationMs(flag: string) {
  return (value: string): number => {
    const ms = parseDuration(/^\d+(\.\d+)?$/.test(value) ? `${value}s` : value);
    if (ms === undefined || ms <= 0) throw new InvalidArgumentError(`${flag} must be a duration such as 30 (seconds), 90s, 10m or 2h, got ${value}`);
    return ms;
  };
}

interface RecordFlags extends MqttFlags {
  out: string;
  filter: string[];
  count?: number;
  duration?: number;
}

export function registerRecordCommand(program: Command): void {
  mqttConnectionOptions(
    program
      .command('record')
      .description("record a broker's messages to an NDJSON file, one {t, topic, payload, qos, retain} line per message (t = arrival time in ms)")
      .requiredOption('--out <file>', 'file to write; a name ending in .gz is gzip-compressed'),
  )
    .option('--filter <topic...>', 'topic filter(s) to subscribe to (default: every plant\'s readings, cleanstream/v1/readings/+/+)')
    .option('--count <n>', 'stop after this many messages', integer('--count', 1))
    .option('--duration <time>', 'stop after this long: seconds, or 90s, 10m, 2h (default: until Ctrl-C)', durationMs('--duration'))
    .addHelpText('after', '\nExample:\n  cleanstream record --url mqtt://127.0.0.1:1883 --out var/feed.ndjson.gz --duration 10m')
    .action(async (opts: RecordFlags) => {
      const recorder = await startRecorder({
        ...mqttOptions(opts),
        file: opts.out,
        ...(opts.filter ? { filters: opts.filter } : {}),
        ...(opts.count === undefined ? {} : { limit: opts.count }),
        ...(opts.duration === undefined ? {} : { maxDurationMs: opts.duration }),
      });
      console.error(`recording ${opts.filter?.join(', ') ?? 'all readings'} from ${opts.url} to ${opts.out}; Ctrl-C stops`);
      const stop = interrupted();
      const progress = setInterval(() => process.stderr.write(`  ${recorder.count()} messages\n`), 10_000);
      const summary = await Promise.race([recorder.done, stop.promise.then(() => recorder.stop())]).finally(() => {
        clearInterval(progress);
        stop.dispose();
      });
      console.log(`recorded ${summary.messages} messages (${summary.readings} readings, ${summary.bytes} bytes) in ${(summary.durationMs / 1000).toFixed(1)} s to ${summary.file}`);
    });
}

interface ReplayFlags extends MqttFlags {
  speed: number;
  count?: number;
  duration?: number;
  progress: 'auto' | 'bar' | 'lines' | 'none';
}

export function registerReplayCommand(program: Command): void {
  mqttConnectionOptions(
    program
      .command('replay')
      .description('publish a recording (from record or simulate --out) to a broker again, keeping the order of messages per topic and overall')
      .argument('<file>', 'NDJSON recording (.gz is decompressed)'),
  )
    .option('--speed <factor>', 'time factor: 1 = as recorded, 60 = an hour a minute, 0 or max = as fast as the broker accepts', (v: string) => {
      if (v === 'max') return 0;
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`--speed must be 0, max or a positive factor, got ${v}`);
      return n;
    }, 1)
    .option('--count <n>', 'stop after this many messages', integer('--count', 1))
    .option('--duration <time>', 'stop after this much wall time: seconds, or 90s, 10m, 2h', durationMs('--duration'))
    .option('--progress <mode>', 'progress on stderr: auto (a bar on a terminal, a line every 5 s otherwise), bar, lines or none', 'auto')
    .addHelpText('after', '\nExamples:\n  cleanstream replay var/cod-upset.ndjson --speed 60\n  cleanstream replay var/feed.ndjson.gz --speed max --url mqtt://127.0.0.1:1883')
    .action(async (file: string, opts: ReplayFlags) => {
      if (!['auto', 'bar', 'lines', 'none'].includes(opts.progress)) throw new InvalidArgumentError(`--progress must be auto, bar, lines or none, got ${opts.progress}`);
      const abort = new AbortController();
      const stop = interrupted();
      void stop.promise.then(() => abort.abort());
      try {
        const summary = await replayFile(file, {
          ...mqttOptions(opts),
          speed: opts.speed,
          ...(opts.count === undefined ? {} : { limit: opts.count }),
          ...(opts.duration === undefined ? {} : { maxDurationMs: opts.duration }),
          progress: { mode: opts.progress },
          signal: abort.signal,
        });
        console.log(formatReplaySummary(summary));
      } finally {
        stop.dispose();
      }
    });
}
