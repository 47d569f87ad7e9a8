/**
 * `cleanstream up`: the whole pipeline on one machine, on simulated plants.
 *
 * Starts (in order) InfluxDB (a child influxd, unless --influx-url is given), the embedded broker, the OPC UA and
 * Modbus simulators, one gateway per protocol, ingest and the dashboard; prints what runs where; stops in reverse
 * order on Ctrl-C or after --duration, flushing gateways and ingest first so that nothing accepted is lost.
 *
 * The simulators play a scenario in real time from the start (default simulators/scenarios/demo-live.yaml: faults the
 * shipped rules raise alerts for within three minutes, again every ten), or plain plants with --no-scenario. The rules
 * are reloaded when their file, or a limits or baseline file it names, changes (or on SIGHUP), as `cleanstream rules`
 * does; the dashboard's limit lines follow.
 *
 * Plants are split between the protocols as the scenario says, or without one by their order in the registry (even:
 * OPC UA, odd: Modbus), so that every plant is read once and both drivers are exercised.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadPlantRegistry, type PlantRegistry } from '../core/plants.ts';
import { startBroker } from '../bus/broker.ts';
import { startInfluxd } from '../deploy/influxd.ts';
import { simulatorLayout, type SimPoint } from '../simulators/layout.ts';
import { startOpcuaSimulator } from '../simulators/servers/opcua.ts';
import { startModbusSimulator } from '../simulators/servers/modbus.ts';
import { parseGatewayConfig } from '../gateway/config.ts';
import { startGateway } from '../gateway/main.ts';
import { parseIngestConfig } from '../ingest/config.ts';
import { startIngest } from '../ingest/service.ts';
import { loadRulesConfig, type RulesConfig } from '../rules/config.ts';
import { startRules } from '../rules/service.ts';
import { watchRulesFiles } from '../rules/watch.ts';
import { describeTimeline, loadScenario, startScenarioAt, type Protocol } from '../simulators/scenario.ts';
import { loadLimits } from '../dashboards/limits.ts';
import { startDashboard } from '../dashboards/server.ts';
import { pino, type Level } from 'pino';
import { CleanstreamError } from '../core/errors.ts';
import { TokenStore } from '../dashboards/auth.ts';
import { routeNodeOpcuaLogs } from '../gateway/drivers/opcua/library-logs.ts';

export const DEFAULT_PLANTS = 'deploy/demo/plants.yaml';
export const DEFAULT_SCENARIO = 'simulators/scenarios/demo-live.yaml';
const DEFAULT_SEED = 1;

export interface UpOptions {
  /** Default DEFAULT_PLANTS; with a scenario, the scenario's plants (naming another registry too is an error). */
  plants?: string;
  /** Default the scenario's, else DEFAULT_SEED. */
  seed?: number;
  /** A scenario file played in real time from the start; false: plain simulated plants. */
  scenario: string | false;
  host: string;
  dataDir: string;
  influxUrl?: string;
  influxDb: string;
  mqttPort: number;
  opcuaPort: number;
  modbusPort: number;
  httpPort: number;
  intervalMs: number;
  duration?: number;
  rules: string;
  logLevel: Level;
}

type Stop = { name: string; stop: () => Promise<void> };

