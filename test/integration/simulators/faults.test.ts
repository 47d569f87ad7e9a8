/**
 * Scripted faults as a real gateway meets them: over Modbus TCP (exception responses, silence, NaN registers), over
 * OPC UA (Bad status codes, skewed source timestamps), and a broker feed recorded and replayed message for message.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ModbusModule from 'modbus-serial';
import { AttributeIds, MessageSecurityMode, OPCUACertificateManager, OPCUAClient, SecurityPolicy, StatusCodes, type ClientSession } from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { writeFeedFile } from '../../../simulators/feed.ts';
import type { Fault } from '../../../simulators/faults.ts';
import { decodeRegisters, simulatorLayout, type SimPoint } from '../../../simulators/layout.ts';
import { startRecorder } from '../../../simulators/record.ts';
import { parseRecordLine, readRecording } from '../../../simulators/recording.ts';
import { parseScenario } from '../../../simulators/scenario.ts';
import { startModbusSimulator, type ModbusSimulator } from '../../../simulators/servers/modbus.ts';
import { startOpcuaSimulator, type OpcuaSimulator } from '../../../simulators/servers/opcua.ts';
import { DEMO_PLANTS_FILE, demoPlants } from '../../harness/plants.ts';
import { freePort } from '../../harness/ports.ts';
import { replayFixture } from '../../harness/replay.ts';

const registryFile = DEMO_PLANTS_FILE;
const registry = demoPlants();
const layout = simulatorLayout(registry);
const point = (plant: string, meter: string, quantity: string): SimPoint => {
  const p = layout.find((x) => x.plant === plant && x.meter === meter && x.quantity === quantity);
  if (!p) throw new Error(`no ${plant}.${meter}.${quantity}`);
  return p;
};
// a fixed clock inside every fault window: what is served does not depend on when the test runs
const NOW = Date.UTC(2024, 5, 3, 4);
const window = { fromMs: NOW - 3_600_000, toMs: NOW + 3_600_000 };
const faults: Fault[] = [
  { plant: 'paper-01', meter: 'outfall-1-nh3n', ...window, kind: 'dropout', exception: 0x0b },
  { plant: 'paper-01', meter: 'stack-1-cems', quantity: 'nox', ...window, kind: 'nan' },
  { plant: 'paper-01', meter: 'outfall-1-ph', quantity: 'ph', ...window, kind: 'nan' },
  { plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', ...window, kind: 'clock_skew', offsetMs: -120_000 },
  { plant: 'steel-01', ...window, kind: 'comm_loss' },
];

let workDir: string;
let modbus: ModbusSimulator;
let opcua: OpcuaSimulator;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'cleanstream-sim-faults-'));
  [modbus, opcua] = await Promise.all([
    startModbusSimulator({ registry, seed: 3, port: await freePort(), clock: () => NOW, faults }),
    startOpcuaSimulator({ registry, seed: 3, port: await freePort(), pkiDir: path.join(workDir, 'pki'), clock: () => NOW, updateIntervalMs: 200, faults }),
  ]);
});

afterAll(async () => {
  await Promise.allSettled([modbus?.stop(), opcua?.stop()]);
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('faults over Modbus TCP', () => {
  const Client = ModbusModule.default;
  let client: InstanceType<typeof Client>;

  beforeAll(async () => {
    client = new Client();
    client.setTimeout(500);
    await client.connectTCP('127.0.0.1', { port: modbus.port });
  });
  afterAll(() => new Promise<void>((resolve) => client.close(() => resolve())));

  it('answers exception 0x0B to a read touching a dropped-out point, and normally around it', async () => {
    const nh3n = point('paper-01', 'outfall-1-nh3n', 'nh3n');
    client.setID(nh3n.modbus.unitId);
    await expect(client.readHoldingRegisters(nh3n.modbus.address, 1)).rejects.toMatchObject({ modbusCode: 0x0b });
    await expect(client.readHoldingRegisters(0, nh3n.modbus.address + 1)).rejects.toMatchObject({ modbusCode: 0x0b });
    const cod = point('paper-01', 'outfall-1-cod', 'cod');
    const { data } = await client.readHoldingRegisters(cod.modbus.address, 1);
    expect(decodeRegisters(cod.modbus, data)).toBeGreaterThan(0);
  });

  it('serves NaN as float32 NaN and as the int16 invalid sentinel', async () => {
    const nox = point('paper-01', 'stack-1-cems', 'nox');
    const ph = point('paper-01', 'outfall-1-ph', 'ph');
    client.setID(1);
    expect(decodeRegisters(nox.modbus, (await client.readHoldingRegisters(nox.modbus.address, 2)).data)).toBeNaN();
    expect((await client.readHoldingRegisters(ph.modbus.address, 1)).data).toEqual([0x8000]);
  });

  it('sends no answer at all for a plant under comm loss, so the read times out', async () => {
    const steel = point('steel-01', 'outfall-1-cod', 'cod');
    client.setID(steel.modbus.unitId);
    const started = Date.now();
    await expect(client.readHoldingRegisters(0, 4)).rejects.toMatchObject({ name: 'TransactionTimedOutError' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  });
});

describe('faults over OPC UA', () => {
  let client: OPCUAClient;
  let session: ClientSession;

  beforeAll(async () => {
    client = OPCUAClient.create({
      endpointMustExist: false,
      securityMode: MessageSecurityMode.None,
      securityPolicy: SecurityPolicy.None,
      connectionStrategy: { maxRetry: 2, initialDelay: 100, maxDelay: 500 },
      clientCertificateManager: new OPCUACertificateManager({ rootFolder: path.join(workDir, 'client-pki'), automaticallyAcceptUnknownCertificate: true }),
    });
    await client.connect(opcua.endpoint);
    session = await client.createSession();
  });
  afterAll(async () => {
    await session?.close();
    await client?.disconnect();
  });

  it('reports dropout, NaN and comm loss with Bad status codes, and skews the source timestamp', async () => {
    const read = (p: SimPoint) => session.read({ nodeId: p.opcua.nodeId, attributeId: AttributeIds.Value });
    const dropped = await read(point('paper-01', 'outfall-1-nh3n', 'nh3n'));
    expect(dropped.statusCode.value).toBe(StatusCodes.BadSensorFailure.value);
    const nan = await read(point('paper-01', 'stack-1-cems', 'nox'));
    expect(nan.statusCode.value).toBe(StatusCodes.Bad.value);
    const silent = await read(point('steel-01', 'main-power', 'active_power'));
    expect(silent.statusCode.value).toBe(StatusCodes.BadNoCommunication.value);
    const skewed = await read(point('paper-01', 'outfall-1-cod', 'cod'));
    expect(skewed.statusCode.value).toBe(StatusCodes.Good.value);
    expect(skewed.sourceTimestamp?.getTime()).toBe(NOW - 120_000);
    const healthy = await read(point('dyeing-01', 'outfall-1-cod', 'cod'));
    expect(healthy.statusCode.value).toBe(StatusCodes.Good.value);
    expect(healthy.sourceTimestamp?.getTime()).toBe(NOW);
  });
});

describe('record and replay through a broker', () => {
  let broker: RunningBroker;
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(() => broker?.stop());

  it('records a replayed feed with the same messages in the same order per topic', async () => {
    const scenario = parseScenario(
      'short.yaml',
      { seed: 2, start: '2024-06-03T00:00:00+08:00', duration: '30m', step: '1m', plants: registryFile, faults: [{ plant: 'dyeing-01', kind: 'out_of_order', from: '10m', to: '20m' }] },
    );
    const source = path.join(workDir, 'source.ndjson');
    const recorded = path.join(workDir, 'recorded.ndjson.gz');
    const written = await writeFeedFile(scenario, source);
    const recorder = await startRecorder({ url: broker.url, file: recorded, limit: written.messages, maxDurationMs: 20_000 });
    const replayed = await replayFixture(broker.url, source, { speed: 0 });
    const summary = await recorder.done;
    expect(replayed.messages).toBe(written.messages);
    expect(summary).toMatchObject({ messages: written.messages, readings: written.readings, stoppedBy: 'limit' });

    const sourceLines = (await readFile(source, 'utf8')).trimEnd().split('\n').map((l, i) => parseRecordLine(source, i + 1, l));
    const got = [];
    for await (const { message } of readRecording(recorded)) got.push(message);
    const byTopic = (ms: { topic: string; payload: unknown }[]) => {
      const map = new Map<string, unknown[]>();
      for (const m of ms) map.set(m.topic, [...(map.get(m.topic) ?? []), m.payload]);
      return map;
    };
    expect(byTopic(got)).toEqual(byTopic(sourceLines));
  });

  it('replays at a speed factor: 30 minutes recorded at 1800x take about a second', async () => {
    const scenario = parseScenario('short.yaml', { seed: 2, start: '2024-06-03T00:00:00+08:00', duration: '30m', step: '1m', plants: registryFile });
    const source = path.join(workDir, 'timed.ndjson');
    await writeFeedFile(scenario, source);
    const summary = await replayFixture(broker.url, source, { speed: 1800 });
    // the last message is recorded 29 minutes after the first: 29 * 60 / 1800 = 0.97 s
    expect(summary.wallMs).toBeGreaterThanOrEqual(900);
    expect(summary.wallMs).toBeLessThan(5_000);
    const limited = await replayFixture(broker.url, source, { speed: 0, limit: 10 });
    expect(limited).toMatchObject({ messages: 10, stoppedBy: 'limit' });
  });
});
