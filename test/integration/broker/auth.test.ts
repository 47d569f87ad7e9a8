/**
 * The broker refuses what a user's role does not allow: wrong credentials at connect, a gateway publishing for a
 * plant that is not its own, a gateway or ingest subscribing beyond its role. Real aedes, real MQTT.js clients.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { BrokerUsers, hashPassword } from '../../../bus/broker-auth.ts';
import { topics } from '../../../bus/topics.ts';
import { liveSessionIsNotTakenOver, offlineQueueIsNotStolen, takeoverUsers } from './takeover.ts';

const users = new BrokerUsers([
  { username: 'gw-paper', passwordHash: hashPassword('gw-secret'), role: 'gateway', plants: ['paper-01'] },
  { username: 'ingest', passwordHash: hashPassword('ingest-secret'), role: 'ingest' },
]);

describe('embedded broker with users and topic ACLs', () => {
  let broker: RunningBroker;
  const denied: string[] = [];
  const clients: MqttClient[] = [];
  const connect = async (username: string, password: string): Promise<MqttClient> => {
    const c = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: `${username}-${clients.length}`, username, password, reconnectPeriod: 0 });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    broker = await startBroker({ users, onDenied: (w) => denied.push(w) });
  });
  afterAll(async () => {
    for (const c of clients) c.end(true);
    await broker?.stop();
  });

  it('refuses a wrong password with CONNACK "bad username or password"', async () => {
    await expect(mqtt.connectAsync(broker.url, { protocolVersion: 4, username: 'gw-paper', password: 'nope', reconnectPeriod: 0 })).rejects.toMatchObject({ code: 4 });
    await expect(mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 })).rejects.toMatchObject({ code: 4 });
    expect(denied.some((d) => d.includes('authentication failed for user "gw-paper"'))).toBe(true);
  });

  it('delivers a gateway\'s readings for its own plant, and drops one for another plant', async () => {
    const ingest = await connect('ingest', 'ingest-secret');
    const received: string[] = [];
    ingest.on('message', (topic) => received.push(topic));
    await ingest.subscribeAsync(topics.readingsFilter(), { qos: 1 });

    const gw = await connect('gw-paper', 'gw-secret');
    await gw.publishAsync(topics.readings('paper-01', 'gw-paper'), '{}', { qos: 1 });
    const closed = new Promise<void>((resolve) => gw.once('close', () => resolve()));
    gw.publish(topics.readings('steel-01', 'gw-paper'), '{}', { qos: 1 });
    await closed; // MQTT 3.1.1 has no negative PUBACK: the broker closes the connection
    await new Promise((r) => setTimeout(r, 200));
    expect(received).toEqual([topics.readings('paper-01', 'gw-paper')]);
    expect(denied).toContainEqual(expect.stringContaining(`publish to ${topics.readings('steel-01', 'gw-paper')} refused for user gw-paper`));
  });

  it('grants subscriptions by role: ingest reads readings (also shared), not alerts; a gateway reads nothing', async () => {
    const ingest = await connect('ingest', 'ingest-secret');
    // MQTT.js rejects a SUBACK that carries 0x80 (failure) for any filter.
    await expect(ingest.subscribeAsync(topics.readingsFilter(), { qos: 1 })).resolves.toMatchObject([{ qos: 1 }]);
    await expect(ingest.subscribeAsync(topics.sharedReadingsFilter('ingest'), { qos: 1 })).resolves.toMatchObject([{ qos: 1 }]);
    await expect(ingest.subscribeAsync(topics.alertsFilter(), { qos: 1 })).rejects.toThrow(/Subscribe error/);
    const gw = await connect('gw-paper', 'gw-secret');
    await expect(gw.subscribeAsync(topics.readingsFilter(), { qos: 1 })).rejects.toThrow(/Subscribe error/);
    expect(denied).toContainEqual(expect.stringContaining(`subscribe to ${topics.alertsFilter()} refused for user ingest`));
  });
});

describe('embedded broker: client ids are bound to users', () => {
  let broker: RunningBroker;
  const denied: string[] = [];
  const boundUsers = new BrokerUsers([
    { username: takeoverUsers.gateway.username, passwordHash: hashPassword(takeoverUsers.gateway.password), role: 'gateway', plants: ['paper-01'] },
    { username: takeoverUsers.ingest.username, passwordHash: hashPassword(takeoverUsers.ingest.password), role: 'ingest' },
  ]);
  beforeAll(async () => {
    broker = await startBroker({ users: boundUsers, onDenied: (w) => denied.push(w) });
  });
  afterAll(async () => {
    await broker?.stop();
  });
  const target = () => ({ url: broker.url, protocolVersion: 4 as const, refusedCodes: [2] });

  it('refuses a gateway that connects with ingest\'s id ("identifier rejected"), and ingest then gets every reading queued for it', async () => {
    await offlineQueueIsNotStolen(target());
    expect(denied).toContainEqual('client id "cleanstream-ingest" refused for user gw-paper: not one of its client ids');
  });

  it('leaves a connected ingest connected when a gateway tries its id', async () => {
    await liveSessionIsNotTakenOver(target());
  });

  it('lets each user connect with its username, `<username>-…` and its role\'s default id', async () => {
    for (const clientId of ['ingest', 'ingest-2', 'cleanstream-ingest']) {
      const c = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId, ...takeoverUsers.ingest, reconnectPeriod: 0 });
      await c.endAsync();
    }
    await expect(mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: 'gw-paper', ...takeoverUsers.ingest, reconnectPeriod: 0 })).rejects.toMatchObject({ code: 2 });
  });
});

describe('embedded broker: readings and alert acknowledgements are never retained', () => {
  let broker: RunningBroker;
  const denied: string[] = [];
  const retainUsers = new BrokerUsers([
    { username: 'gw-paper', passwordHash: hashPassword('gw-secret'), role: 'gateway', plants: ['paper-01'] },
    { username: 'dashboard', passwordHash: hashPassword('dash-secret'), role: 'dashboard' },
    { username: 'rules', passwordHash: hashPassword('rules-secret'), role: 'rules' },
  ]);
  beforeAll(async () => {
    broker = await startBroker({ users: retainUsers, onDenied: (w) => denied.push(w) });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  /** Publishes retained; whether the broker closed the connection (MQTT 3.1.1's only refusal) instead of acknowledging. */
  async function publishRetained(username: string, password: string, topic: string): Promise<'closed' | 'acknowledged'> {
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: username, username, password, reconnectPeriod: 0 });
    const outcome = await new Promise<'closed' | 'acknowledged'>((resolve) => {
      client.once('close', () => resolve('closed'));
      client.publish(topic, 'retained?', { qos: 1, retain: true }, (err) => !err && resolve('acknowledged'));
    });
    client.end(true);
    return outcome;
  }

  /** What a new subscriber receives retained on this filter. */
  async function retainedOn(filter: string): Promise<string[]> {
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: 'rules', username: 'rules', password: 'rules-secret', reconnectPeriod: 0 });
    const retained: string[] = [];
    client.on('message', (topic, _payload, packet) => packet.retain && retained.push(topic));
    await client.subscribeAsync(filter, { qos: 1 });
    await new Promise((r) => setTimeout(r, 200));
    await client.endAsync();
    return retained;
  }

  it('refuses a gateway\'s retained reading, so no new subscriber receives it again', async () => {
    expect(await publishRetained('gw-paper', 'gw-secret', topics.readings('paper-01', 'gw-paper'))).toBe('closed');
    expect(await retainedOn(topics.readingsFilter())).toEqual([]);
    expect(denied).toContainEqual(`retained publish to ${topics.readings('paper-01', 'gw-paper')} refused for user gw-paper (client gw-paper): this topic is never retained`);
  });

  it('refuses the dashboard\'s retained alert acknowledgement', async () => {
    const ack = topics.alertAck('paper-01', 'cod-high', 'outfall-1');
    expect(await publishRetained('dashboard', 'dash-secret', ack)).toBe('closed');
    expect(await retainedOn(topics.alertAcksFilter())).toEqual([]);
  });

  it('keeps retained what the design retains: a gateway\'s status', async () => {
    expect(await publishRetained('gw-paper', 'gw-secret', topics.status('gw-paper'))).toBe('acknowledged');
  });
});

