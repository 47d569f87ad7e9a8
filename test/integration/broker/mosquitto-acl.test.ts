/**
 * The ACL model is the same on Mosquitto: a users file turned into mosquitto's acl_file keeps a gateway inside its
 * own plant's topics on a broker we did not write.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { BrokerUsers, hashPassword } from '../../../bus/broker-auth.ts';
import { topics } from '../../../bus/topics.ts';
import { startMosquitto, type RunningMosquitto } from '../../harness/mosquitto.ts';
import { liveSessionIsNotTakenOver, offlineQueueIsNotStolen, takeoverUsers } from './takeover.ts';

const passwords = { 'gw-paper': 'gw-secret', ingest: 'ingest-secret' };
const users = new BrokerUsers([
  { username: 'gw-paper', passwordHash: hashPassword(passwords['gw-paper']), role: 'gateway', plants: ['paper-01'] },
  { username: 'ingest', passwordHash: hashPassword(passwords.ingest), role: 'ingest' },
]);

describe('Mosquitto with the generated acl_file', () => {
  let broker: RunningMosquitto;
  beforeAll(async () => {
    broker = await startMosquitto({ auth: { users, passwords } });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('refuses a wrong password', async () => {
    await expect(mqtt.connectAsync(broker.url, { username: 'gw-paper', password: 'nope', reconnectPeriod: 0 })).rejects.toThrow();
  });

  it('delivers only the gateway\'s own plant, and says "not authorized" to the other (MQTT 5)', async () => {
    const ingest = await mqtt.connectAsync(broker.url, { protocolVersion: 5, username: 'ingest', password: passwords.ingest, reconnectPeriod: 0 });
    const received: string[] = [];
    ingest.on('message', (topic) => received.push(topic));
    await ingest.subscribeAsync(topics.sharedReadingsFilter('ingest'), { qos: 1 });

    const gw = await mqtt.connectAsync(broker.url, { protocolVersion: 5, username: 'gw-paper', password: passwords['gw-paper'], reconnectPeriod: 0 });
    await gw.publishAsync(topics.readings('paper-01', 'gw-paper'), 'ok', { qos: 1 });
    const refused = await gw.publishAsync(topics.readings('steel-01', 'gw-paper'), 'spoofed', { qos: 1 }).then(
      (packet) => (packet as { reasonCode?: number } | undefined)?.reasonCode,
      (err: Error & { code?: number }) => err.code,
    );
    expect(refused).toBe(135); // 0x87 Not authorized, MQTT 5 §3.4.2.1
    await new Promise((r) => setTimeout(r, 200));
    expect(received).toEqual([topics.readings('paper-01', 'gw-paper')]);
    gw.end(true);
    ingest.end(true);
  });
});

describe('Mosquitto with the generated dynamic-security configuration (deploy/mosquitto/mosquitto.conf)', () => {
  let broker: RunningMosquitto;
  const dynsecUsers = new BrokerUsers([
    { username: takeoverUsers.gateway.username, passwordHash: hashPassword(takeoverUsers.gateway.password), role: 'gateway', plants: ['paper-01'] },
    { username: takeoverUsers.ingest.username, passwordHash: hashPassword(takeoverUsers.ingest.password), role: 'ingest' },
  ]);
  const dynsecPasswords = { [takeoverUsers.gateway.username]: takeoverUsers.gateway.password, [takeoverUsers.ingest.username]: takeoverUsers.ingest.password };
  beforeAll(async () => {
    broker = await startMosquitto({ auth: { users: dynsecUsers, passwords: dynsecPasswords, mode: 'dynsec' } });
  });
  afterAll(async () => {
    await broker?.stop();
  });
  // 0x87 Not authorized: dynamic security refuses a bound user's connection with any other client id.
  const target = () => ({ url: broker.url, protocolVersion: 5 as const, refusedCodes: [135] });

  it('refuses a gateway that connects with ingest\'s id, and ingest then gets every reading queued for it', async () => {
    await offlineQueueIsNotStolen(target());
  });

  it('leaves a connected ingest connected when a gateway tries its id', async () => {
    await liveSessionIsNotTakenOver(target());
  });

  it('keeps the topic rules: the gateway only into its own plant, ingest also by shared subscription', async () => {
    const ingest = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'cleanstream-ingest', ...takeoverUsers.ingest, reconnectPeriod: 0 });
    await expect(ingest.subscribeAsync(topics.sharedReadingsFilter('ingest'), { qos: 1 })).resolves.toMatchObject([{ qos: 1 }]);
    await expect(ingest.subscribeAsync(topics.alertsFilter(), { qos: 1 })).rejects.toThrow(/Not authorized/);
    const gw = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'cleanstream-gw-paper', ...takeoverUsers.gateway, reconnectPeriod: 0 });
    await expect(gw.publishAsync(topics.readings('steel-01', 'gw-paper'), 'spoofed', { qos: 1 })).rejects.toMatchObject({ code: 135 });
    await gw.endAsync();
    await ingest.endAsync();
  });
});
