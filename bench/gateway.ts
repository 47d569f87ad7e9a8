/**
 * Gateway footprint (issue 5, item 9): ONE gateway process (the real `cleanstream gateway` command) reading an OPC UA
 * server with 10,000 monitored items changing at 1 Hz and 50 Modbus TCP devices × 100 registers polled at 1 Hz,
 * publishing to an embedded broker, every batch through the disk queue. The gateway runs with the node flags of
 * bin/cleanstream.js's shebang, as the `cleanstream` command does. Prints that process's CPU (percent of one core),
 * its peak RSS (sampled every 200 ms) and end RSS over a measurement window after a warm-up, and the readings and
 * OPC UA notifications per second that reached the broker (a publish queue that lags shows here first).
 * Baseline, in the same run and against the same server: a bare node-opcua client process subscribing the same
 * 10,000 items and doing nothing with the values, with its peak and end RSS.
 * Targets: at most 10 % of one core and at most 250 MB peak RSS.
 * Run: node bin/run-ts.js bench/gateway.ts [--help]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import ModbusModule from 'modbus-serial';
import {
  AttributeIds,
  DataType,
  OPCUACertificateManager,
  OPCUAClient,
  OPCUAServer,
  StatusCodes,
  TimestampsToReturn,
  type UAVariable,
} from 'node-opcua';
import { startBroker } from '../bus/broker.ts';
import { freePort } from '../test/harness/ports.ts';
import { topics } from '../bus/topics.ts';
import { processUsage, type ProcessUsage } from './peers/process-usage.ts';
import { positive } from './peers/flags.ts';

const HELP = `usage: node bin/run-ts.js bench/gateway.ts [options]

Measures one gateway process (OPC UA + Modbus inputs, 1 Hz) and a bare node-opcua client baseline.

options:
  --items N        OPC UA monitored items (default 10000)
  --devices N      Modbus TCP devices, one server port each (default 50)
  --registers N    registers per device (default 100)
  --warmup S       seconds before measuring (default 20)
  --seconds S      measurement window in seconds (default 40)
  --gateway-node-args=A   extra node flags for the gateway process, space separated, after those of
                   bin/cleanstream.js's shebang (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", or "--trace-gc")
  --gateway-stdout F  write the gateway's stdout (its log, --trace-gc output) to file F
  --help           this text`;

const { values: args } = parseArgs({
  options: {
    items: { type: 'string' },
    devices: { type: 'string' },
    registers: { type: 'string' },
    warmup: { type: 'string' },
    seconds: { type: 'string' },
    'gateway-node-args': { type: 'string' },
    help: { type: 'boolean' },
    'baseline-client': { type: 'string' },
    'gateway-stdout': { type: 'string' },
  },
});


const ITEMS = positive('items', args.items, 10_000);
const REPO = path.resolve(import.meta.dirname, '..');
const nodeName = (i: number): string => `v${i}`;

/** Child mode: the baseline, a bare node-opcua client with one subscription on every item. */
async function baselineClient(endpoint: string): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cs-bench-baseline-'));
  const certificateManager = new OPCUACertificateManager({ rootFolder: dir, automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true });
  const client = OPCUAClient.create({ clientCertificateManager: certificateManager, endpointMustExist: false });
  await client.connect(endpoint);
  const session = await client.createSession();
  const subscription = await session.createSubscription2({ requestedPublishingInterval: 1000, requestedMaxKeepAliveCount: 10, requestedLifetimeCount: 60, maxNotificationsPerPublish: 0, publishingEnabled: true });
  let values = 0;
  // Servers cap the items of one CreateMonitoredItems call (node-opcua: 10,000, BadTooManyOperations beyond).
  for (let first = 0; first < ITEMS; first += 5_000) {
    const group = await subscription.monitorItems(
      Array.from({ length: Math.min(5_000, ITEMS - first) }, (_, i) => ({ nodeId: `ns=1;s=${nodeName(first + i)}`, attributeId: AttributeIds.Value })),
      { samplingInterval: 1000, queueSize: 10, discardOldest: true },
      TimestampsToReturn.Both,
    );
    group.on('changed', () => values++);
  }
  process.stdout.write('ready\n');
  setInterval(() => process.stdout.write(`values ${values}\n`), 5_000);
}

