/**
 * Modbus RTU: the Modbus input on a serial line, against pymodbus 3.0 (a server we did not write) serving RTU on the
 * other end of a pseudo-terminal pair made by socat, as a meter on an RS-485 adapter would be; and RTU frames over
 * TCP (a serial device server in transparent mode), against pymodbus's TCP server with its RTU framer.
 * What users rely on: the same register config (unit ids, types, word orders, scale) reads the same values whatever
 * the link, and readings name the link they came from in errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { decodeBatch, type BatchReading } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { parseGatewayConfig } from '../../../gateway/config.ts';
import { startGateway } from '../../../gateway/main.ts';
import { canConnect, freePort } from '../../harness/ports.ts';
import { spawnServer, type SpawnedServer } from '../../harness/spawn.ts';
import { until } from '../../harness/wait.ts';

const DEBIAN_PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(import.meta.dirname, 'pymodbus_server.py');
const POLL_MS = 200;
const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const workDir = mkdtempSync(path.join(tmpdir(), 'cs-gw-rtu-'));
const gatewaySide = path.join(workDir, 'gateway-tty');
const meterSide = path.join(workDir, 'meter-tty');
const servers: SpawnedServer[] = [];



/** What the meter holds: pymodbus encodes it with its own payload builder. */
const HOLDING = [
  { address: 0, type: 'float32', value: 12.5, byteorder: 'big', wordorder: 'big' },
  { address: 2, type: 'int16', value: -735, byteorder: 'big', wordorder: 'big' },
  { address: 3, type: 'uint32', value: 123_456, byteorder: 'big', wordorder: 'little' },
];
const REGISTERS = [
  { plant: 'dyeing-01', meter: 'outfall-1-flow', quantity: 'wastewater_flow', unit: 'm3/h', area: 'holding', address: 0, type: 'float32' },
  // a negative int16 (two's complement) with an offset: -735 * 0.01 + 14 = 6.65 (a pH of -7.35 would be out of range)
  { plant: 'dyeing-01', meter: 'outfall-1-ph', quantity: 'ph', unit: 'pH', area: 'holding', address: 2, type: 'int16', scale: 0.01, offset: 14 },
  { plant: 'dyeing-01', meter: 'outfall-1-flow', quantity: 'wastewater_volume', unit: 'm3', area: 'holding', address: 3, type: 'uint32', wordOrder: 'little' },
];
const EXPECTED: Record<string, number> = { wastewater_flow: 12.5, ph: 6.65, wastewater_volume: 123_456 };

let broker: RunningBroker;
let rtuOverTcpPort: number;

beforeAll(async () => {
  // A pseudo-terminal pair: what the gateway writes to one end, the meter reads from the other.
  servers.push(await spawnServer('socat', 'socat', [`pty,raw,echo=0,link=${gatewaySide}`, `pty,raw,echo=0,link=${meterSide}`], () => existsSync(gatewaySide) && existsSync(meterSide)));
  // A pseudo-terminal accepts no parity bit, so the line is 8N1 (a common meter setting) on both ends.
  servers.push(await spawnServer('pymodbus (serial)', DEBIAN_PYTHON, [SCRIPT, JSON.stringify({ port: 0, serial: { port: meterSide, baudrate: 19200, parity: 'N', bytesize: 8, stopbits: 1 }, holding: HOLDING })], (out) => out.includes('serving')));
  rtuOverTcpPort = await freePort();
  servers.push(await spawnServer('pymodbus (RTU over TCP)', DEBIAN_PYTHON, [SCRIPT, JSON.stringify({ port: rtuOverTcpPort, framer: 'rtu', holding: HOLDING })], () => canConnect(rtuOverTcpPort)));
  broker = await startBroker();
});

afterAll(async () => {
  await broker?.stop();
  await Promise.all(servers.map((server) => server.stop()));
  rmSync(workDir, { recursive: true, force: true });
});

describe('Modbus RTU', () => {
  it('reads the same registers over a serial line and as RTU frames over TCP', async () => {
    const observer = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    const byMeter = new Map<string, BatchReading[]>();
    observer.on('message', (_t, payload) => {
      for (const r of decodeBatch(payload).readings) {
        const key = `${r.meter.startsWith('serial-') ? 'serial' : 'tcp'}:${r.quantity}`;
        if (!byMeter.has(key)) byMeter.set(key, []);
        byMeter.get(key)!.push(r);
      }
    });
    await observer.subscribeAsync(topics.readingsFilter(), { qos: 1 });
    const renamed = (prefix: string) => REGISTERS.map((r) => ({ ...r, meter: `${prefix}-${r.meter}`.slice(0, 64) }));
    const gateway = await startGateway(
      parseGatewayConfig('test gw-rtu', {
        id: 'gw-rtu',
        mqtt: { url: broker.url },
        dataDir: path.join(workDir, 'gw'),
        health: { intervalMs: 0 },
        inputs: [
          { type: 'modbus', transport: 'rtu', serial: { path: gatewaySide, baudRate: 19200, parity: 'none' }, unitId: 1, pollIntervalMs: POLL_MS, timeoutMs: 150, registers: renamed('serial') },
          { type: 'modbus', transport: 'rtu-over-tcp', host: '127.0.0.1', port: rtuOverTcpPort, unitId: 1, pollIntervalMs: POLL_MS, timeoutMs: 150, registers: renamed('tcp') },
        ],
      }),
      { logger },
    );
    try {
      const good = (key: string) => (byMeter.get(key) ?? []).filter((r) => r.quality === 'good');
      const keys = Object.keys(EXPECTED).flatMap((q) => [`serial:${q}`, `tcp:${q}`]);
      await until('good readings of every register over both links', () => keys.every((k) => good(k).length >= 5), 15_000);
      for (const key of keys) {
        const quantity = key.split(':')[1]!;
        for (const r of good(key)) expect(r.value).toBeCloseTo(EXPECTED[quantity]!, 6);
      }
      const [serial, tcp] = gateway.stats().inputs;
      expect(serial).toMatchObject({ name: `modbus:${gatewaySide}`, state: 'connected' });
      expect(tcp).toMatchObject({ name: `modbus:127.0.0.1:${rtuOverTcpPort} (RTU)`, state: 'connected' });
    } finally {
      await gateway.stop();
      await observer.endAsync();
    }
  });
});
