/**
 * The broker is unreachable when the gateway starts, then refuses it for a while: scans are kept in the disk queue, in order, and delivered once the
 * broker is up; flush() resolves only when all of them are acknowledged. What users rely on: a broker outage costs
 * latency, not readings, while the gateway keeps running.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { startBroker } from '../../../deploy/broker.ts';
import { freePort } from '../../harness/ports.ts';
import { decodeBatch, type ReadingBatch } from '../../../core/reading.ts';
import { topics } from '../../../core/topics.ts';
import { parseGatewayConfig } from '../../../gateway/config.ts';
import { startGateway } from '../../../gateway/main.ts';
import { startTestModbusServer } from './servers.ts';
import { until } from '../../harness/wait.ts';

const POLL_MS = 100;
const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const workDir = mkdtempSync(path.join(tmpdir(), 'cs-gw-outage-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));


describe('gateway while the broker is down', () => {
  it('keeps every batch in order and delivers them once the broker is up', async () => {
    const modbusPort = await freePort();
    const mqttPort = await freePort();
    const device = await startTestModbusServer({ port: modbusPort, holding: new Map([[1, new Map([[0, 42], [1, 43]])]]), input: new Map() });
    const gateway = await startGateway(
      parseGatewayConfig('test gw-outage', {
        id: 'gw-outage',
        mqtt: { url: `mqtt://127.0.0.1:${mqttPort}` },
        dataDir: path.join(workDir, 'gw'),
        inputs: [{ type: 'modbus', host: '127.0.0.1', port: modbusPort, pollIntervalMs: POLL_MS, registers: [{ plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', unit: 'mg/L', area: 'holding', address: 0, type: 'uint16' }] }],
      }),
      { logger },
    );
    await until('scans while no broker listens', () => gateway.stats().inputs[0]!.scans >= 4, 5_000);
    // Then a broker that refuses the gateway (CONNACK "not authorized") until the observer is subscribed, so that nothing is delivered before anyone listens.
    let observerReady = false;
    let refusals = 0;
    const broker = await startBroker({
      port: mqttPort,
      aedes: {
        authenticate: (client, _u, _p, done) => {
          const accept = observerReady || client.id === 'observer';
          if (!accept) refusals++;
          done(null, accept);
        },
      },
    });
    const received: ReadingBatch[] = [];
    const observer = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: 'observer' });
    try {
      observer.on('message', (_topic, payload) => received.push(decodeBatch(payload)));
      await observer.subscribeAsync(topics.readingsFilter(), { qos: 1 });

      await until('the broker refusing the gateway', () => refusals >= 1, 5_000);
      await until('a backlog of scans', () => gateway.stats().inputs[0]!.scans >= 8, 5_000);
      expect(gateway.stats().publisher).toMatchObject({ connected: false, batchesPublished: 0 });
      expect(gateway.stats().publisher.queuedBatches).toBeGreaterThanOrEqual(8);

      observerReady = true;
      await gateway.flush(15_000);
      const handedOver = gateway.stats().publisher.nextSeq;
      await until('every acknowledged batch at the observer', () => received.length >= handedOver, 3_000);
      await gateway.stop();

      // Nothing lost, nothing duplicated, in the order the scans were made.
      expect(received.slice(0, handedOver).map((b) => b.seq)).toEqual(Array.from({ length: handedOver }, (_, i) => i));
      const stamps = received.map((b) => b.readings[0]!.ts);
      expect(stamps).toEqual([...stamps].sort((a, b) => a - b));
      expect(received.every((b) => b.readings[0]!.value === 42)).toBe(true);
      expect(gateway.stats().publisher.publishErrors).toBe(0);
    } finally {
      await gateway.stop();
      await observer.endAsync();
      await broker.stop();
      await device.stop();
    }
  });
});