describe('embedded broker over TLS', () => {
  it('serves MQTT over TLS with the given certificate, and authenticates as on plain TCP', async () => {
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync, rmSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(tmpdir(), 'cs-tls-'));
    const certFile = path.join(dir, 'cert.pem');
    const keyFile = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const tlsBroker = await startBroker({ users, tls: { certFile, keyFile } });
    try {
      expect(tlsBroker.tlsUrl).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
      // An untrusted certificate is refused by the client...
      await expect(mqtt.connectAsync(tlsBroker.tlsUrl!, { protocolVersion: 4, username: 'ingest', password: 'ingest-secret', reconnectPeriod: 0 })).rejects.toThrow(/self-signed|certificate/);
      // ...and trusted when its CA is given.
      const client = await mqtt.connectAsync(tlsBroker.tlsUrl!, { protocolVersion: 4, clientId: 'ingest', username: 'ingest', password: 'ingest-secret', reconnectPeriod: 0, ca: readFileSync(certFile) });
      await expect(client.subscribeAsync(topics.readingsFilter(), { qos: 1 })).resolves.toMatchObject([{ qos: 1 }]);
      await client.endAsync();
    } finally {
      await tlsBroker.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with a CA for client certificates, refuses a client without one it signed (mutual TLS)', async () => {
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync, rmSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(tmpdir(), 'cs-mtls-'));
    const file = (name: string) => path.join(dir, name);
    const selfSigned = (name: string, cn: string, ip: boolean) =>
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.pem`), '-days', '1', '-subj', `/CN=${cn}`, ...(ip ? ['-addext', 'subjectAltName=IP:127.0.0.1'] : [])], { stdio: 'ignore' });
    selfSigned('server', '127.0.0.1', true);
    selfSigned('client', 'ingest', false);
    selfSigned('stranger', 'ingest', false);
    // the client's own certificate is the CA the broker trusts for clients
    const tlsBroker = await startBroker({ users, tls: { certFile: file('server.pem'), keyFile: file('server.key'), caFile: file('client.pem') } });
    const options = { protocolVersion: 4 as const, clientId: 'ingest', username: 'ingest', password: 'ingest-secret', reconnectPeriod: 0, ca: readFileSync(file('server.pem')) };
    // under TLS 1.3 the server refuses a client certificate after the client's side of the handshake is done: the
    // refusal is a closed connection without CONNACK, which connectAsync would wait for forever
    const attempt = (extra: object) =>
      new Promise<mqtt.MqttClient>((resolve, reject) => {
        const c = mqtt.connect(tlsBroker.tlsUrl!, { ...options, ...extra });
        c.once('connect', () => resolve(c));
        c.once('error', (err) => (c.end(true), reject(err)));
        c.once('close', () => (c.end(true), reject(new Error('closed before CONNACK'))));
      });
    try {
      await expect(attempt({})).rejects.toThrow();
      await expect(attempt({ cert: readFileSync(file('stranger.pem')), key: readFileSync(file('stranger.key')) })).rejects.toThrow();
      const client = await attempt({ cert: readFileSync(file('client.pem')), key: readFileSync(file('client.key')) });
      await expect(client.subscribeAsync(topics.readingsFilter(), { qos: 1 })).resolves.toMatchObject([{ qos: 1 }]);
      await client.endAsync();
    } finally {
      await tlsBroker.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
