/**
 * The simulators over real sockets: what an OPC UA client and a Modbus client (ours, and mbpoll if installed) read is
 * the plant model's value at the served tick, encoded as the layout documents.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import ModbusModule from 'modbus-serial';
import {
  AttributeIds,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  TimestampsToReturn,
  type ClientSession,
  type DataValue,
} from 'node-opcua';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantityDef } from '../../../core/catalog.ts';
import { decodeRegisters, encodeRegisters, registerCount, simulatorLayout, type SimPoint } from '../../../simulators/layout.ts';
import { createRegistryModels } from '../../../simulators/model.ts';
import { startModbusSimulator, type ModbusSimulator } from '../../../simulators/servers/modbus.ts';
import { startOpcuaSimulator, type OpcuaSimulator } from '../../../simulators/servers/opcua.ts';
import { freePort } from '../../harness/ports.ts';
import { demoPlants } from '../../harness/plants.ts';

const registry = demoPlants();
const layout = simulatorLayout(registry);
const SEED = 42;
const INTERVAL_MS = 250;
const models = createRegistryModels(registry, SEED);
const modelValue = (p: SimPoint, t: number): number => {
  const model = models.get(p.plant);
  if (!model) throw new Error(`no model for ${p.plant}`);
  return model.sample(p.meter, p.quantity, t).value;
};
const isCounter = (p: SimPoint) => quantityDef(p.quantity).kind === 'counter';

let workDir: string;
let opcua: OpcuaSimulator;
let modbus: ModbusSimulator;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'cleanstream-sim-'));
  [opcua, modbus] = await Promise.all([
    startOpcuaSimulator({ registry, seed: SEED, port: await freePort(), pkiDir: path.join(workDir, 'pki'), updateIntervalMs: INTERVAL_MS }),
    startModbusSimulator({ registry, seed: SEED, port: await freePort(), updateIntervalMs: INTERVAL_MS }),
  ]);
});

afterAll(async () => {
  await Promise.allSettled([opcua?.stop(), modbus?.stop()]);
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('OPC UA simulator', () => {
  let client: OPCUAClient;
  let session: ClientSession;
  let clientCertificateManager: OPCUACertificateManager;

  beforeAll(async () => {
    clientCertificateManager = new OPCUACertificateManager({ rootFolder: path.join(workDir, 'client-pki'), automaticallyAcceptUnknownCertificate: true });
    client = OPCUAClient.create({
      endpointMustExist: false,
      securityMode: MessageSecurityMode.None,
      securityPolicy: SecurityPolicy.None,
      connectionStrategy: { maxRetry: 2, initialDelay: 100, maxDelay: 500 },
      clientCertificateManager,
    });
    await client.connect(opcua.endpoint);
    session = await client.createSession();
  });

  afterAll(async () => {
    await session?.close();
    await client?.disconnect();
    await clientCertificateManager?.dispose();
  });

  it('advertises a loopback endpoint', () => {
    expect(opcua.endpoint).toMatch(/^opc\.tcp:\/\/127\.0\.0\.1:\d+/);
  });

  it("serves every point's model value with the tick it belongs to as source timestamp", async () => {
    const before = Date.now();
    const values = await session.read(layout.map((p) => ({ nodeId: p.opcua.nodeId, attributeId: AttributeIds.Value })));
    const after = Date.now();
    expect(values).toHaveLength(layout.length);
    layout.forEach((p, i) => {
      const dv = values[i] as DataValue;
      expect(dv.statusCode.value, p.opcua.nodeId).toBe(StatusCodes.Good.value);
      const t = dv.sourceTimestamp?.getTime() ?? Number.NaN;
      expect(t % INTERVAL_MS).toBe(0);
      // the newest tick at the time of the read, or (if a timer was a little late) the one before
      expect(t).toBeGreaterThan(before - 3 * INTERVAL_MS);
      expect(t).toBeLessThanOrEqual(after);
      expect(dv.value.value, p.opcua.nodeId).toBe(modelValue(p, t));
    });
  });

  it('gives each variable its engineering unit and browse path Objects/<plant>/<meter>/<quantity>', async () => {
    const point = layout.find((p) => p.plant === 'steel-01' && p.quantity === 'so2') as SimPoint;
    const [result] = await session.translateBrowsePath([
      { startingNode: 'i=85', relativePath: { elements: ['steel-01', 'stack-1-cems', 'so2'].map((name) => ({ referenceTypeId: 'i=33', isInverse: false, includeSubtypes: true, targetName: { namespaceIndex: 1, name } })) } },
    ]);
    expect(result?.targets?.[0]?.targetId.toString()).toBe(point.opcua.nodeId);
    const units = await session.translateBrowsePath({
      startingNode: point.opcua.nodeId,
      relativePath: { elements: [{ referenceTypeId: 'i=46', isInverse: false, includeSubtypes: true, targetName: { namespaceIndex: 0, name: 'EngineeringUnits' } }] },
    });
    const unitNode = units.targets?.[0]?.targetId;
    expect(unitNode).toBeDefined();
    const eu = await session.read({ nodeId: unitNode?.toString() ?? '', attributeId: AttributeIds.Value });
    expect(eu.value.value.displayName.text).toBe('mg/m3');
  });

  it('pushes its ticks to a subscriber, each value equal to the model at its source timestamp', async () => {
    const point = layout.find((p) => p.plant === 'paper-01' && p.quantity === 'cod') as SimPoint;
    const subscription = await session.createSubscription2({ requestedPublishingInterval: INTERVAL_MS, publishingEnabled: true, requestedMaxKeepAliveCount: 10, requestedLifetimeCount: 100 });
    const seen: DataValue[] = [];
    try {
      const item = await subscription.monitor(
        { nodeId: point.opcua.nodeId, attributeId: AttributeIds.Value },
        { samplingInterval: INTERVAL_MS, queueSize: 10, discardOldest: true },
        TimestampsToReturn.Both,
      );
      item.on('changed', (dv: DataValue) => seen.push(dv));
      const deadline = Date.now() + 20 * INTERVAL_MS;
      while (seen.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, INTERVAL_MS / 5));
    } finally {
      await subscription.terminate();
    }
    expect(seen.length).toBeGreaterThanOrEqual(4);
    const times = seen.map((dv) => dv.sourceTimestamp?.getTime() ?? Number.NaN);
    // Ticks are aligned to the interval and increase, never repeat; a subscriber sampling at the tick rate sees nearly
    // every tick: a sample that lands a little late (a loaded machine) reads the next tick and the one between is
    // skipped, at most one such tick here.
    let skipped = 0;
    for (let i = 1; i < times.length; i++) {
      const step = (times[i] as number) - (times[i - 1] as number);
      expect(step).toBeGreaterThan(0);
      expect(step % INTERVAL_MS).toBe(0);
      skipped += step / INTERVAL_MS - 1;
    }
    expect(skipped, `ticks skipped between ${times.length} notifications: ${times.join(', ')}`).toBeLessThanOrEqual(1);
    seen.forEach((dv, i) => expect(dv.value.value).toBe(modelValue(point, times[i] as number)));
  });
});

describe('Modbus simulator', () => {
  const Client = ModbusModule.default;
  let client: InstanceType<typeof Client>;

  beforeAll(async () => {
    client = new Client();
    client.setTimeout(2_000);
    await client.connectTCP('127.0.0.1', { port: modbus.port });
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => client?.close(() => resolve()));
  });

  /** Read a unit's whole map within one tick: the tick before and after the read must agree. */
  async function readUnitWithinTick(unitId: number, registers: number): Promise<{ words: number[]; tick: number }> {
    client.setID(unitId);
    for (let attempt = 0; attempt < 10; attempt++) {
      const tickBefore = Math.floor(Date.now() / INTERVAL_MS) * INTERVAL_MS;
      const { data } = await client.readHoldingRegisters(0, registers);
      const tickAfter = Math.floor(Date.now() / INTERVAL_MS) * INTERVAL_MS;
      if (tickBefore === tickAfter) return { words: data, tick: tickBefore };
    }
    throw new Error(`could not read unit ${unitId} within one ${INTERVAL_MS} ms tick in 10 attempts`);
  }

  it("serves each plant's points at its unit id, decoding per the layout to the model value at the tick", async () => {
    for (const [index, plant] of registry.plants.entries()) {
      const points = layout.filter((p) => p.plant === plant.id);
      const last = points.at(-1) as SimPoint;
      expect(last.modbus.unitId).toBe(index + 1);
      const { words, tick } = await readUnitWithinTick(last.modbus.unitId, last.modbus.address + registerCount(last.modbus.type));
      for (const p of points) {
        const decoded = decodeRegisters(p.modbus, words.slice(p.modbus.address, p.modbus.address + registerCount(p.modbus.type)));
        const expected = modelValue(p, tick);
        const label = `${p.plant}.${p.meter}.${p.quantity} ${p.modbus.type}`;
        if (p.modbus.type === 'float32') expect(Math.abs(decoded - expected) / expected, label).toBeLessThan(1e-6);
        else if (isCounter(p)) {
          // counters are floored to whole register steps
          expect(expected - decoded, label).toBeGreaterThanOrEqual(-1e-6);
          expect(expected - decoded, label).toBeLessThan(p.modbus.scale);
        } else expect(Math.abs(decoded - expected), label).toBeLessThanOrEqual(p.modbus.scale / 2 + 1e-9);
      }
    }
  });

  it('answers exception 02 (illegal data address) for an unknown unit id or an address past the map', async () => {
    client.setID(registry.plants.length + 1);
    await expect(client.readHoldingRegisters(0, 1)).rejects.toMatchObject({ modbusCode: 2 });
    client.setID(1);
    const size = layout.filter((p) => p.modbus.unitId === 1).reduce((n, p) => n + registerCount(p.modbus.type), 0);
    await expect(client.readHoldingRegisters(size - 1, 2)).rejects.toMatchObject({ modbusCode: 2 });
    // the connection stays usable after an exception
    expect((await client.readHoldingRegisters(size - 1, 1)).data).toHaveLength(1);
  });
});

