/**
 * Simulator scale: 1,000 plants × 50 meters (a synthetic registry built here). Generates the gateway feed on the
 * virtual clock for a bounded number of scans or seconds and prints readings/s generated; then serves the same
 * plants over several Modbus TCP servers (at most 247 unit ids each) read back by modbus-serial clients on loopback;
 * then over several OPC UA servers, run in child processes so that servers and clients do not share one core, each
 * point monitored by a node-opcua client subscription as a gateway would. Prints readings/s served and RSS for each.
 * Run: node bin/run-ts.js bench/simulate.ts [--help]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import ModbusModule from 'modbus-serial';
import {
  AttributeIds,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
  type ClientSession,
  type ClientSubscription,
  type NotificationMessage,
} from 'node-opcua';
import { INDUSTRIES, plantRegistryFrom, type PlantRegistry } from '../core/plants.ts';
import type { QuantityId } from '../core/catalog.ts';
import { generateFeed } from '../simulators/feed.ts';
import { registerCount, simulatorLayout } from '../simulators/layout.ts';
import type { Scenario } from '../simulators/scenario.ts';
import { startModbusSimulator, type ModbusSimulator } from '../simulators/servers/modbus.ts';
import { startOpcuaSimulator, type OpcuaSimulator } from '../simulators/servers/opcua.ts';
import { freePort } from '../test/harness/ports.ts';

const HELP = `usage: node bin/run-ts.js bench/simulate.ts [options]

Generates and serves simulated meters at scale and prints readings/s.

options:
  --plants N          plants in the synthetic registry (default 1000)
  --meters N          meters per plant (default 50; one quantity each)
  --steps N           scans to generate, each one batch per plant (default 40)
  --seconds S         stop generating after S seconds (default 20)
  --serve-seconds S   read the Modbus servers for S seconds; 0 skips serving (default 10)
  --per-server N      plants (unit ids) per Modbus server, at most 247 (default 200)
  --opcua-seconds S   measure the OPC UA subscriptions for S seconds; 0 skips OPC UA (default 15)
  --opcua-servers N   OPC UA server instances (ports) sharing the plants (default 4)
  --opcua-processes N child processes the OPC UA servers are spread over (default 2: one per core here)
  --opcua-plants N    plants served over OPC UA (default: all of --plants)
  --opcua-interval MS server update interval = subscription publishing interval (default 1000)
  --opcua-sampling MS sampling interval the monitored items ask for: 0 = on each change, no server timer per
                      item (default 0)
  --opcua-batch N     monitored items per CreateMonitoredItems call (default 1000)
  --start-timeout S   give up if the OPC UA servers are not up after S seconds (default 300)
  --seed N            model seed (default 1)
  --help              this text`;

function positive(name: string, text: string | undefined, fallback: number, allowZero = false): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    console.error(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}

const { values } = parseArgs({
  options: {
    plants: { type: 'string' },
    meters: { type: 'string' },
    steps: { type: 'string' },
    seconds: { type: 'string' },
    'serve-seconds': { type: 'string' },
    'per-server': { type: 'string' },
    'opcua-seconds': { type: 'string' },
    'opcua-servers': { type: 'string' },
    'opcua-processes': { type: 'string' },
    'opcua-plants': { type: 'string' },
    'opcua-interval': { type: 'string' },
    'opcua-sampling': { type: 'string' },
    'opcua-batch': { type: 'string' },
    'start-timeout': { type: 'string' },
    'opcua-child': { type: 'string' },
    seed: { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const plantCount = Math.floor(positive('plants', values.plants, 1000));
const meterCount = Math.floor(positive('meters', values.meters, 50));
const steps = Math.floor(positive('steps', values.steps, 40));
const seconds = positive('seconds', values.seconds, 20);
const serveSeconds = positive('serve-seconds', values['serve-seconds'], 10, true);
const perServer = Math.min(247, Math.floor(positive('per-server', values['per-server'], 200)));
const seed = Math.floor(positive('seed', values.seed, 1, true));
const opcuaSeconds = positive('opcua-seconds', values['opcua-seconds'], 15, true);
const opcuaServers = Math.floor(positive('opcua-servers', values['opcua-servers'], 4));
const opcuaProcesses = Math.floor(positive('opcua-processes', values['opcua-processes'], 2));
const opcuaPlants = Math.min(plantCount, Math.floor(positive('opcua-plants', values['opcua-plants'], plantCount)));
const opcuaInterval = Math.floor(positive('opcua-interval', values['opcua-interval'], 1000));
const opcuaSampling = Math.floor(positive('opcua-sampling', values['opcua-sampling'], 0, true));
const opcuaBatch = Math.min(10_000, Math.floor(positive('opcua-batch', values['opcua-batch'], 1000)));
const startTimeout = positive('start-timeout', values['start-timeout'], 300);

/** A mix like a real plant's: mostly water and energy gauges, one stack, two counters. */
const METER_QUANTITIES: QuantityId[] = ['wastewater_flow', 'cod', 'nh3n', 'ph', 'active_power', 'steam_flow', 'natural_gas_flow', 'flue_gas_flow', 'o2', 'so2', 'nox', 'particulate', 'wastewater_volume', 'active_energy'];

