/**
 * A real Modbus TCP server (modbus-serial ServerTCP) -> the gateway's Modbus input -> the embedded broker -> a test
 * subscriber. What users rely on: each register type is decoded as configured (word order, scale, offset, unit
 * id, input vs holding), every reading of a poll carries the same tick timestamp, and when the device goes away
 * its readings keep arriving as value null / quality bad instead of silently stopping.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { freePort } from '../../harness/ports.ts';
import { decodeBatch, type ReadingBatch } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { parseGatewayConfig } from '../../../gateway/config.ts';
import { startGateway } from '../../../gateway/main.ts';
import { startTestModbusServer, words32 } from './servers.ts';
import { until } from '../../harness/wait.ts';

const POLL_MS = 200;
const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });


describe('Modbus TCP device -> gateway -> MQTT', () => {
  let workDir: string;
  let broker: RunningBroker;
  let observer: mqtt.MqttClient;
  const received: { topic: string; batch: ReadingBatch }[] = [];

  beforeAll(async () => {
    workDir = mkdtempSync(path.join(tmpdir(), 'cs-gw-modbus-'));
    broker = await startBroker();
    observer = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    observer.on('message', (topic, payload) => received.push({ topic, batch: decodeBatch(payload) }));
    await observer.subscribeAsync(topics.readingsFilter(), { qos: 1 });
  });

  afterAll(async () => {
    await observer?.endAsync();
    await broker?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('publishes decoded register values, then bad readings once the device is gone', async () => {
    const port = await freePort();
    const [i32hi, i32lo] = words32(-100_000, 'int32');
    const [u32hi, u32lo] = words32(3_000_000_000, 'uint32');
    const [f32hi, f32lo] = words32(12.5, 'float32');
    const [f32bhi, f32blo] = words32(-0.75, 'float32');
    const holding = new Map([
      [
        1,
        new Map<number, number>([
          [0, 0x10000 - 1234], // int16 -1234
          [1, 60_000], // uint16, scale 0.01 -> 600
          [2, i32hi],
          [3, i32lo],
          [4, u32lo], // uint32, little word order
          [5, u32hi],
          [6, f32hi],
          [7, f32lo],
          // 8-9 unmapped: a gap, so the registers after it go in a request of their own
          [10, 725], // uint16 pH * 100
        ]),
      ],
    ]);
    const input = new Map([[2, new Map<number, number>([[100, f32bhi], [101, f32blo]])]]);
    const server = await startTestModbusServer({ port, holding, input });

    const r = (meter: string, quantity: string, unit: string, register: Record<string, unknown>) => ({ plant: 'dyeing-01', meter, quantity, unit, area: 'holding', ...register });
    const config = parseGatewayConfig('test gw-modbus', {
      id: 'gw-modbus',
      mqtt: { url: broker.url },
      dataDir: path.join(workDir, 'gw-modbus'),
      inputs: [
        {
          type: 'modbus',
          host: '127.0.0.1',
          port,
          pollIntervalMs: POLL_MS,
          timeoutMs: 150,
          registers: [
            r('m-int16', 'active_power', 'kW', { address: 0, type: 'int16' }),
            r('m-uint16', 'cod', 'mg/L', { address: 1, type: 'uint16', scale: 0.01 }),
            r('m-int32', 'active_power', 'W', { address: 2, type: 'int32' }),
            r('m-uint32', 'active_energy', 'Wh', { address: 4, type: 'uint32', wordOrder: 'little' }),
            r('m-float32', 'wastewater_flow', 'm3/h', { address: 6, type: 'float32', offset: 1 }),
            r('m-ph', 'ph', 'pH', { address: 10, type: 'uint16', scale: 0.01 }),
            // a negative float: active power (export), a quantity whose physical range has negative values
            r('m-input', 'active_power', 'kW', { area: 'input', address: 100, type: 'float32', unitId: 2 }),
          ],
        },
      ],
    });
    const gateway = await startGateway(config, { logger });
    const mine = () => received.filter((x) => x.batch.gateway === 'gw-modbus');
    try {
      await until('a scan with every register good', () => mine().some((x) => x.batch.readings.every((y) => y.quality === 'good')), 10_000);
      const good = mine().find((x) => x.batch.readings.every((y) => y.quality === 'good'))!;
      expect(good.topic).toBe(topics.readings('dyeing-01', 'gw-modbus'));
      const values = Object.fromEntries(good.batch.readings.map((y) => [y.meter, y.value]));
      expect(values['m-int16']).toBe(-1234);
      expect(values['m-uint16']).toBeCloseTo(600, 9);
      expect(values['m-int32']).toBe(-100_000);
      expect(values['m-uint32']).toBe(3_000_000_000);
      expect(values['m-float32']).toBe(13.5);
      expect(values['m-ph']).toBeCloseTo(7.25, 9);
      expect(values['m-input']).toBe(-0.75);
      // One tick, one timestamp, aligned to the poll interval.
      const stamps = new Set(good.batch.readings.map((y) => y.ts));
      expect(stamps.size).toBe(1);
      expect([...stamps][0]! % POLL_MS).toBe(0);

      await server.stop();
      const stoppedAt = Date.now();
      await until('bad readings after the device went away', () => mine().some((x) => x.batch.sentAt > stoppedAt && x.batch.readings.every((y) => y.value === null && y.quality === 'bad')), 10_000);
      const bad = mine().filter((x) => x.batch.sentAt > stoppedAt && x.batch.readings.every((y) => y.quality === 'bad'));
      // Every register is still reported, so a dead meter is visible downstream.
      expect(bad[0]!.batch.readings.map((y) => y.meter).sort()).toEqual(['m-float32', 'm-input', 'm-int16', 'm-int32', 'm-ph', 'm-uint16', 'm-uint32']);
      const stats = gateway.stats();
      expect(stats.inputs[0]!.badReadings).toBeGreaterThan(0);
      expect(stats.inputs[0]!.errors).toBeGreaterThan(0);
      expect(stats.inputs[0]!.state).not.toBe('connected');
      await gateway.flush();
    } finally {
      await gateway.stop();
      await server.stop();
    }
  });
});
