/**
 * Node-RED as the bench's peer: installed on demand into var/bench-peers (never a dependency of cleanstream), run
 * as a child process on loopback with a generated flow doing what ingest does:
 *
 *   mqtt in (QoS 1, the readings filter) → json → function (one point per reading) → influxdb out (v1.x, precision ms)
 *
 * Versions: node-red 4.1.8 (the 5.x line's package.json asks for Node >= 22.9, this project runs on Node 20) with
 * node-red-contrib-influxdb 0.7.0, whose `influxdb out` node speaks InfluxDB 1.x's /write.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const NODE_RED_PACKAGES = ['node-red@4.1.8', 'node-red-contrib-influxdb@0.7.0'];

/** Installs Node-RED into `<repo>/var/bench-peers` unless it is there; returns the path of red.js. */
export function ensureNodeRed(repo: string, log: (line: string) => void = () => undefined): string {
  const prefix = path.join(repo, 'var/bench-peers');
  const redJs = path.join(prefix, 'node_modules/node-red/red.js');
  const contrib = path.join(prefix, 'node_modules/node-red-contrib-influxdb/package.json');
  if (existsSync(redJs) && existsSync(contrib)) return redJs;
  mkdirSync(prefix, { recursive: true });
  log(`installing ${NODE_RED_PACKAGES.join(' ')} into ${prefix} (once)`);
  execFileSync('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--no-save', ...NODE_RED_PACKAGES], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
  return redJs;
}

export interface NodeRedFlowOptions {
  brokerPort: number;
  influxPort: number;
  database: string;
  subscription: string;
}

/** The flow (Node-RED's flows.json): every node configured, nothing left to the editor. */
export function nodeRedFlow(o: NodeRedFlowOptions): object[] {
  const building = [
    'const b = msg.payload;',
    // One point per reading, as ingest writes it: measurement water, tags meter + plant, value and quality fields.
    'msg.payload = b.readings.map((r) => [{ [r.quantity]: r.value, [r.quantity + "_quality"]: r.quality, time: r.ts }, { meter: r.meter, plant: b.plant }]);',
    'return msg;',
  ].join('\n');
  return [
    { id: 'tab', type: 'tab', label: 'bench', disabled: false },
    {
      id: 'broker',
      type: 'mqtt-broker',
      name: 'bench broker',
      broker: '127.0.0.1',
      port: String(o.brokerPort),
      clientid: 'bench-node-red',
      autoConnect: true,
      usetls: false,
      protocolVersion: '4',
      keepalive: '60',
      cleansession: true,
      autoUnsubscribe: true,
    },
    {
      id: 'influx',
      type: 'influxdb',
      hostname: '127.0.0.1',
      port: String(o.influxPort),
      protocol: 'http',
      database: o.database,
      name: 'bench influx',
      usetls: false,
      influxdbVersion: '1.x',
    },
    { id: 'in', type: 'mqtt in', z: 'tab', name: 'readings', topic: o.subscription, qos: '1', datatype: 'utf8', broker: 'broker', nl: false, rap: true, rh: 0, inputs: 0, x: 100, y: 100, wires: [['json']] },
    { id: 'json', type: 'json', z: 'tab', name: '', property: 'payload', action: 'obj', pretty: false, x: 250, y: 100, wires: [['point']] },
    { id: 'point', type: 'function', z: 'tab', name: 'points', func: building, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 400, y: 100, wires: [['out']] },
    { id: 'out', type: 'influxdb out', z: 'tab', influxdb: 'influx', name: 'write', measurement: 'water', precision: 'ms', retentionPolicy: '', x: 550, y: 100, wires: [] },
  ];
}