function syntheticRegistry(plants: number, meters: number): PlantRegistry {
  return plantRegistryFrom('synthetic registry', {
    plants: Array.from({ length: plants }, (_, p) => ({
      id: `plant-${String(p + 1).padStart(4, '0')}`,
      name: { en: `Plant ${p + 1}`, zh: `工厂${p + 1}` },
      region: 'bench',
      industry: INDUSTRIES[p % INDUSTRIES.length],
      meters: Array.from({ length: meters }, (_, m) => ({ id: `m${String(m + 1).padStart(2, '0')}`, location: 'site', quantities: [METER_QUANTITIES[m % METER_QUANTITIES.length]] })),
    })),
  });
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const registry = syntheticRegistry(plantCount, meterCount);
const startMs = Date.UTC(2024, 5, 3, 0);

/** Split plants into `parts` registries of near-equal size, in order. */
function split(plants: PlantRegistry['plants'], parts: number): PlantRegistry[] {
  const size = Math.ceil(plants.length / parts);
  const groups: PlantRegistry[] = [];
  for (let i = 0; i < plants.length; i += size) groups.push(plantRegistryFrom('synthetic registry', { plants: plants.slice(i, i + size) }));
  return groups;
}

/** Messages between the bench and an OPC UA child process. */
type ChildMessage =
  /** `plants[i]`: the index of the first plant and the number of plants endpoint i serves. */
  | { type: 'ready'; endpoints: string[]; plants: [number, number][]; startSeconds: number; rss: number }
  | { type: 'failed'; message: string }
  | { type: 'usage'; cpuSeconds: number; rss: number };
type ParentMessage = { type: 'mark' } | { type: 'usage' } | { type: 'stop' };

if (values['opcua-child'] !== undefined) {
  await runOpcuaChild(values['opcua-child']);
  process.exit(0);
}

/**
 * A child process: serve its share of the plants (`first:count` of the synthetic registry) over `--opcua-servers`
 * servers at the given update interval, report when up, and report its CPU time since the last mark on request.
 */
async function runOpcuaChild(spec: string): Promise<void> {
  const send = (m: ChildMessage) => process.send?.(m);
  const [first, count, servers] = spec.split(':').map(Number) as [number, number, number];
  const pkiDir = mkdtempSync(path.join(tmpdir(), 'cleanstream-bench-pki-'));
  const running: OpcuaSimulator[] = [];
  const served: [number, number][] = [];
  let mark = process.cpuUsage();
  const stopped = new Promise<void>((resolve) => {
    process.on('message', (m: ParentMessage) => {
      if (m.type === 'mark') mark = process.cpuUsage();
      else if (m.type === 'usage') {
        const used = process.cpuUsage(mark);
        send({ type: 'usage', cpuSeconds: (used.user + used.system) / 1e6, rss: process.memoryUsage().rss });
      } else resolve();
    });
    process.on('disconnect', () => resolve());
  });
  try {
    const started = performance.now();
    let next = first;
    for (const group of split(registry.plants.slice(first, first + count), servers)) {
      served.push([next, group.plants.length]);
      next += group.plants.length;
      running.push(await startOpcuaSimulator({ registry: group, seed, port: await freePort(), pkiDir, updateIntervalMs: opcuaInterval }));
    }
    send({ type: 'ready', endpoints: running.map((r) => r.endpoint), plants: served, startSeconds: (performance.now() - started) / 1000, rss: process.memoryUsage().rss });
    await stopped;
  } catch (err) {
    send({ type: 'failed', message: (err as Error).message });
  } finally {
    await Promise.allSettled(running.map((r) => r.stop()));
    rmSync(pkiDir, { recursive: true, force: true });
  }
}

console.log(`${plantCount} plants × ${meterCount} meters = ${plantCount * meterCount} points; RSS ${mb(process.memoryUsage().rss)}`);

// 1. generated: the feed a gateway would publish, on the virtual clock (one scan a minute of plant time)
{
  const scenario: Scenario = {
    source: 'bench',
    name: 'bench',
    description: '',
    seed,
    startMs,
    durationMs: steps * 60_000,
    stepMs: 60_000,
    registry,
    protocols: new Map(registry.plants.map((p) => [p.id, 'opcua'])),
    faults: [],
  };
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let messages = 0;
  let readings = 0;
  let bytes = 0;
  for (const m of generateFeed(scenario)) {
    messages++;
    readings += m.payload.readings.length;
    bytes += JSON.stringify(m).length;
    if ((messages & 255) === 0 && performance.now() > deadline) break;
  }
  const s = (performance.now() - started) / 1000;
  console.log(
    `generated: ${readings} readings in ${messages} batches (${mb(bytes)} of NDJSON) in ${s.toFixed(2)} s = ${Math.round(readings / s)} readings/s ` +
      `(virtual clock ${Math.round(((readings / (plantCount * meterCount)) * 60) / s)}× real time for the whole fleet at one scan a minute); RSS ${mb(process.memoryUsage().rss)}`,
  );
}

// 2. served: several Modbus servers, one unit id per plant, each plant's registers read in one request per scan
if (serveSeconds > 0) {
  const Client = ModbusModule.default;
  const servers: ModbusSimulator[] = [];
  const groups: PlantRegistry[] = [];
  for (let i = 0; i < registry.plants.length; i += perServer) {
    groups.push(plantRegistryFrom('synthetic registry', { plants: registry.plants.slice(i, i + perServer) }));
  }
  const clock = (): number => startMs;
  try {
    for (const group of groups) servers.push(await startModbusSimulator({ registry: group, seed, port: await freePort(), clock }));
    const units = groups.map((group) => {
      const layout = simulatorLayout(group);
      return group.plants.map((plant, i) => {
        const own = layout.filter((p) => p.plant === plant.id);
        const last = own.at(-1);
        return { unitId: i + 1, registers: last ? last.modbus.address + registerCount(last.modbus.type) : 0, points: own.length };
      });
    });
    const clients = await Promise.all(
      servers.map(async (server) => {
        const client = new Client();
        client.setTimeout(5_000);
        await client.connectTCP('127.0.0.1', { port: server.port });
        return client;
      }),
    );
    console.log(`serving on ${servers.length} Modbus servers (${servers.map((s) => s.port).join(', ')}), ≤ ${perServer} unit ids each; RSS ${mb(process.memoryUsage().rss)}`);
    const started = performance.now();
    const deadline = started + serveSeconds * 1000;
    let served = 0;
    let requests = 0;
    let errors = 0;
    // one scan loop per server connection, as one gateway per server would poll
    await Promise.all(
      clients.map(async (client, s) => {
        const own = units[s] ?? [];
        while (performance.now() < deadline) {
          for (const unit of own) {
            if (performance.now() >= deadline) break;
            client.setID(unit.unitId);
            for (let address = 0; address < unit.registers; address += 125) {
              try {
                await client.readHoldingRegisters(address, Math.min(125, unit.registers - address));
                requests++;
              } catch {
                errors++;
              }
            }
            served += unit.points;
          }
        }
      }),
    );
    const s = (performance.now() - started) / 1000;
    console.log(`served: ${served} readings in ${requests} requests (${errors} errors) in ${s.toFixed(2)} s = ${Math.round(served / s)} readings/s, ${Math.round(requests / s)} requests/s; RSS ${mb(process.memoryUsage().rss)}`);
    await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.close(() => resolve()))));
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop()));
  }
}

