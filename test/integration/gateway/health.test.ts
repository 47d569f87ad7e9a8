/**
 * What a gateway says about itself: a periodic JSON report on cleanstream/v1/status/{id}/health (readings/s, errors
 * per input, queue depth), the same figures on /metrics for Prometheus, and /healthz for probes; `online` retained
 * on the status topic while it runs and `offline` (its last will) when it dies without saying goodbye.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { startBroker } from '../../../bus/broker.ts';
import { topics } from '../../../bus/topics.ts';
import { parseGatewayConfig } from '../../../gateway/config.ts';
import { startGateway, type HealthReport } from '../../../gateway/main.ts';
import { freePort } from '../../harness/ports.ts';
import { startTestModbusServer } from './servers.ts';
import { until } from '../../harness/wait.ts';

const workDir = mkdtempSync(path.join(tmpdir(), 'cs-gw-health-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));


describe('gateway health', () => {
  it('reports rates, errors and queue depth on the health topic and /metrics', async () => {
    const modbusPort = await freePort();
    const modbus = await startTestModbusServer({ port: modbusPort, holding: new Map([[1, new Map([[0, 1], [1, 2]])]]), input: new Map() });
    const broker = await startBroker();
    const observer = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    const reports: HealthReport[] = [];
    const status: string[] = [];
    observer.on('message', (topic, payload) => {
      if (topic === topics.health('gw-health')) reports.push(JSON.parse(payload.toString()) as HealthReport);
      else if (topic === topics.status('gw-health')) status.push(payload.toString());
    });
    await observer.subscribeAsync([topics.health('gw-health'), topics.status('gw-health')], { qos: 1 });
    const reg = { plant: 'paper-01', quantity: 'cod', unit: 'mg/L', area: 'holding', type: 'uint16' };
    const gateway = await startGateway(
      parseGatewayConfig('test gw-health', {
        id: 'gw-health',
        mqtt: { url: broker.url },
        dataDir: path.join(workDir, 'gw'),
        health: { intervalMs: 500 },
        metrics: { port: 0 },
        inputs: [
          // 2 registers every 100 ms: 20 readings/s; address 7 does not exist: one error per poll.
          { type: 'modbus', host: '127.0.0.1', port: modbusPort, pollIntervalMs: 100, registers: [{ ...reg, meter: 'a', address: 0 }, { ...reg, meter: 'b', address: 1 }, { ...reg, meter: 'missing', address: 7 }] },
        ],
      }),
      { logger: pino({ level: 'silent' }) },
    );
    try {
      await until('three health reports', () => reports.length >= 3, 10_000);
      const report = reports.at(-1)!;
      expect(report.gateway).toBe('gw-health');
      expect(report.brokerConnected).toBe(true);
      expect(report.readingsPerSecond).toBeGreaterThan(20); // 3 readings per 100 ms poll = 30/s
      expect(report.readingsPerSecond).toBeLessThan(40);
      expect(report.inputs[0]).toMatchObject({ type: 'modbus', state: 'connected' });
      expect(report.inputs[0]!.errors).toBeGreaterThan(0);
      expect(report.queue.maxBytes).toBe(1024 * 1024 * 1024);
      expect(report.queue.batches).toBeLessThan(5);
      expect(status).toContain('online');

      const metrics = await (await fetch(`${gateway.metricsUrl}/metrics`)).text();
      const value = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(metrics)?.[1]);
      expect(value('cleanstream_gateway_readings_total')).toBeGreaterThan(30);
      expect(value('cleanstream_gateway_input_errors_total')).toBeGreaterThan(0);
      expect(value('cleanstream_gateway_broker_connected')).toBe(1);
      expect(value('cleanstream_gateway_queue_batches')).toBeGreaterThanOrEqual(0);
      expect(value('cleanstream_gateway_batches_published_total')).toBeGreaterThan(0);
      const healthz = await fetch(`${gateway.metricsUrl}/healthz`);
      expect(healthz.status).toBe(200);
      expect(((await healthz.json()) as { healthy: boolean }).healthy).toBe(true);
      expect(gateway.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

      // A gateway that vanishes (its connection cut, no DISCONNECT) is announced offline by the broker.
      // aedes' typings omit its connected-clients map.
      const clients = (broker.aedes as unknown as { clients: Record<string, { conn: { destroy(): void } }> }).clients;
      clients['cleanstream-gw-health']!.conn.destroy();
      await until('the last will', () => status.at(-1) === 'offline', 5_000);
    } finally {
      await gateway.stop();
      await observer.endAsync();
      await broker.stop();
      await modbus.stop();
    }
  });
});
