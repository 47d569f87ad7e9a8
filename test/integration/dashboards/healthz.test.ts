/**
 * The dashboard's /healthz as a load balancer or a supervisor probes it: 200 only while it can serve both live data
 * (subscribed to the broker) and history (InfluxDB answers); 503 with which one is missing while InfluxDB is down or
 * the broker is, without naming internal addresses; 200 again once each is back, without restarting the dashboard.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { TokenStore } from '../../../dashboards/auth.ts';
import { startDashboard, type RunningDashboard } from '../../../dashboards/server.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { freePort } from '../../harness/ports.ts';
import { until } from '../../harness/wait.ts';
import { demoPlants } from '../../harness/plants.ts';

const registry = demoPlants();

interface Health {
  status: string;
  mqtt: { connected: boolean; subscribed: boolean };
  influx: { reachable: boolean };
}

describe('dashboard /healthz', () => {
  let influx: RunningInflux;
  let broker: RunningBroker;
  let brokerPort: number;
  let dashboard: RunningDashboard;

  beforeAll(async () => {
    brokerPort = await freePort();
    [influx, broker] = await Promise.all([startInfluxd(), startBroker({ port: brokerPort })]);
    await influx.exec('CREATE DATABASE "health"');
    dashboard = await startDashboard({ registry, tokens: new TokenStore(), influx: { url: influx.url, database: 'health' }, mqtt: { url: broker.url }, host: '127.0.0.1', port: await freePort() });
  }, 60_000);
  afterAll(async () => {
    await dashboard?.stop();
    await broker?.stop();
    await influx?.stop();
  });

  async function health(): Promise<{ status: number; body: Health; text: string }> {
    const res = await fetch(`${dashboard.url}/healthz`);
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as Health, text };
  }
  /** The first answer with this status, polled for at most `timeoutMs`. */
  async function answering(status: number, what: string, timeoutMs: number): Promise<{ status: number; body: Health; text: string }> {
    let last: Awaited<ReturnType<typeof health>> | undefined;
    await until(what, async () => (last = await health()).status === status, timeoutMs, 100);
    return last!;
  }

  it('answers 503 while InfluxDB is down and 200 once it is back', async () => {
    expect(await answering(200, 'healthy', 10_000)).toMatchObject({ body: { status: 'ok', mqtt: { connected: true, subscribed: true }, influx: { reachable: true } } });
    await influx.kill();
    try {
      const down = await answering(503, '503 with InfluxDB down', 10_000);
      expect(down.body).toMatchObject({ status: 'degraded', mqtt: { subscribed: true }, influx: { reachable: false } });
      expect(down.text).not.toContain(String(influx.port));
      expect(down.text).not.toContain('health"');
    } finally {
      await influx.restart();
    }
    expect((await answering(200, 'healthy again', 15_000)).body.influx.reachable).toBe(true);
  }, 40_000);

  it('answers 503 while the broker is down and 200 once the dashboard has subscribed again', async () => {
    expect((await answering(200, 'healthy', 10_000)).body.mqtt.subscribed).toBe(true);
    await broker.stop();
    const down = await answering(503, '503 with the broker down', 10_000);
    expect(down.body).toMatchObject({ status: 'degraded', mqtt: { connected: false, subscribed: false }, influx: { reachable: true } });
    expect(down.text).not.toContain(String(brokerPort));
    broker = await startBroker({ port: brokerPort });
    expect((await answering(200, 'healthy again', 15_000)).body.mqtt).toEqual({ connected: true, subscribed: true });
  }, 40_000);
});