// 3. served over OPC UA: servers in child processes, every point monitored by one subscription per server
if (opcuaSeconds > 0) {
  const points = opcuaPlants * meterCount;
  const target = (points * 1000) / opcuaInterval;
  const processes = Math.min(opcuaProcesses, opcuaServers, opcuaPlants);
  const runTs = path.resolve(import.meta.dirname, '../bin/run-ts.js');
  const share = Math.ceil(opcuaPlants / processes);
  const serversEach = Math.ceil(opcuaServers / processes);
  const children: { child: ChildProcess; next: (type: ChildMessage['type']) => Promise<ChildMessage> }[] = [];
  const clientPki = mkdtempSync(path.join(tmpdir(), 'cleanstream-bench-client-pki-'));
  const clientCertificateManager = new OPCUACertificateManager({ rootFolder: clientPki, automaticallyAcceptUnknownCertificate: true });
  const sessions: { client: OPCUAClient; session: ClientSession; subscription: ClientSubscription }[] = [];
  const forwarded = ['--plants', String(plantCount), '--meters', String(meterCount), '--seed', String(seed), '--opcua-interval', String(opcuaInterval)];
  try {
    for (let first = 0; first < opcuaPlants; first += share) {
      const count = Math.min(share, opcuaPlants - first);
      // node-opcua logs to stdout: keep the child's stdout out of the bench's output
      const child = fork(runTs, [path.resolve(import.meta.filename), ...forwarded, '--opcua-child', `${first}:${count}:${serversEach}`], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      const waiting = new Map<ChildMessage['type'], (m: ChildMessage) => void>();
      child.on('message', (m: ChildMessage) => {
        waiting.get(m.type)?.(m);
        if (m.type === 'failed') waiting.get('ready')?.(m);
      });
      const next = (type: ChildMessage['type']) =>
        new Promise<ChildMessage>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`OPC UA child: no ${type} within ${startTimeout} s`)), startTimeout * 1000);
          child.once('exit', (code) => reject(new Error(`OPC UA child exited (${code}) while waiting for ${type}`)));
          waiting.set(type, (m) => {
            clearTimeout(timer);
            resolve(m);
          });
        });
      children.push({ child, next });
    }
    const ready = await Promise.all(children.map((c) => c.next('ready')));
    const endpoints: string[] = [];
    const plantsOf: [number, number][] = [];
    for (const m of ready) {
      if (m.type === 'failed') throw new Error(`OPC UA child failed: ${m.message}`);
      if (m.type === 'ready') {
        endpoints.push(...m.endpoints);
        plantsOf.push(...m.plants);
      }
    }
    const slowest = Math.max(...ready.map((m) => (m.type === 'ready' ? m.startSeconds : 0)));
    const serverRss = ready.reduce((n, m) => n + (m.type === 'ready' ? m.rss : 0), 0);
    console.log(`OPC UA: ${points} points on ${endpoints.length} servers in ${children.length} process(es), up in ${slowest.toFixed(1)} s; server RSS ${mb(serverRss)}`);

    // one client, session and subscription per server, as one gateway per server would subscribe
    let notified = 0;
    const subscribeStarted = performance.now();
    for (const [s, endpoint] of endpoints.entries()) {
      const client = OPCUAClient.create({
        endpointMustExist: false,
        securityMode: MessageSecurityMode.None,
        securityPolicy: SecurityPolicy.None,
        connectionStrategy: { maxRetry: 2, initialDelay: 200, maxDelay: 1_000 },
        clientCertificateManager,
        requestedSessionTimeout: 120_000,
        // creating thousands of monitored items on a busy server takes longer than the 15 s default
        defaultTransactionTimeout: 120_000,
      });
      await client.connect(endpoint);
      const session = await client.createSession();
      const subscription = await session.createSubscription2({
        requestedPublishingInterval: opcuaInterval,
        requestedMaxKeepAliveCount: 10,
        requestedLifetimeCount: 60,
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 1,
      });
      subscription.on('raw_notification', (n: NotificationMessage) => {
        for (const data of n.notificationData ?? []) {
          if (data && 'monitoredItems' in data && Array.isArray(data.monitoredItems)) notified += data.monitoredItems.length;
        }
      });
      sessions.push({ client, session, subscription });
      const [firstPlant, plantsHere] = plantsOf[s] ?? [0, 0];
      const group = registry.plants.slice(firstPlant, firstPlant + plantsHere);
      const items = group.flatMap((plant) => plant.meters.flatMap((m) => m.quantities.map((q) => ({ nodeId: `ns=1;s=${plant.id}.${m.id}.${q}`, attributeId: AttributeIds.Value }))));
      // node-opcua's server takes at most 10,000 items per CreateMonitoredItems call (maxMonitoredItemsPerCall)
      for (let i = 0; i < items.length; i += opcuaBatch) {
        await subscription.monitorItems(items.slice(i, i + opcuaBatch), { samplingInterval: opcuaSampling, queueSize: 1, discardOldest: true }, TimestampsToReturn.Source);
      }
    }
    console.log(`subscribed to ${points} points (sampling interval ${opcuaSampling} ms) in ${((performance.now() - subscribeStarted) / 1000).toFixed(1)} s; client RSS ${mb(process.memoryUsage().rss)}`);

    // let the first full publish (every item's initial value) pass, then measure
    await new Promise((resolve) => setTimeout(resolve, 3 * opcuaInterval));
    for (const c of children) c.child.send({ type: 'mark' } satisfies ParentMessage);
    const before = notified;
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, opcuaSeconds * 1000));
    const got = notified - before;
    const s = (performance.now() - started) / 1000;
    const clientCpu = process.cpuUsage(cpuBefore);
    const usage = await Promise.all(children.map(async (c) => {
      const reply = c.next('usage');
      c.child.send({ type: 'usage' } satisfies ParentMessage);
      return reply;
    }));
    const serverCpu = usage.reduce((n, m) => n + (m.type === 'usage' ? m.cpuSeconds : 0), 0);
    const serverRssNow = usage.reduce((n, m) => n + (m.type === 'usage' ? m.rss : 0), 0);
    const rate = got / s;
    console.log(
      `served (OPC UA): ${got} readings notified in ${s.toFixed(2)} s = ${Math.round(rate)} readings/s (target ${Math.round(target)}/s = every point every ${opcuaInterval} ms: ${Math.round((rate / target) * 100)}%); ` +
        `server CPU ${((serverCpu / s) * 100).toFixed(0)}% of a core, RSS ${mb(serverRssNow)}; client CPU ${(((clientCpu.user + clientCpu.system) / 1e6 / s) * 100).toFixed(0)}% of a core, RSS ${mb(process.memoryUsage().rss)}`,
    );
    if (rate < target * 0.95) console.log(`OPC UA did not reach ${Math.round(target)} readings/s here: ${Math.round(rate)} readings/s reached`);
  } finally {
    for (const { client, session } of sessions) {
      await session.close().catch(() => undefined);
      await client.disconnect().catch(() => undefined);
    }
    await clientCertificateManager.dispose();
    rmSync(clientPki, { recursive: true, force: true });
    await Promise.allSettled(
      children.map(
        ({ child }) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
            child.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            child.send({ type: 'stop' } satisfies ParentMessage);
          }),
      ),
    );
  }
}
