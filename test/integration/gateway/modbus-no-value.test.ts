/**
 * A meter's "no valid value" over Modbus, as the real gateway meets it (issue #16 item 1): the simulator's `nan`
 * fault serves what many meters serve (0x8000 in an int16, 0xFFFF in a uint16, NaN in a float32), and the gateway
 * publishes value null, quality bad, reason no_value, never 6553.5 mg/L of COD or a pH of -327.68.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBatch, type ReadingBatch } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { parseGatewayConfig } from '../../../gateway/config.ts';
import { startGateway } from '../../../gateway/main.ts';
import type { Fault } from '../../../simulators/faults.ts';
import { simulatorLayout } from '../../../simulators/layout.ts';
import { startModbusSimulator, type ModbusSimulator } from '../../../simulators/servers/modbus.ts';
import { freePort } from '../../harness/ports.ts';
import { until } from '../../harness/wait.ts';
import { demoPlants } from '../../harness/plants.ts';

const registry = demoPlants();
// The simulator's clock, fixed inside the fault window: what it serves does not depend on when the test runs.
const NOW = Date.UTC(2024, 5, 3, 4);
const window = { fromMs: NOW - 3_600_000, toMs: NOW + 3_600_000 };
const faults: Fault[] = [
  { plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', ...window, kind: 'nan' },
  { plant: 'paper-01', meter: 'outfall-1-ph', quantity: 'ph', ...window, kind: 'nan' },
  { plant: 'paper-01', meter: 'stack-1-cems', quantity: 'nox', ...window, kind: 'nan' },
];
const WATCHED = new Set(['outfall-1-cod/cod', 'outfall-1-ph/ph', 'stack-1-cems/nox', 'stack-1-cems/so2']);
const points = simulatorLayout(registry).filter((p) => p.plant === 'paper-01' && WATCHED.has(`${p.meter}/${p.quantity}`));

let workDir: string;
let broker: RunningBroker;
let simulator: ModbusSimulator;
let observer: mqtt.MqttClient;
const received: ReadingBatch[] = [];

beforeAll(async () => {
  workDir = mkdtempSync(path.join(tmpdir(), 'cs-gw-no-value-'));
  [broker, simulator] = await Promise.all([startBroker(), startModbusSimulator({ registry, seed: 3, port: await freePort(), clock: () => NOW, faults })]);
  observer = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  observer.on('message', (_topic, payload) => received.push(decodeBatch(payload)));
  await observer.subscribeAsync(topics.readingsFilter('paper-01'), { qos: 1 });
});

afterAll(async () => {
  await observer?.endAsync();
  await Promise.allSettled([simulator?.stop(), broker?.stop()]);
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('Modbus no-value codes -> gateway -> MQTT', () => {
  it('publishes the simulator\'s nan fault as value null, quality bad, reason no_value, and the healthy register as measured', async () => {
    expect(points.map((p) => `${p.quantity}:${p.modbus.type}`).sort()).toEqual(['cod:uint16', 'nox:float32', 'ph:int16', 'so2:float32']);
    const config = parseGatewayConfig('test gw-no-value', {
      id: 'gw-no-value',
      mqtt: { url: broker.url },
      dataDir: path.join(workDir, 'gw'),
      inputs: [
        {
          type: 'modbus',
          host: '127.0.0.1',
          port: simulator.port,
          pollIntervalMs: 200,
          timeoutMs: 150,
          registers: points.map((p) => ({ plant: p.plant, meter: p.meter, quantity: p.quantity, unit: p.unit, unitId: p.modbus.unitId, area: p.modbus.area, address: p.modbus.address, type: p.modbus.type, scale: p.modbus.scale })),
        },
      ],
    });
    const gateway = await startGateway(config, { logger: pino({ level: 'silent' }) });
    try {
      await until('a scan of the four registers', () => received.some((b) => b.readings.length === 4), 10_000);
      const scan = received.find((b) => b.readings.length === 4)!;
      const byQuantity = Object.fromEntries(scan.readings.map((r) => [r.quantity, r]));
      for (const quantity of ['cod', 'ph', 'nox']) {
        expect(byQuantity[quantity], quantity).toMatchObject({ value: null, quality: 'bad', reason: 'no_value' });
      }
      expect(byQuantity.so2).toMatchObject({ quality: 'good' });
      expect(byQuantity.so2!.value).toBeGreaterThan(0);
      expect(byQuantity.so2!.reason).toBeUndefined();
      await gateway.flush();
    } finally {
      await gateway.stop();
    }
  });
});
