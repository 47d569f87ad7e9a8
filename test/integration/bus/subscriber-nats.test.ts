/**
 * The JetStream durable subscriber passes the subscriber contract on a real 3-node nats-server cluster (replicas 3),
 * with the messages published by a gateway over MQTT 3.1.1 to one node's MQTT listener, and natively with JetStream
 * publish acks. A subscription no stream holds is the refusal (NATS_SUBSCRIBE).
 */
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll } from 'vitest';
import { natsTransportSchema } from '../../../bus/nats/config.ts';
import { createNatsSubscriber } from '../../../bus/nats/durable-subscriber.ts';
import { topicToSubject } from '../../../bus/nats/subjects.ts';
import { describeSubscriberContract, type SubscriberBed } from '../../../bus/subscriber-contract.ts';
import { TOPIC_ROOT } from '../../../bus/topics.ts';
import { startNatsCluster, type NatsCluster } from '../../harness/nats.ts';

let cluster: Promise<NatsCluster> | undefined;
const sharedCluster = (): Promise<NatsCluster> => (cluster ??= startNatsCluster());
afterAll(async () => {
  await (await cluster)?.stop();
});

function natsBed(c: NatsCluster, root: string, publish: SubscriberBed['publish'], close: () => Promise<void>): SubscriberBed {
  // What a stopped subscriber left unacknowledged comes again after the ack wait: 1 s keeps the suite fast.
  const nats = natsTransportSchema.parse({ servers: c.servers, ackWaitSeconds: 1 });
  return {
    root,
    forbiddenSubscription: `${TOPIC_ROOT}/status/#`,
    refusalCode: 'NATS_SUBSCRIBE',
    acknowledges: 'each',
    subscriber: ({ id, subscriptions, decode }) => createNatsSubscriber({ nats, durable: `${root.split('/').pop()}-${id}`, subscriptions, connectTimeoutMs: 10_000, ...(decode ? { decode } : {}) }),
    publish,
    close,
  };
}

describeSubscriberContract('NATS JetStream, 3 nodes, published over MQTT 3.1.1 to one node', async () => {
  const c = await sharedCluster();
  const gateway: MqttClient = await mqtt.connectAsync(c.nodes[0]!.mqttUrl, { clientId: 'contract-gateway', protocolVersion: 4, reconnectPeriod: 0 });
  return natsBed(
    c,
    `${TOPIC_ROOT}/alerts/contract-mqtt`,
    async (topic, payload) => void (await gateway.publishAsync(topic, payload, { qos: 1 })),
    () => gateway.endAsync(),
  );
});

describeSubscriberContract('NATS JetStream, 3 nodes, published natively with publish acks', async () => {
  const c = await sharedCluster();
  const nc: NatsConnection = await connect({ servers: c.servers });
  const js = jetstream(nc);
  return natsBed(
    c,
    `${TOPIC_ROOT}/alerts/contract-native`,
    async (topic, payload) => void (await js.publish(topicToSubject(topic), payload)),
    () => nc.close(),
  );
});