export interface RunningNodeRed {
  readonly pid: number;
  readonly process: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/** Starts Node-RED with the flow in `userDir` on `port` (127.0.0.1) and waits until its MQTT node is connected. */
export async function startNodeRed(redJs: string, userDir: string, port: number, flow: object[], timeoutMs = 60_000): Promise<RunningNodeRed> {
  return startNodeRedWithFlags(redJs, userDir, port, flow, { timeoutMs });
}

export interface NodeRedBatchFlowOptions extends NodeRedFlowOptions {
  /** Points per write: a batch is written when it holds this many (ingest's batch.maxLines). */
  batchPoints: number;
  /** A batch that is not full is written this long after its first point (ingest's batch.maxDelayMs). */
  batchMs: number;
}

/**
 * Node-RED at its best for this job: the contrib package's `influxdb batch` node, which writes a whole array of
 * points in one request, fed by a function node that accumulates readings into batches of `batchPoints` or
 * `batchMs`, as ingest batches lines. The MQTT node parses the JSON itself (one node less per message), every node
 * has one wire (Node-RED clones a message only for a second wire), and there is no debug node.
 *
 *   mqtt in (QoS 1, parsed JSON) → function (batching) → influxdb batch (v1.x, precision ms)
 */
export function nodeRedBatchFlow(o: NodeRedBatchFlowOptions): object[] {
  const batching = [
    // The pending batch lives in the node's in-memory context, which hands back the same object on every get.
    'let batch = context.get("batch");',
    'if (!batch) { batch = { points: [], timer: null }; context.set("batch", batch); }',
    'const flush = () => {',
    '  if (batch.timer) clearTimeout(batch.timer);',
    '  batch.timer = null;',
    '  if (batch.points.length === 0) return;',
    '  const points = batch.points;',
    '  batch.points = [];',
    '  node.send({ payload: points });',
    '};',
    'const b = msg.payload;',
    // One point per reading, as ingest writes it: measurement water, tags meter + plant, value and quality fields.
    'for (const r of b.readings) batch.points.push({ measurement: "water", tags: { meter: r.meter, plant: b.plant }, fields: { [r.quantity]: r.value, [r.quantity + "_quality"]: r.quality }, timestamp: r.ts });',
    `if (batch.points.length >= ${o.batchPoints}) flush();`,
    `else if (!batch.timer) batch.timer = setTimeout(flush, ${o.batchMs});`,
    'return null;',
  ].join('\n');
  // The tab and the broker and InfluxDB configuration nodes of the per-message flow: the same connections.
  const shared = nodeRedFlow(o).filter((n) => ['tab', 'broker', 'influx'].includes((n as { id: string }).id));
  return [
    ...shared,
    { id: 'in', type: 'mqtt in', z: 'tab', name: 'readings', topic: o.subscription, qos: '1', datatype: 'json', broker: 'broker', nl: false, rap: true, rh: 0, inputs: 0, x: 100, y: 100, wires: [['batch']] },
    { id: 'batch', type: 'function', z: 'tab', name: `batches of ${o.batchPoints} points or ${o.batchMs} ms`, func: batching, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 300, y: 100, wires: [['out']] },
    { id: 'out', type: 'influxdb batch', z: 'tab', influxdb: 'influx', name: 'write', precision: 'ms', retentionPolicy: '', x: 500, y: 100, wires: [] },
  ];
}

export interface NodeRedLaunchOptions {
  /** node/V8 flags for the Node-RED process (the bench gives its peers the same ones). */
  nodeFlags?: string[];
  timeoutMs?: number;
}

/**
 * startNodeRed with node/V8 flags: Node-RED's own launcher (`node-red-pi`) passes `--max-old-space-size` and other
 * node options the same way, before red.js. Starts Node-RED with the flow in `userDir` on `port` (127.0.0.1) and waits
 * until its MQTT node is connected.
 */
export async function startNodeRedWithFlags(redJs: string, userDir: string, port: number, flow: object[], options: NodeRedLaunchOptions = {}): Promise<RunningNodeRed> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  mkdirSync(userDir, { recursive: true });
  writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(flow, null, 1));
  writeFileSync(path.join(userDir, 'settings.js'), `module.exports = ${JSON.stringify(nodeRedSettings(port), null, 1)};\n`);
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), redJs, '-u', userDir, '-p', String(port), '-s', path.join(userDir, 'settings.js')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const append = (d: Buffer): void => void (output = (output + d.toString()).slice(-50_000));
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + timeoutMs;
  while (!/Connected to broker/.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Node-RED did not connect to the broker within ${timeoutMs} ms:\n${output.slice(-3000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    pid: child.pid!,
    process: child,
    log: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * The settings.js of a bench run (startNodeRed's): editor and admin on loopback, nothing fetched or installed, no
 * telemetry, no metric or audit events in the log.
 */
export function nodeRedSettings(port: number): object {
  return {
    uiHost: '127.0.0.1',
    uiPort: port,
    flowFile: 'flows.json',
    credentialSecret: false,
    httpAdminRoot: '/',
    diagnostics: { enabled: false },
    telemetry: { enabled: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    editorTheme: { tours: false, palette: { catalogues: [] } },
    logging: { console: { level: 'info', metrics: false, audit: false } },
  };
}
