/**
 * `cleanstream up`: the whole pipeline on one machine, on simulated plants.
 *
 * Starts (in order) InfluxDB (a child influxd, unless --influx-url is given), the embedded broker, the OPC UA and
 * Modbus simulators, one gateway per protocol, ingest and the dashboard; prints what runs where; stops in reverse
 * order on Ctrl-C or after --duration, flushing gateways and ingest first so that nothing accepted is lost.
 *
 * Plants are split between the protocols by their order in the registry (even: OPC UA, odd: Modbus), so that
 * every plant is read once and both drivers are exercised.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadPlantRegistry, type PlantRegistry } from '../core/plants.ts';
import { startBroker } from '../deploy/broker.ts';
import { startInfluxd } from '../deploy/influxd.ts';
import { simulatorLayout, type SimPoint } from '../simulators/layout.ts';
import { startOpcuaSimulator } from '../simulators/servers/opcua.ts';
import { startModbusSimulator } from '../simulators/servers/modbus.ts';
import { parseGatewayConfig } from '../gateway/config.ts';
import { startGateway } from '../gateway/main.ts';
import { parseIngestConfig } from '../ingest/config.ts';
import { startIngest } from '../ingest/service.ts';
import { loadRulesConfig } from '../rules/config.ts';
import { startRules } from '../rules/service.ts';
import { startDashboard } from '../dashboards/server.ts';
import { pino, type Level } from 'pino';
import { CleanstreamError } from '../core/errors.ts';
import { TokenStore } from '../dashboards/auth.ts';
import { routeNodeOpcuaLogs } from '../gateway/drivers/opcua/library-logs.ts';

export interface UpOptions {
  plants: string;
  seed: number;
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
    .option('--plants <file>', 'plant registry to simulate', 'deploy/demo/plants.yaml')
    .option('--seed <n>', 'simulator seed: the same seed gives the same meter values', int('--seed'), 1)
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
    .option('--rules <file>', 'rules to run on the live feed', 'rules/sample.yaml')
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

function splitPlants(registry: PlantRegistry): { opcua: Set<string>; modbus: Set<string> } {
  const opcua = new Set<string>();
  const modbus = new Set<string>();
  registry.plants.forEach((p, i) => (i % 2 === 0 ? opcua : modbus).add(p.id));
  return { opcua, modbus };
}

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
  const registry = loadPlantRegistry(opts.plants);
  const logger = pino({ level: opts.logLevel });
  routeNodeOpcuaLogs(logger);
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

    const opcuaSim = await onPort('OPC UA simulator', '--opcua-port', opts.host, opts.opcuaPort, () =>
      startOpcuaSimulator({ registry, seed: opts.seed, host: opts.host, port: opts.opcuaPort, pkiDir: path.join(dataDir, 'pki', 'simulator'), updateIntervalMs: opts.intervalMs }));
    running.push({ name: 'OPC UA simulator', stop: () => opcuaSim.stop() });
    const modbusSim = await onPort('Modbus simulator', '--modbus-port', opts.host, opts.modbusPort, () =>
      startModbusSimulator({ registry, seed: opts.seed, host: opts.host, port: opts.modbusPort, updateIntervalMs: opts.intervalMs }));
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

    const rulesConfig = loadRulesConfig(opts.rules, { ...process.env, MQTT_URL: broker.url, INFLUX_URL: influxUrl, INFLUX_DB: opts.influxDb });
    rulesConfig.checkpoint.file = path.join(dataDir, 'rules-checkpoint.json');
    const rules = await startRules(rulesConfig, { registry, logger: logger.child({ name: 'rules' }) });
    running.push({ name: 'rules', stop: () => rules.stop() });
    lines.push(`rules           ${opts.rules}: alerts on ${broker.url} cleanstream/v1/alerts/#`);

    const layout = simulatorLayout(registry);
    const split = splitPlants(registry);
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
    const dashboard = await onPort('dashboard', '--http-port', opts.host, opts.httpPort, () => startDashboard({
      registry,
      influx: { url: influxUrl, database: opts.influxDb },
      mqtt: { url: broker.url },
      tokens,
      // the same limits files as rules, so that the page's limit lines and the alerts agree
      limits: rulesConfig.limits,
      host: opts.host,
      port: opts.httpPort,
    }));
    running.push({ name: 'dashboard', stop: () => dashboard.stop() });
    lines.push(`dashboard       ${dashboard.url}/?token=${admin.token}`);
    lines.push(`API docs        ${dashboard.url}/docs?token=${admin.token}`);

    console.log(`cleanstream is up (${registry.plants.length} simulated plants, seed ${opts.seed})`);
    for (const line of lines) console.log(`  ${line}`);
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