function int(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${value}`);
    return n;
  };
}

export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description('run the whole pipeline on simulated plants: InfluxDB, broker, simulators, gateways, ingest, dashboard')
    .option('--scenario <file>', 'scenario played in real time from the start: its plants and scripted faults (times relative to its start; one with a fixed date starts now)', DEFAULT_SCENARIO)
    .option('--no-scenario', 'plain simulated plants, no scripted faults')
    .option('--plants <file>', `plant registry to simulate, with --no-scenario (default: ${DEFAULT_PLANTS})`)
    .option('--seed <n>', `simulator seed: the same seed gives the same meter values (default: the scenario's, or ${DEFAULT_SEED})`, int('--seed'))
    .option('--host <addr>', 'address every server listens on', '127.0.0.1')
    .option('--data-dir <dir>', 'folder for InfluxDB data, PKI and gateway state', 'var')
    .option('--influx-url <url>', 'use this InfluxDB (v1 API: 1.x, 2.x compat, 3.x) instead of starting a local influxd')
    .option('--influx-db <name>', 'InfluxDB database to write to', 'cleanstream')
    .option('--mqtt-port <n>', 'port of the embedded MQTT broker', int('--mqtt-port'), 1883)
    .option('--opcua-port <n>', 'port of the simulated OPC UA server', int('--opcua-port'), 4840)
    .option('--modbus-port <n>', 'port of the simulated Modbus TCP server', int('--modbus-port'), 5020)
    .option('--http-port <n>', 'port of the dashboard and API', int('--http-port'), 8080)
    .option('--interval <ms>', 'meter update and poll interval', int('--interval'), 1000)
    .option('--duration <seconds>', 'stop after this many seconds (default: run until Ctrl-C)', int('--duration'))
    .option('--rules <file>', 'rules to run on the live feed; reloaded when it (or a limits or baseline file it names) changes, or on SIGHUP', 'rules/sample.yaml')
    .option('--log-level <level>', 'log level of the stages (fatal, error, warn, info, debug)', 'warn')
    .action(async (opts: Omit<UpOptions, 'intervalMs'> & { interval: number }) => {
      await runUp({ ...opts, intervalMs: opts.interval });
    });
}

function gatewayInputs(points: SimPoint[], endpoint: string, modbus: { host: string; port: number }, intervalMs: number) {
  return {
    opcua: {
      type: 'opcua',
      endpoint,
      publishingIntervalMs: intervalMs,
      nodes: points.map((p) => ({ nodeId: p.opcua.nodeId, plant: p.plant, meter: p.meter, quantity: p.quantity, unit: p.unit, samplingIntervalMs: intervalMs })),
    },
    modbus: {
      type: 'modbus',
      host: modbus.host,
      port: modbus.port,
      pollIntervalMs: intervalMs,
      registers: points.map((p) => ({
        plant: p.plant,
        meter: p.meter,
        quantity: p.quantity,
        unit: p.unit,
        unitId: p.modbus.unitId,
        area: p.modbus.area,
        address: p.modbus.address,
        type: p.modbus.type,
        scale: p.modbus.scale,
      })),
    },
  };
}

function splitPlants(registry: PlantRegistry, protocols?: ReadonlyMap<string, Protocol>): { opcua: Set<string>; modbus: Set<string> } {
  const opcua = new Set<string>();
  const modbus = new Set<string>();
  registry.plants.forEach((p, i) => ((protocols?.get(p.id) ?? (i % 2 === 0 ? 'opcua' : 'modbus')) === 'opcua' ? opcua : modbus).add(p.id));
  return { opcua, modbus };
}

/** A clock time as the terminal's reader reads it: 21:40:40. */
const clockTime = (ms: number): string => new Date(ms).toTimeString().slice(0, 8);

/** The port named in an "address in use" failure, anywhere in an error's cause chain. */
function addressInUse(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE' || /EADDRINUSE/.test(e.message)) return true;
  }
  return false;
}

/**
 * Starts a server on a port the user chose (or its default): when the port is taken, `up` stops at once and says
 * which flag picks another, instead of a bare EADDRINUSE.
 */
async function onPort<T>(what: string, flag: string, host: string, port: number, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    if (!addressInUse(err)) throw err;
    throw new CleanstreamError('PORT_IN_USE', `${what}: port ${port} on ${host} is already in use; stop what uses it or choose another with ${flag} <port>`, { host, port, flag }, { cause: err });
  }
}