describe('Modbus simulator read by mbpoll', () => {
  const mbpoll = '/usr/bin/mbpoll';
  const present = existsSync(mbpoll);
  const name = present ? 'returns the raw words of a 32-bit counter, high word first' : 'returns raw words to mbpoll (skipped: /usr/bin/mbpoll is not installed)';

  it.skipIf(!present)(name, async () => {
    // a fixed clock makes the served tick exact, so raw words can be compared without a race against the clock
    const fixed = Date.UTC(2026, 2, 3, 2, 30, 0);
    const sim = await startModbusSimulator({ registry, seed: SEED, port: await freePort(), updateIntervalMs: INTERVAL_MS, clock: () => fixed });
    try {
      const point = layout.find((p) => p.plant === 'dyeing-01' && p.quantity === 'active_energy') as SimPoint;
      const { stdout } = await promisify(execFile)(
        mbpoll,
        ['-m', 'tcp', '-a', String(point.modbus.unitId), '-r', String(point.modbus.address + 1), '-c', '2', '-t', '4', '-1', '-p', String(sim.port), '127.0.0.1'],
        { timeout: 10_000 },
      );
      // mbpoll prints one line per register: "[<1-based address>]: \t<unsigned value> (<signed value>)"
      const raw = [...stdout.matchAll(/^\[(\d+)\]:\s+(\d+)/gm)].map((m) => Number(m[2]));
      expect(raw).toEqual(encodeRegisters(point.modbus, modelValue(point, fixed), true));
    } finally {
      await sim.stop();
    }
  });
});
