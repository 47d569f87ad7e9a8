/**
 * The gateway's /healthz as a supervisor probes it: a broker outage alone is not unhealthy (the gateway queues, as it
 * should: 200), but once its queue is full and it refuses new readings it answers 503 (it used to stay 200: the
 * queue refuses a batch that does not fit in what is left, so it never reached its maximum exactly).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { parseGatewayConfig } from '../../../gateway/config.ts';
import { startGateway } from '../../../gateway/main.ts';
import { freePort } from '../../harness/ports.ts';
import { until } from '../../harness/wait.ts';
import { startTestModbusServer } from './servers.ts';

const workDir = mkdtempSync(path.join(tmpdir(), 'cs-gw-healthz-full-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe('gateway /healthz', () => {
  it('stays 200 while it queues through a broker outage and turns 503 once the queue is full', async () => {
    const modbusPort = await freePort();
    const registers = 100;
    const modbus = await startTestModbusServer({ port: modbusPort, holding: new Map([[1, new Map(Array.from({ length: registers }, (_, i) => [i, i] as [number, number]))]]), input: new Map() });
    // no broker listens here: everything goes to the queue
    const deadBroker = `mqtt://127.0.0.1:${await freePort()}`;
    const gateway = await startGateway(
      parseGatewayConfig('test gw-full', {
        id: 'gw-full',
        mqtt: { url: deadBroker },
        dataDir: path.join(workDir, 'gw'),
        health: { intervalMs: 0 },
        metrics: { port: 0 },
        queue: { maxBytes: 1024 * 1024 },
        inputs: [
          {
            type: 'modbus',
            host: '127.0.0.1',
            port: modbusPort,
            pollIntervalMs: 20,
            registers: Array.from({ length: registers }, (_, i) => ({ plant: 'paper-01', meter: `m${i}`, quantity: 'cod', unit: 'mg/L', area: 'holding', type: 'uint16', address: i })),
          },
        ],
      }),
      { logger: pino({ level: 'silent' }) },
    );
    try {
      const healthz = async () => {
        const res = await fetch(`${gateway.metricsUrl}/healthz`);
        return { status: res.status, body: (await res.json()) as { healthy: boolean } };
      };
      await until('readings queued', () => gateway.stats().publisher.queueBytes > 0, 10_000);
      expect(await healthz()).toMatchObject({ status: 200, body: { healthy: true } });
      let full = { status: 0, body: { healthy: true } };
      await until('503 once the queue is full', async () => (full = await healthz()).status === 503, 30_000, 100);
      expect(full.body.healthy).toBe(false);
      // the queue refuses batches that no longer fit: it drops data without reaching its maximum exactly
      expect(gateway.stats().publisher.droppedBatches).toBeGreaterThan(0);
    } finally {
      await gateway.stop();
      await modbus.stop();
    }
  }, 90_000);
});