export async function runUp(opts: UpOptions): Promise<void> {
  const logger = pino({ level: opts.logLevel });
  routeNodeOpcuaLogs(logger);
  const scenario = opts.scenario ? loadScenario(opts.scenario) : undefined;
  if (scenario && opts.plants !== undefined) {
    throw new CleanstreamError('UP_PLANTS_WITH_SCENARIO', `--plants ${opts.plants}: the scenario ${opts.scenario} brings its own plants; add --no-scenario to simulate ${opts.plants} without scripted faults`, { plants: opts.plants, scenario: opts.scenario });
  }
  const registry = scenario?.registry ?? loadPlantRegistry(opts.plants ?? DEFAULT_PLANTS);
  const seed = opts.seed ?? scenario?.seed ?? DEFAULT_SEED;
  const dataDir = path.resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const running: Stop[] = [];
  const lines: string[] = [];
  const stopAll = async (): Promise<void> => {
    for (const item of running.reverse()) {
      try {
        await item.stop();
      } catch (err) {
        console.error(`cleanstream: stopping ${item.name} failed: ${(err as Error).message}`);
      }
    }
  };

  try {
    let influxUrl = opts.influxUrl;
    if (!influxUrl) {
      const influxd = await startInfluxd({ dataDir: path.join(dataDir, 'influxdb'), host: opts.host });
      running.push({ name: 'influxd', stop: () => influxd.stop() });
      influxUrl = influxd.url;
      lines.push(`InfluxDB        ${influxd.url}  (database ${opts.influxDb}, data ${influxd.dataDir})`);
    } else {
      lines.push(`InfluxDB        ${influxUrl}  (external, database ${opts.influxDb})`);
    }

    const broker = await onPort('MQTT broker', '--mqtt-port', opts.host, opts.mqttPort, () => startBroker({ host: opts.host, port: opts.mqttPort }));
    running.push({ name: 'broker', stop: () => broker.stop() });
    lines.push(`MQTT broker     ${broker.url}  (aedes, embedded)`);

    // the scenario's time starts now, on the next whole second: its faults at their offsets from here, in real time
    const played = scenario && startScenarioAt(scenario, Math.ceil(Date.now() / 1000) * 1000);
    const faults = played?.faults ?? [];
    const opcuaSim = await onPort('OPC UA simulator', '--opcua-port', opts.host, opts.opcuaPort, () =>
      startOpcuaSimulator({ registry, seed, host: opts.host, port: opts.opcuaPort, pkiDir: path.join(dataDir, 'pki', 'simulator'), updateIntervalMs: opts.intervalMs, faults }));
    running.push({ name: 'OPC UA simulator', stop: () => opcuaSim.stop() });
    const modbusSim = await onPort('Modbus simulator', '--modbus-port', opts.host, opts.modbusPort, () =>
      startModbusSimulator({ registry, seed, host: opts.host, port: opts.modbusPort, updateIntervalMs: opts.intervalMs, faults }));
    running.push({ name: 'Modbus simulator', stop: () => modbusSim.stop() });
    lines.push(`OPC UA sim      ${opcuaSim.endpoint}`);
    lines.push(`Modbus sim      ${modbusSim.host}:${modbusSim.port}  (unit id per plant)`);

    const ingestConfig = parseIngestConfig('cleanstream up (ingest)', {
      mqtt: { url: broker.url },
      clientId: 'cleanstream-ingest',
      influx: { url: influxUrl, database: opts.influxDb },
      batch: { maxLines: 5000, maxDelayMs: 500 },
      // the per-minute pollutant loads that reductions are summed from; a sample holds for up to 3 scan intervals
      loads: { maxGapMs: Math.max(3 * opts.intervalMs, 3_000) },
    });
    const ingest = await startIngest(ingestConfig, { registry });
    running.push({ name: 'ingest', stop: () => ingest.stop() });
    lines.push(`ingest          ${broker.url} -> ${influxUrl}/write?db=${opts.influxDb}`);

    const loadRules = (): RulesConfig => {
      const config = loadRulesConfig(opts.rules, { ...process.env, MQTT_URL: broker.url, INFLUX_URL: influxUrl, INFLUX_DB: opts.influxDb });
      config.checkpoint.file = path.join(dataDir, 'rules-checkpoint.json');
      return config;
    };
    const rulesConfig = loadRules();
    const rulesLogger = logger.child({ name: 'rules' });
    const rules = await startRules(rulesConfig, { registry, logger: rulesLogger });
    running.push({ name: 'rules', stop: () => rules.stop() });
    lines.push(`rules           ${opts.rules}: alerts on ${broker.url} cleanstream/v1/alerts/#`);
    lines.push(`                reloaded when ${opts.rules} (or a limits or baseline file it names) changes, or on SIGHUP`);

    const layout = simulatorLayout(registry);
    const split = splitPlants(registry, scenario?.protocols);
    const inputs = gatewayInputs(layout, opcuaSim.endpoint, modbusSim, opts.intervalMs);
    const gateways = [];
    for (const protocol of ['opcua', 'modbus'] as const) {
      const plants = split[protocol];
      if (plants.size === 0) continue;
      const input = inputs[protocol];
      const filtered = protocol === 'opcua'
        ? { ...inputs.opcua, nodes: inputs.opcua.nodes.filter((n) => plants.has(n.plant)) }
        : { ...inputs.modbus, registers: inputs.modbus.registers.filter((r) => plants.has(r.plant)) };
      const id = `gw-${protocol}`;
      const config = parseGatewayConfig(`cleanstream up (${id})`, {
        id,
        mqtt: { url: broker.url, clientId: id },
        dataDir: path.join(dataDir, 'gateway', id),
        inputs: [filtered ?? input],
      });
      const gateway = await startGateway(config, { logger: logger.child({ name: 'gateway' }) });
      gateways.push(gateway);
      running.push({ name: id, stop: async () => { await gateway.flush(); await gateway.stop(); } });
      lines.push(`gateway ${protocol.padEnd(7)} ${id}: ${[...plants].join(', ')}`);
    }

    const tokens = new TokenStore();
    const admin = tokens.generate({ name: 'up-admin', role: 'admin' });
    // the same limits files as rules, so that the page's limit lines and the alerts agree, after a reload too
    let pageLimits = loadLimits(rulesConfig.limits);
    const dashboard = await onPort('dashboard', '--http-port', opts.host, opts.httpPort, () => startDashboard({
      registry,
      influx: { url: influxUrl, database: opts.influxDb },
      mqtt: { url: broker.url },
      tokens,
      limits: { limitsFor: (plant, atMs) => pageLimits.limitsFor(plant, atMs) },
      host: opts.host,
      port: opts.httpPort,
    }));
    running.push({ name: 'dashboard', stop: () => dashboard.stop() });
    lines.push(`dashboard       ${dashboard.url}/?token=${admin.token}`);
    lines.push(`API docs        ${dashboard.url}/docs?token=${admin.token}`);

    const watcher = watchRulesFiles({
      configFile: opts.rules,
      load: loadRules,
      rules,
      first: rulesConfig,
      intervalMs: 1000,
      log: rulesLogger,
      onReloaded: (config, result) => {
        pageLimits = loadLimits(config.limits);
        console.log(`cleanstream: rules reloaded from ${opts.rules}: ${result.added.length} added, ${result.changed.length} changed, ${result.removed.length} removed; limits read again`);
      },
    });
    const reloadOnHup = (): void => watcher.reloadNow();
    process.on('SIGHUP', reloadOnHup);
    running.push({ name: 'rules watch', stop: async () => { process.off('SIGHUP', reloadOnHup); watcher.stop(); } });

    console.log(`cleanstream is up (${registry.plants.length} simulated plants, seed ${seed})`);
    for (const line of lines) console.log(`  ${line}`);
    if (played) console.log(`  demo (${played.name}): ${describeTimeline(played, clockTime)}; open the dashboard to see the alerts`);
    else console.log('  no scenario: plain simulated plants, no scripted faults');
    console.log(opts.duration ? `  stopping after ${opts.duration} s` : '  Ctrl-C stops');

    await new Promise<void>((resolve) => {
      const done = () => resolve();
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
      if (opts.duration) setTimeout(done, opts.duration * 1000).unref();
    });
    console.log('cleanstream: stopping');
    for (const gateway of gateways) await gateway.flush();
    await ingest.flush();
    const stats = ingest.stats();
    console.log(`cleanstream: ingest wrote ${stats.writtenReadings} readings, rejected ${stats.rejectedMessages} messages`);
  } finally {
    await stopAll();
  }
}

