/**
 * On Mosquitto, cleanstream's guard plugin (deploy/mosquitto/plugin/) beside dynamic security, as
 * deploy/mosquitto/mosquitto.conf loads them: readings and alert acknowledgements are never retained, whoever sends
 * them, while the topics the design does retain (gateway status, alerts) still are; and an address's connection
 * attempts are bounded.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { BrokerUsers, hashPassword, type BrokerUser } from '../../../bus/broker-auth.ts';
import { topics } from '../../../bus/topics.ts';
import { DYNSEC_PLUGIN, startMosquitto, type RunningMosquitto } from '../../harness/mosquitto.ts';
import { until } from '../../harness/wait.ts';

const SHIPPED_CONF = readFileSync(new URL('../../../deploy/mosquitto/mosquitto.conf', import.meta.url), 'utf8').split('\n');

/** The guard's options in the shipped file (`plugin_opt_<key> <value>` lines after its `plugin` line). */
function shippedGuardOptions(): Record<string, string> {
  const start = SHIPPED_CONF.findIndex((l) => /^plugin\s+\S*cleanstream_guard\.so\s*$/.test(l));
  const options: Record<string, string> = {};
  for (const line of SHIPPED_CONF.slice(start + 1)) {
    if (/^plugin\s/.test(line)) break;
    const m = /^plugin_opt_(\S+)\s+(.+)$/.exec(line);
    if (m) options[m[1]!] = m[2]!.trim();
  }
  return options;
}

const who = {
  gateway: { username: 'gw-paper', password: 'gw-secret', clientId: 'cleanstream-gw-paper' },
  ingest: { username: 'ingest', password: 'ingest-secret', clientId: 'cleanstream-ingest' },
  rules: { username: 'rules', password: 'rules-secret', clientId: 'cleanstream-rules' },
  dashboard: { username: 'dash', password: 'dash-secret', clientId: 'cleanstream-dashboard' },
};
const roles: Record<keyof typeof who, Partial<BrokerUser>> = {
  gateway: { role: 'gateway', plants: ['paper-01'] },
  ingest: { role: 'ingest' },
  rules: { role: 'rules' },
  dashboard: { role: 'dashboard' },
};
const users = new BrokerUsers(
  (Object.keys(who) as (keyof typeof who)[]).map((k) => ({ username: who[k].username, passwordHash: hashPassword(who[k].password), ...roles[k] }) as BrokerUser),
);
const passwords = Object.fromEntries(Object.values(who).map((u) => [u.username, u.password]));

const reading = topics.readings('paper-01', 'gw-paper');
const ack = topics.alertAck('paper-01', 'cod-limit', 'outfall-1-cod');

function connect(broker: RunningMosquitto, as: keyof typeof who, extra: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(broker.url, { protocolVersion: 5, ...who[as], reconnectPeriod: 0, ...extra });
}

