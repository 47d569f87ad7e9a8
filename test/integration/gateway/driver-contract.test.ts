/**
 * Every registered input driver keeps the driver contract (gateway/driver-contract.ts), each against a real device:
 * OPC UA against the simulator's OPC UA server, Modbus TCP against the simulator's Modbus server, Modbus RTU over TCP
 * against pymodbus with its RTU framer, the HJ 212 receiver fed by the simulated data logger. A driver registered in gateway/drivers/index.ts without a subject here fails the
 * last test (and does not compile: `subjects` is keyed by every registered type).
 */
import { mkdtempSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { driverContract, type DriverContractSubject, type DriverUnderTest } from '../../../gateway/driver-contract.ts';
import { DRIVER_TYPES, driverRegistry, type DriverType } from '../../../gateway/drivers/index.ts';
import { simulatorLayout } from '../../../simulators/layout.ts';
import { createPlantModel } from '../../../simulators/model.ts';
import { startModbusSimulator, type ModbusSimulator } from '../../../simulators/servers/modbus.ts';
import { startOpcuaSimulator, type OpcuaSimulator } from '../../../simulators/servers/opcua.ts';
import { startHj212Logger, type RunningHj212Logger } from '../../../simulators/hj212/logger.ts';
import { paperMillPlants } from '../../harness/plants.ts';
import { canConnect, freePort } from '../../harness/ports.ts';
import { spawnServer } from '../../harness/spawn.ts';

const SEED = 7;
const INTERVAL_MS = 250;
const registry = paperMillPlants();
const layout = simulatorLayout(registry);
const context = (dataDir: string) => ({ gatewayId: 'gw-contract', dataDir });

/** A device that can be brought up, taken away and brought back; `dispose` stops it if up and removes the work dir. */
function device(workDir: string, up: () => Promise<{ stop(): Promise<void> }>): Pick<DriverUnderTest, 'deviceUp' | 'deviceDown' | 'dispose'> {
  let running: { stop(): Promise<void> } | undefined;
  const down = async (): Promise<void> => {
    const r = running;
    running = undefined;
    await r?.stop();
  };
  return {
    deviceUp: async () => {
      running ??= await up();
    },
    deviceDown: down,
    dispose: async () => {
      await down();
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

/** Certificates made once for all OPC UA cases (making an RSA key pair takes seconds): the client's and the server's. */
const opcuaPki = mkdtempSync(path.join(tmpdir(), 'cs-contract-opcua-pki-'));
afterAll(() => rm(opcuaPki, { recursive: true, force: true }));

const opcua: DriverContractSubject = {
  type: 'opcua',
  role: 'dials',
  scanIntervalMs: INTERVAL_MS,
  async build() {
    const workDir = await mkdtemp(path.join(tmpdir(), 'cs-contract-opcua-'));
    const port = await freePort();
    const config = driverRegistry.opcua.schema.parse({
      type: 'opcua',
      endpoint: `opc.tcp://127.0.0.1:${port}`,
      publishingIntervalMs: INTERVAL_MS,
      pki: { dir: path.join(opcuaPki, 'client') },
      nodes: layout.map((p) => ({ nodeId: p.opcua.nodeId, plant: p.plant, meter: p.meter, quantity: p.quantity, unit: p.unit })),
    });
    const server = (): Promise<OpcuaSimulator> => startOpcuaSimulator({ registry, seed: SEED, port, pkiDir: path.join(opcuaPki, 'server'), updateIntervalMs: INTERVAL_MS });
    return { driver: driverRegistry.opcua.create(config, context(path.join(workDir, 'gateway'))), points: layout, ...device(workDir, server) };
  },
};

const modbus: DriverContractSubject = {
  type: 'modbus',
  role: 'dials',
  scanIntervalMs: INTERVAL_MS,
  async build() {
    const workDir = await mkdtemp(path.join(tmpdir(), 'cs-contract-modbus-'));
    const port = await freePort();
    const config = driverRegistry.modbus.schema.parse({
      type: 'modbus',
      host: '127.0.0.1',
      port,
      unitId: layout[0]!.modbus.unitId,
      pollIntervalMs: INTERVAL_MS,
      timeoutMs: 500,
      registers: layout.map((p) => ({ plant: p.plant, meter: p.meter, quantity: p.quantity, unit: p.unit, area: p.modbus.area, address: p.modbus.address, type: p.modbus.type, scale: p.modbus.scale })),
    });
    const server = (): Promise<ModbusSimulator> => startModbusSimulator({ registry, seed: SEED, port, updateIntervalMs: INTERVAL_MS });
    return { driver: driverRegistry.modbus.create(config, context(path.join(workDir, 'gateway'))), points: layout, ...device(workDir, server) };
  },
};

/** pymodbus (a server we did not write) speaking RTU frames over TCP, as a serial device server in transparent mode. */
const PYMODBUS = path.join(import.meta.dirname, 'pymodbus_server.py');
const RTU_HOLDING = [
  { address: 0, type: 'float32', value: 12.5, byteorder: 'big', wordorder: 'big' },
  { address: 2, type: 'uint16', value: 725, byteorder: 'big', wordorder: 'big' },
];
const RTU_REGISTERS = [
  { plant: 'paper-01', meter: 'outfall-1-flow', quantity: 'wastewater_flow', unit: 'm3/h', area: 'holding', address: 0, type: 'float32' },
  { plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', unit: 'mg/L', area: 'holding', address: 2, type: 'uint16', scale: 0.1 },
] as const;

const modbusRtuOverTcp: DriverContractSubject = {
  type: 'modbus',
  variant: 'RTU over TCP',
  role: 'dials',
  scanIntervalMs: INTERVAL_MS,
  async build() {
    const workDir = await mkdtemp(path.join(tmpdir(), 'cs-contract-rtu-'));
    const port = await freePort();
    const config = driverRegistry.modbus.schema.parse({ type: 'modbus', transport: 'rtu-over-tcp', host: '127.0.0.1', port, unitId: 1, pollIntervalMs: INTERVAL_MS, timeoutMs: 500, registers: RTU_REGISTERS });
    const server = () => spawnServer('pymodbus (RTU over TCP)', '/usr/bin/python3', [PYMODBUS, JSON.stringify({ port, framer: 'rtu', holding: RTU_HOLDING })], () => canConnect(port));
    return { driver: driverRegistry.modbus.create(config, context(path.join(workDir, 'gateway'))), points: RTU_REGISTERS, ...device(workDir, server) };
  },
};

/** The simulated logger's pollutant codes and the paper mill's meters they report. */
const LOGGER_METERS = { w00000: 'outfall-1-flow', w01018: 'outfall-1-cod', w21003: 'outfall-1-nh3n' };
const LOGGER_MN = 'PAPER01WATER000000000001';

const hj212: DriverContractSubject = {
  type: 'hj212',
  role: 'listens',
  scanIntervalMs: INTERVAL_MS,
  async build() {
    const workDir = await mkdtemp(path.join(tmpdir(), 'cs-contract-hj212-'));
    const port = await freePort();
    const config = driverRegistry.hj212.schema.parse({ type: 'hj212', host: '127.0.0.1', port, devices: [{ mn: LOGGER_MN, pw: '123456', plant: 'paper-01', meters: LOGGER_METERS }] });
    const model = createPlantModel(registry.plant('paper-01')!, SEED);
    // Real-time data (2011) every INTERVAL_MS, one second of event time apart.
    const logger = async (): Promise<RunningHj212Logger> =>
      startHj212Logger({ host: '127.0.0.1', port, mn: LOGGER_MN, pw: '123456', codes: Object.keys(LOGGER_METERS), source: { model, meters: LOGGER_METERS }, cn: '2011', intervalMs: INTERVAL_MS, stepMs: 1000, reconnectDelayMs: 100 });
    const points = layout.filter((p) => Object.values(LOGGER_METERS).includes(p.meter));
    return { driver: driverRegistry.hj212.create(config, context(path.join(workDir, 'gateway'))), points, ...device(workDir, logger) };
  },
};

const subjects: Record<DriverType, DriverContractSubject> = { opcua, modbus, hj212 };

for (const subject of [...Object.values(subjects), modbusRtuOverTcp]) driverContract(subject);

describe('the driver contract suite', () => {
  it('runs for every registered driver', () => {
    expect(Object.keys(subjects).sort()).toEqual([...DRIVER_TYPES].sort());
    for (const [type, subject] of Object.entries(subjects)) expect(subject.type).toBe(type);
  });
});