async function startOpcuaServer(port: number, pkiDir: string): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const server = new OPCUAServer({
    port,
    host: '127.0.0.1',
    hostname: '127.0.0.1',
    serverCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(pkiDir, 'server'), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true }),
    userCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(pkiDir, 'user'), automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true }),
    disableDiscovery: true,
    serverCapabilities: { maxMonitoredItemsPerSubscription: 100_000, maxMonitoredItems: 100_000 } as never,
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace!;
  const namespace = addressSpace.getOwnNamespace();
  const variables: UAVariable[] = Array.from({ length: ITEMS }, (_, i) =>
    namespace.addVariable({ organizedBy: addressSpace.rootFolder.objects, browseName: nodeName(i), nodeId: `s=${nodeName(i)}`, dataType: 'Double', minimumSamplingInterval: 0 }),
  );
  let tick = 0;
  const update = (): void => {
    tick++;
    const at = new Date();
    for (let i = 0; i < variables.length; i++) variables[i]!.setValueFromSource({ dataType: DataType.Double, value: tick + i / 1e5 }, StatusCodes.Good, at);
  };
  update();
  await server.start();
  const timer = setInterval(update, 1000);
  return {
    endpoint: `opc.tcp://127.0.0.1:${port}`,
    async stop() {
      clearInterval(timer);
      await server.shutdown(0);
    },
  };
}

async function startModbusDevices(count: number, registers: number): Promise<{ ports: number[]; stop(): Promise<void> }> {
  const servers: InstanceType<typeof ModbusModule.ServerTCP>[] = [];
  const ports: number[] = [];
  for (let d = 0; d < count; d++) {
    const port = await freePort();
    const words = Array.from({ length: registers }, (_, i) => (d * 100 + i) & 0xffff);
    const server = new ModbusModule.ServerTCP(
      {
        getMultipleHoldingRegisters: (address: number, n: number) => words.slice(address, address + n),
        getHoldingRegister: (address: number) => words[address] ?? 0,
      },
      { host: '127.0.0.1', port, unitID: 255 },
    );
    await new Promise<void>((resolve) => server.once('initialized', () => resolve()));
    server.on('socketError', () => undefined);
    servers.push(server);
    ports.push(port);
  }
  return { ports, stop: async () => void (await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))) };
}

/** CPU seconds (user + system) and RSS bytes of a process, from /proc (Linux). */
/** CPU seconds and RSS of a process (bench/peers/process-usage.ts); zeros once it is gone. */
const usageOf = (pid: number): ProcessUsage => processUsage(pid) ?? { cpuSeconds: 0, rssBytes: 0 };