/** What a publish came back with: the PUBACK's reason code (0 under MQTT 3.1.1, which has none). */
function pubackCode(client: MqttClient, topic: string, payload: string, retain: boolean): Promise<number> {
  return client.publishAsync(topic, payload, { qos: 1, retain }).then(
    (packet) => (packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0,
    (err: Error & { code?: number }) => err.code ?? -1,
  );
}

interface Received {
  topic: string;
  payload: string;
  retain: boolean;
}

/**
 * Subscribes `as` to `filter` and returns the first message it gets after `live` (a non-retained publish made once
 * the subscription stands) is published: Mosquitto sends a filter's retained messages right after the SUBACK, so
 * anything retained arrives before the live one.
 */
async function firstAfterSubscribing(broker: RunningMosquitto, as: keyof typeof who, filter: string, live: () => Promise<void>): Promise<Received[]> {
  const client = await connect(broker, as);
  const received: Received[] = [];
  client.on('message', (topic, payload, packet) => received.push({ topic, payload: payload.toString(), retain: packet.retain }));
  await client.subscribeAsync(filter, { qos: 1 });
  await live();
  await until('the live message', () => received.some((m) => !m.retain));
  await client.endAsync();
  return received;
}

describe('Mosquitto with the guard plugin before dynamic security (deploy/mosquitto/mosquitto.conf)', () => {
  let broker: RunningMosquitto;
  beforeAll(async () => {
    broker = await startMosquitto({ auth: { users, passwords, mode: 'dynsec' }, guard: { options: shippedGuardOptions() } });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('ships the guard listed before dynamic security, with the topic scheme\'s never-retained filters', () => {
    const plugins = SHIPPED_CONF.filter((l) => /^plugin\s/.test(l));
    expect(plugins).toEqual(['plugin /usr/local/lib/cleanstream/cleanstream_guard.so', `plugin ${DYNSEC_PLUGIN}`]);
    expect(shippedGuardOptions()).toMatchObject({ no_retain_topics: 'cleanstream/v1/readings/+/+ cleanstream/v1/alert-acks/#' });
  });

  // With the shipped `max_queued_messages 0`, Debian's Mosquitto 2.0.11 closes a connection right after answering a
  // refused QoS 1 publish (dynamic security's refusals too); without that option it keeps it open. So each refused
  // publish below has a connection of its own, as a gateway would reconnect.
  it('refuses a gateway\'s retained reading with PUBACK 0x87 (MQTT 5) and stores nothing; the reading not retained still reaches ingest', async () => {
    const ingest = await connect(broker, 'ingest');
    const toIngest: string[] = [];
    ingest.on('message', (_t, payload) => toIngest.push(payload.toString()));
    await ingest.subscribeAsync(topics.readingsFilter(), { qos: 1 });

    const refused = await connect(broker, 'gateway');
    expect(await pubackCode(refused, reading, 'retained-batch', true)).toBe(135); // Not authorized, MQTT 5 §3.4.2.1
    await until('the broker to close the refused publisher', () => !refused.connected);
    const gw = await connect(broker, 'gateway');
    expect(await pubackCode(gw, reading, 'live-batch', false)).toBe(0);
    await until('ingest to get the live batch', () => toIngest.includes('live-batch'));
    expect(toIngest).toEqual(['live-batch']);
    expect(broker.log).toContain(`cleanstream_guard: retained publish to ${reading} refused (client cleanstream-gw-paper, user gw-paper): this topic is never retained`);
    await ingest.endAsync();

    const late = await firstAfterSubscribing(broker, 'rules', topics.readingsFilter(), async () => {
      await gw.publishAsync(reading, 'later-batch', { qos: 1 });
    });
    expect(late).toEqual([{ topic: reading, payload: 'later-batch', retain: false }]);
    await gw.endAsync();
  });

  it('under MQTT 3.1.1, which cannot say no to a publish, acknowledges a retained reading, delivers and stores nothing, and closes the connection', async () => {
    const ingest = await connect(broker, 'ingest', { protocolVersion: 4 });
    const toIngest: string[] = [];
    ingest.on('message', (_t, payload) => toIngest.push(payload.toString()));
    await ingest.subscribeAsync(topics.readingsFilter(), { qos: 1 });

    // MQTT 3.1.1 §3.3.5: a server that does not authorize a PUBLISH acknowledges it as usual or closes the connection.
    const refused = await connect(broker, 'gateway', { protocolVersion: 4 });
    expect(await pubackCode(refused, reading, 'retained-batch-311', true)).toBe(0);
    await until('the broker to close the refused publisher', () => !refused.connected);
    const gw = await connect(broker, 'gateway', { protocolVersion: 4 });
    await gw.publishAsync(reading, 'live-batch-311', { qos: 1 });
    await until('ingest to get the live batch', () => toIngest.includes('live-batch-311'));
    expect(toIngest).toEqual(['live-batch-311']);
    await ingest.endAsync();

    const late = await firstAfterSubscribing(broker, 'rules', topics.readingsFilter(), async () => {
      await gw.publishAsync(reading, 'later-batch-311', { qos: 1 });
    });
    expect(late).toEqual([{ topic: reading, payload: 'later-batch-311', retain: false }]);
    await gw.endAsync();
  });

  it('refuses the dashboard\'s retained alert acknowledgement and stores nothing; one not retained still reaches rules', async () => {
    const rules = await connect(broker, 'rules');
    const toRules: string[] = [];
    rules.on('message', (_t, payload) => toRules.push(payload.toString()));
    await rules.subscribeAsync(topics.alertAcksFilter(), { qos: 1 });

    const refused = await connect(broker, 'dashboard');
    expect(await pubackCode(refused, ack, '{"by":"retained"}', true)).toBe(135);
    await until('the broker to close the refused publisher', () => !refused.connected);
    const dashboard = await connect(broker, 'dashboard');
    expect(await pubackCode(dashboard, ack, '{"by":"live"}', false)).toBe(0);
    await until('rules to get the acknowledgement', () => toRules.includes('{"by":"live"}'));
    expect(toRules).toEqual(['{"by":"live"}']);
    await rules.endAsync();

    const late = await firstAfterSubscribing(broker, 'rules', topics.alertAcksFilter(), async () => {
      await dashboard.publishAsync(ack, '{"by":"later"}', { qos: 1 });
    });
    expect(late).toEqual([{ topic: ack, payload: '{"by":"later"}', retain: false }]);
    await dashboard.endAsync();
  });

  it('keeps what the design retains: the gateway\'s status and rules\' alert state reach a later subscriber', async () => {
    const gw = await connect(broker, 'gateway');
    expect(await pubackCode(gw, topics.status('gw-paper'), 'online', true)).toBe(0);
    const rules = await connect(broker, 'rules');
    const alert = topics.alert('paper-01', 'cod-limit', 'outfall-1-cod');
    expect(await pubackCode(rules, alert, '{"state":"open"}', true)).toBe(0);
    await rules.endAsync();

    const late = await firstAfterSubscribing(broker, 'dashboard', `${topics.status('+')}`, async () => {
      await gw.publishAsync(topics.status('gw-paper'), 'online-again', { qos: 1 });
    });
    expect(late[0]).toEqual({ topic: topics.status('gw-paper'), payload: 'online', retain: true });
    const alerts = await firstAfterSubscribing(broker, 'dashboard', topics.alertsFilter(), async () => {
      const r = await connect(broker, 'rules');
      await r.publishAsync(alert, '{"state":"cleared"}', { qos: 1 });
      await r.endAsync();
    });
    expect(alerts[0]).toEqual({ topic: alert, payload: '{"state":"open"}', retain: true });
    await gw.endAsync();
  });
});

describe('Mosquitto with the guard plugin listed after dynamic security', () => {
  it('never asks the guard: dynamic security\'s "allowed" ends the check, and a retained reading is stored', async () => {
    const broker = await startMosquitto({ auth: { users, passwords, mode: 'dynsec' }, guard: { after: 'dynsec' } });
    try {
      const gw = await connect(broker, 'gateway');
      expect(await pubackCode(gw, reading, 'retained-batch', true)).toBe(0);
      const late = await firstAfterSubscribing(broker, 'rules', topics.readingsFilter(), async () => {
        await gw.publishAsync(reading, 'later-batch', { qos: 1 });
      });
      expect(late[0]).toEqual({ topic: reading, payload: 'retained-batch', retain: true });
      await gw.endAsync();
    } finally {
      await broker.stop();
    }
  });
});

describe('Mosquitto with the guard plugin\'s connection limit per address', () => {
  let broker: RunningMosquitto;
  beforeAll(async () => {
    broker = await startMosquitto({
      auth: { users, passwords, mode: 'dynsec' },
      guard: { options: { ...shippedGuardOptions(), connection_burst: '3', connections_per_second: '0.01' } },
    });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('refuses an address\'s connections past its burst as not authorized, with the right password, and logs it once', async () => {
    const outcomes: (number | 'connected')[] = [];
    for (let i = 0; i < 5; i++) {
      outcomes.push(
        await connect(broker, 'gateway').then(
          async (client) => {
            await client.endAsync();
            return 'connected' as const;
          },
          (err: Error & { code?: number }) => err.code ?? -1,
        ),
      );
    }
    expect(outcomes).toEqual(['connected', 'connected', 'connected', 135, 135]); // CONNACK 0x87 Not authorized
    const refusals = broker.log.split('\n').filter((l) => l.includes('cleanstream_guard: connections from 127.0.0.1 refused'));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toContain('more than 3 at once or 0.01 a second');
  });
});

describe('Mosquitto with the guard plugin\'s own never-retained filters', () => {
  it('refuses retain on the topics its no_retain_topics names, in place of the defaults', async () => {
    const broker = await startMosquitto({ auth: { users, passwords, mode: 'dynsec' }, guard: { options: { no_retain_topics: 'cleanstream/v1/status/#' } } });
    try {
      const refused = await connect(broker, 'gateway');
      expect(await pubackCode(refused, topics.status('gw-paper'), 'online', true)).toBe(135);
      await until('the broker to close the refused publisher', () => !refused.connected);
      const gw = await connect(broker, 'gateway');
      expect(await pubackCode(gw, reading, 'retained-batch', true)).toBe(0);
      await gw.endAsync();
    } finally {
      await broker.stop();
    }
  });
});

describe('Mosquitto refuses to start with a bad guard option', () => {
  it.each([
    [{ no_retain_topics: 'cleanstream/v1/readings/#/x' }, "plugin_opt_no_retain_topics: 'cleanstream/v1/readings/#/x' is not an MQTT topic filter"],
    [{ connection_burst: 'thirty' }, "plugin_opt_connection_burst: expected a whole number from 0 to 1000000, got 'thirty'"],
    [{ connections_per_second: '0' }, "plugin_opt_connections_per_second: expected a number above 0 and at most 1e+06, got '0'"],
    [{ connection_brust: '30' }, 'unknown option plugin_opt_connection_brust'],
  ])('%o', async (options, message) => {
    await expect(startMosquitto({ auth: { users, passwords, mode: 'dynsec' }, guard: { options } })).rejects.toThrow(message);
  });
});
