/**
 * The rules service and the dashboard on a broker that requires users (bus/broker-auth.ts), each connecting as the
 * user of its role and doing its whole job: rules reads a gateway's readings and publishes the alert, the dashboard
 * shows it and forwards an operator's acknowledgement, rules acknowledges it; no refusal on the way. The same users
 * are refused what their roles do not allow: injecting readings, publishing alerts from the dashboard, reading
 * topics that are not theirs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { encodeBatch, type ReadingBatch } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { BrokerUsers, hashPassword } from '../../../bus/broker-auth.ts';
import { TokenStore } from '../../../dashboards/auth.ts';
import { startDashboard, type RunningDashboard } from '../../../dashboards/server.ts';
import { startRules, type RulesService } from '../../../rules/service.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { freePort } from '../../harness/ports.ts';
import { until } from '../../harness/wait.ts';
import { demoPlants } from '../../harness/plants.ts';

const registry = demoPlants();

const users = new BrokerUsers([
  { username: 'gw-paper', passwordHash: hashPassword('gw-secret'), role: 'gateway', plants: ['paper-01'] },
  { username: 'rules', passwordHash: hashPassword('rules-secret'), role: 'rules' },
  { username: 'dashboard', passwordHash: hashPassword('dashboard-secret'), role: 'dashboard' },
]);

interface ShownAlert {
  id: string;
  rule: string;
  state: string;
  ackedBy?: string;
}

describe('rules and dashboard as their broker roles', () => {
  let broker: RunningBroker;
  let influx: RunningInflux;
  let rules: RulesService;
  let dashboard: RunningDashboard;
  const denied: string[] = [];
  const clients: MqttClient[] = [];
  const tokens = new TokenStore();
  const paperOps = tokens.generate({ name: 'paper-ops', role: 'operator', plants: ['paper-01'] }).token;

  async function api<T>(pathname: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: T }> {
    const res = await fetch(`${dashboard.url}${pathname}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${paperOps}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as T };
  }
  async function connect(username: string, password: string): Promise<MqttClient> {
    // one of the user's own client ids (a user may not take another's)
    const c = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: `${username}-test-${clients.length}`, username, password, reconnectPeriod: 0 });
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    [broker, influx] = await Promise.all([startBroker({ users, onDenied: (w) => denied.push(w) }), startInfluxd()]);
    rules = await startRules(
      {
        mqtt: { url: broker.url, protocolVersion: 4, username: 'rules', password: 'rules-secret' },
        influx: { url: influx.url, database: 'roles' },
        eventTime: { allowedLatenessMs: 0 },
        rules: [{ id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: { max: 100 } }],
      },
      { registry, logger: pino({ level: 'silent' }) },
    );
    dashboard = await startDashboard({
      registry,
      tokens,
      influx: { url: influx.url, database: 'roles' },
      mqtt: { url: broker.url, username: 'dashboard', password: 'dashboard-secret' },
      host: '127.0.0.1',
      port: await freePort(),
      ackWaitMs: 5000,
    });
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await dashboard?.stop();
    await rules?.stop();
    await broker?.stop();
    await influx?.stop();
  });

  it('judge, show and acknowledge an alert, each as its own user, with nothing refused', async () => {
    await until('the dashboard subscribed as its user', async () => (await fetch(`${dashboard.url}/healthz`)).status === 200, 15_000);
    const gateway = await connect('gw-paper', 'gw-secret');
    const batch: ReadingBatch = { v: 1, gateway: 'gw-paper', plant: 'paper-01', seq: 0, sentAt: Date.now(), readings: [{ meter: 'outfall-1-cod', quantity: 'cod', value: 150, unit: 'mg/L', ts: Date.now() - 1000, quality: 'good' }] };
    await gateway.publishAsync(topics.readings('paper-01', 'gw-paper'), encodeBatch(batch), { qos: 1 });

    let shown: ShownAlert | undefined;
    await until('the alert raised by rules shown by the dashboard', async () => (shown = (await api<{ alerts: ShownAlert[] }>('/api/alerts?plant=paper-01')).body.alerts.find((a) => a.rule === 'cod-limit')) !== undefined, 15_000);
    expect(shown).toMatchObject({ state: 'raised' });

    const ack = await api<{ confirmed: boolean; alert: ShownAlert }>(`/api/alerts/${shown!.id}/ack`, { method: 'POST', body: { comment: 'checked on site' } });
    expect(ack).toMatchObject({ status: 200, body: { confirmed: true, alert: { id: shown!.id, state: 'acknowledged', ackedBy: 'paper-ops' } } });
    expect(rules.engine.openAlerts().find((a) => a.id === shown!.id)?.state).toBe('acknowledged');
    expect(denied).toEqual([]);
  }, 40_000);

  it('refuses the rules user readings to publish and status to read, and the dashboard user alerts to publish and dead letters to read', async () => {
    const asRules = await connect('rules', 'rules-secret');
    await expect(asRules.subscribeAsync(topics.status('gw-paper'), { qos: 1 })).rejects.toThrow(/Subscribe error/);
    const rulesClosed = new Promise<void>((resolve) => asRules.once('close', () => resolve()));
    asRules.publish(topics.readings('paper-01', 'gw-paper'), '{}', { qos: 1 });
    await rulesClosed; // MQTT 3.1.1 has no negative PUBACK: the broker closes the connection

    const asDashboard = await connect('dashboard', 'dashboard-secret');
    await expect(asDashboard.subscribeAsync(topics.deadLetter('ingest'), { qos: 1 })).rejects.toThrow(/Subscribe error/);
    const dashboardClosed = new Promise<void>((resolve) => asDashboard.once('close', () => resolve()));
    asDashboard.publish(topics.alert('paper-01', 'cod-limit', 'outfall-1-cod'), '{"state":"cleared"}', { qos: 1, retain: true });
    await dashboardClosed;

    expect(denied).toEqual([
      expect.stringContaining(`subscribe to ${topics.status('gw-paper')} refused for user rules`),
      expect.stringContaining(`publish to ${topics.readings('paper-01', 'gw-paper')} refused for user rules`),
      expect.stringContaining(`subscribe to ${topics.deadLetter('ingest')} refused for user dashboard`),
      expect.stringContaining(`publish to ${topics.alert('paper-01', 'cod-limit', 'outfall-1-cod')} refused for user dashboard`),
    ]);
    // the dashboard still shows the alert as rules left it
    expect((await api<{ alerts: ShownAlert[] }>('/api/alerts?plant=paper-01')).body.alerts.find((a) => a.rule === 'cod-limit')?.state).toBe('acknowledged');
  }, 30_000);
});