function spawnChild(argv: string[]): ChildProcess {
  const child = spawn(process.execPath, argv, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr?.on('data', (d: Buffer) => {
    const text = d.toString();
    if (!text.includes('verify_pcks') && !text.includes('security-revert')) process.stderr.write(text);
  });
  return child;
}

async function main(): Promise<void> {
  if (args.help) {
    console.log(HELP);
    return;
  }
  if (args['baseline-client']) return baselineClient(args['baseline-client']);
  const devices = positive('devices', args.devices, 50);
  const registersPerDevice = positive('registers', args.registers, 100);
  const warmupS = positive('warmup', args.warmup, 20);
  const seconds = positive('seconds', args.seconds, 40);
  const dir = mkdtempSync(path.join(tmpdir(), 'cs-bench-gateway-'));
  const opcua = await startOpcuaServer(await freePort(), path.join(dir, 'server-pki'));
  const modbus = await startModbusDevices(devices, registersPerDevice);
  const broker = await startBroker();
  const observer = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  let readingsReceived = 0;
  let opcuaReceived = 0;
  const meterKey = Buffer.from('"meter"');
  const opcuaMeterKey = Buffer.from('"meter":"opcua-');
  observer.on('message', (_t, payload) => {
    // Count without a decode (this process shares the cores with the gateway): one "meter" key per reading.
    for (let at = payload.indexOf(meterKey); at !== -1; at = payload.indexOf(meterKey, at + meterKey.length)) readingsReceived++;
    for (let at = payload.indexOf(opcuaMeterKey); at !== -1; at = payload.indexOf(opcuaMeterKey, at + opcuaMeterKey.length)) opcuaReceived++;
  });
  await observer.subscribeAsync(topics.readingsFilter(), { qos: 1 });

  const target = { plant: 'bench-01', quantity: 'active_power', unit: 'kW' };
  const config = {
    id: 'gw-bench',
    mqtt: { url: broker.url },
    dataDir: path.join(dir, 'gw'),
    health: { intervalMs: 10_000 },
    inputs: [
      { type: 'opcua', endpoint: opcua.endpoint, publishingIntervalMs: 1000, nodes: Array.from({ length: ITEMS }, (_, i) => ({ ...target, meter: `opcua-${i}`, nodeId: `ns=1;s=${nodeName(i)}`, samplingIntervalMs: 1000 })) },
      ...modbus.ports.map((port, d) => ({
        type: 'modbus',
        host: '127.0.0.1',
        port,
        pollIntervalMs: 1000,
        registers: Array.from({ length: registersPerDevice }, (_, r) => ({ ...target, meter: `mb-${d}-${r}`, area: 'holding', address: r, type: 'uint16' })),
      })),
    ],
  };
  const configFile = path.join(dir, 'gateway.json.yaml');
  writeFileSync(configFile, JSON.stringify(config)); // JSON is YAML
  // The node flags of bin/cleanstream.js's shebang, as `cleanstream gateway` runs with them (spawning node on the file skips the shebang).
  const shebangFlags = (/^#!.*?\bnode\b(.*)$/m.exec(readFileSync(path.join(REPO, 'bin/cleanstream.js'), 'utf8'))?.[1] ?? '').split(' ').filter((a) => a.startsWith('--'));
  const gatewayNodeArgs = [...shebangFlags, ...(args['gateway-node-args'] ?? '').split(' ').filter(Boolean)];
  console.log(`gateway node flags: ${gatewayNodeArgs.join(' ') || '(none)'}`);
  const gateway = spawnChild([...gatewayNodeArgs, path.join(REPO, 'bin/cleanstream.js'), 'gateway', '--config', configFile, '--log-level', 'warn', '--stats-interval', '0']);
  // Its log goes nowhere unless asked for, but must be read: a full pipe would block the gateway's writes.
  if (args['gateway-stdout']) gateway.stdout?.pipe(createWriteStream(args['gateway-stdout']));
  else gateway.stdout?.resume();
  const baseline = spawnChild([path.join(REPO, 'bin/run-ts.js'), 'bench/gateway.ts', '--items', String(ITEMS), '--baseline-client', opcua.endpoint]);
  let baselineValues = 0;
  baseline.stdout?.on('data', (d: Buffer) => {
    const m = /values (\d+)\s*$/.exec(d.toString().trim());
    if (m) baselineValues = Number(m[1]);
  });
  const expected = ITEMS + devices * registersPerDevice;
  console.log(`gateway pid ${gateway.pid}: ${ITEMS} OPC UA items + ${devices} Modbus devices x ${registersPerDevice} registers = ${expected} readings/s expected; warm-up ${warmupS} s, window ${seconds} s`);
  try {
    await new Promise((r) => setTimeout(r, warmupS * 1000));
    const g0 = usageOf(gateway.pid!);
    const b0 = usageOf(baseline.pid!);
    const r0 = readingsReceived;
    const o0 = opcuaReceived;
    const v0 = baselineValues;
    const t0 = Date.now();
    let peakGatewayRss = g0.rssBytes;
    let peakBaselineRss = b0.rssBytes;
    // Sampled often: RSS peaks between full GCs last well under a second.
    while (Date.now() - t0 < seconds * 1000) {
      await new Promise((r) => setTimeout(r, 200));
      peakGatewayRss = Math.max(peakGatewayRss, usageOf(gateway.pid!).rssBytes);
      peakBaselineRss = Math.max(peakBaselineRss, usageOf(baseline.pid!).rssBytes);
    }
    const elapsed = (Date.now() - t0) / 1000;
    const g1 = usageOf(gateway.pid!);
    const b1 = usageOf(baseline.pid!);
    const gatewayCpu = ((g1.cpuSeconds - g0.cpuSeconds) / elapsed) * 100;
    const baselineCpu = ((b1.cpuSeconds - b0.cpuSeconds) / elapsed) * 100;
    const mb = (b: number): string => (b / 1024 / 1024).toFixed(0);
    console.log(`readings received at the broker: ${((readingsReceived - r0) / elapsed).toFixed(0)}/s (expected ${expected}/s), of which OPC UA notifications ${((opcuaReceived - o0) / elapsed).toFixed(0)}/s (expected ${ITEMS}/s)`);
    console.log(`gateway : CPU ${gatewayCpu.toFixed(1)} % of one core, RSS peak ${mb(peakGatewayRss)} MB, end ${mb(g1.rssBytes)} MB   targets: <= 10 %, peak <= 250 MB -> ${gatewayCpu <= 10 && peakGatewayRss <= 250 * 1024 * 1024 ? 'MET' : 'NOT MET'}`);
    console.log(`baseline: CPU ${baselineCpu.toFixed(1)} % of one core, RSS peak ${mb(peakBaselineRss)} MB, end ${mb(b1.rssBytes)} MB   bare node-opcua client, ${ITEMS} items; values seen in window: ${baselineValues - v0 > 0 ? `~${((baselineValues - v0) / elapsed).toFixed(0)}/s (reported every 5 s)` : 'n/a'}`);
  } finally {
    gateway.kill('SIGTERM');
    baseline.kill('SIGKILL');
    // A graceful stop (and a --cpu-prof profile being written) needs a few seconds.
    await Promise.race([new Promise((r) => gateway.once('exit', r)), new Promise((r) => setTimeout(r, 8_000))]);
    if (gateway.exitCode === null && gateway.signalCode === null) gateway.kill('SIGKILL');
    await observer.endAsync();
    await broker.stop();
    await modbus.stop();
    await opcua.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
