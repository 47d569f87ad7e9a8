/**
 * The MQTT durable subscriber passes the subscriber contract on the embedded broker (aedes, MQTT 3.1.1) and on
 * Mosquitto (MQTT 3.1.1 persistent session, and MQTT 5 with a session expiry), with users and ACLs on, so that a
 * refused subscription is a real refusal.
 */
import mqtt from 'mqtt';
import { startBroker } from '../../../bus/broker.ts';
import { BrokerUsers, hashPassword } from '../../../bus/broker-auth.ts';
import { createMqttSubscriber } from '../../../bus/mqtt/durable-subscriber.ts';
import { describeSubscriberContract, type SubscriberBed } from '../../../bus/subscriber-contract.ts';
import { TOPIC_ROOT } from '../../../bus/topics.ts';
import { startMosquitto } from '../../harness/mosquitto.ts';

/** One user per consumer of the contract (`c1`, `c2`, …), bound to one client id as Mosquitto's dynamic security binds. */
const CONSUMERS = 10;
const passwords: Record<string, string> = { admin: 'admin-secret' };
for (let i = 1; i <= CONSUMERS; i++) passwords[`c${i}`] = `c${i}-secret`;
const users = new BrokerUsers([
  ...Array.from({ length: CONSUMERS }, (_, i) => ({ username: `c${i + 1}`, passwordHash: hashPassword(`c${i + 1}-secret`), role: 'rules' as const, clientIds: [`rules-c${i + 1}`] })),
  { username: 'admin', passwordHash: hashPassword(passwords.admin!), role: 'admin' },
]);

/** The bed's subscribers are users of role `rules`: they read and publish alerts, and may not read gateways' status. */
async function mqttBed(url: string, protocolVersion: 4 | 5, stopServer: () => Promise<void>): Promise<SubscriberBed> {
  const publisher = await mqtt.connectAsync(url, { username: 'admin', password: passwords.admin, clientId: 'admin', reconnectPeriod: 0 });
  return {
    root: `${TOPIC_ROOT}/alerts/contract`,
    forbiddenSubscription: `${TOPIC_ROOT}/status/#`,
    subscriber: ({ id, subscriptions, decode }) =>
      createMqttSubscriber({
        mqtt: { url, username: id, password: passwords[id], protocolVersion },
        clientId: `rules-${id}`,
        sessionExpirySeconds: 3600,
        subscriptions,
        connectTimeoutMs: 10_000,
        ...(decode ? { decode } : {}),
      }),
    publish: async (topic, payload) => void (await publisher.publishAsync(topic, payload, { qos: 1 })),
    close: async () => {
      await publisher.endAsync();
      await stopServer();
    },
  };
}

describeSubscriberContract('MQTT 3.1.1 on aedes', async () => {
  const broker = await startBroker({ port: 0, users, limits: { connectionBurst: 1000, connectionsPerSecond: 1000 } });
  return mqttBed(broker.url, 4, () => broker.stop());
});

describeSubscriberContract('MQTT 3.1.1 on Mosquitto', async () => {
  const broker = await startMosquitto({ auth: { users, passwords, mode: 'dynsec' } });
  return mqttBed(broker.url, 4, () => broker.stop());
});

describeSubscriberContract('MQTT 5 on Mosquitto (session expiry)', async () => {
  const broker = await startMosquitto({ auth: { users, passwords, mode: 'dynsec' } });
  return mqttBed(broker.url, 5, () => broker.stop());
});
