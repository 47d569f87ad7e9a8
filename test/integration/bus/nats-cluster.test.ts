/**
 * The 3-node nats-server cluster of the tests (test/harness/nats.ts) and what the JetStream transport relies on from
 * it: a meta leader re-elected when a node dies, readings partitioned by plant by the servers' mapping (whoever
 * publishes, over MQTT or natively), one partition readable alone, and streams checked against the config.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsTransportSchema } from '../../../bus/nats/config.ts';
import { createNatsSubscriber } from '../../../bus/nats/durable-subscriber.ts';
import { ensureStreams } from '../../../bus/nats/streams.ts';
import { partitionOf, topicToSubject } from '../../../bus/nats/subjects.ts';
import type { BusMessage } from '../../../bus/subscriber.ts';
import { topics } from '../../../bus/topics.ts';
import { TransportError } from '../../../core/errors.ts';
import { startNatsCluster, type NatsCluster } from '../../harness/nats.ts';
import { until } from '../../harness/wait.ts';

const PARTITIONS = 16;
const PLANTS = ['p-alpha', 'p-beta', 'p-gamma', 'p-delta', 'p-eps', 'p-zeta'];

let cluster: NatsCluster;
let nc: NatsConnection;
let jsm: JetStreamManager;
beforeAll(async () => {
  cluster = await startNatsCluster({ partitions: PARTITIONS });
  nc = await connect({ servers: cluster.servers });
  jsm = await jetstreamManager(nc);
  await ensureStreams(jsm, natsTransportSchema.parse({ servers: cluster.servers }));
});
afterAll(async () => {
  await nc?.close();
  await cluster?.stop();
});

describe('readings partitioned by plant by the servers', () => {
  it('stores each plant’s readings, over MQTT to any node or native, in the one partition FNV-1a(plant) mod P names', { timeout: 30_000 }, async () => {
    const js = jetstream(nc);
    const gateways = [];
    // One after the other: a node sets up its MQTT streams at its first MQTT connection.
    for (const [i, n] of cluster.nodes.entries()) gateways.push(await mqtt.connectAsync(n.mqttUrl, { clientId: `gw-${i}`, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 }));
    let sent = 0;
    for (const plant of PLANTS) {
      for (let g = 0; g < gateways.length; g++) {
        await gateways[g]!.publishAsync(topics.readings(plant, `gw-${g}`), `{"n":${sent++}}`, { qos: 1 });
        await js.publish(topicToSubject(topics.readings(plant, `native-${g}`)), `{"n":${sent++}}`);
      }
    }
    await Promise.all(gateways.map((g) => g.endAsync()));
    await until(
      () => `every reading in the readings stream (${sent} sent)`,
      async () => (await jsm.streams.info('READINGS')).state.messages >= sent,
      10_000,
    );

    const partitionsOf = new Map<string, Set<number>>();
    for (let seq = 1; seq <= sent; seq++) {
      const stored = await jsm.streams.getMessage('READINGS', { seq });
      const [, , , partition, , plant] = stored!.subject.split('.');
      if (!partitionsOf.has(plant!)) partitionsOf.set(plant!, new Set());
      partitionsOf.get(plant!)!.add(Number(partition));
    }
    expect([...partitionsOf.keys()].sort()).toEqual([...PLANTS].sort());
    for (const plant of PLANTS) expect([...partitionsOf.get(plant)!], plant).toEqual([partitionOf(plant, PARTITIONS)]);
  });

  it('hands a subscriber of one partition only the plants of that partition', async () => {
    const nats = natsTransportSchema.parse({ servers: cluster.servers, ackWaitSeconds: 1 });
    const target = partitionOf('p-alpha', PARTITIONS);
    const got: BusMessage[] = [];
    const worker = createNatsSubscriber({ nats, durable: `worker-${target}`, subscriptions: [topics.readingsFilter()], partition: target });
    await worker.start((m) => {
      got.push(m);
      m.ack();
    });
    const js = jetstream(nc);
    for (const plant of PLANTS) await js.publish(topicToSubject(topics.readings(plant, 'gw-late')), plant);
    const expected = PLANTS.filter((p) => partitionOf(p, PARTITIONS) === target);
    await until('the partition’s readings', () => got.length >= expected.length);
    await new Promise((r) => setTimeout(r, 200));
    expect(got.map((m) => m.payload.toString()).sort()).toEqual(expected.sort());
    expect(got.map((m) => m.topic)).toEqual(got.map((m) => topics.readings(m.payload.toString(), 'gw-late')));
    await worker.stop();
  });
});

describe('streams checked at start', () => {
  it('refuses to start when an existing stream disagrees with the config, naming the setting', async () => {
    const nats = natsTransportSchema.parse({ servers: cluster.servers, replicas: 1, readingsMaxAgeSeconds: 3600 });
    const sub = createNatsSubscriber({ nats, durable: 'mismatch', subscriptions: [topics.readingsFilter()] });
    const failure = await sub.start(() => undefined).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(TransportError);
    expect(failure).toMatchObject({ code: 'NATS_STREAM_MISMATCH', retryable: false });
    expect((failure as Error).message).toMatch(/stream READINGS .*num_replicas is 3, the config's replicas is 1.*the config's readingsMaxAgeSeconds is 3600/);
    await sub.stop();
  });
});

describe('a message the consumer holds', () => {
  it('is not delivered again while held longer than the ack wait (in-progress acks), and is acknowledged once', async () => {
    const nats = natsTransportSchema.parse({ servers: cluster.servers, ackWaitSeconds: 1 });
    const got: BusMessage[] = [];
    const sub = createNatsSubscriber({ nats, durable: 'holder', subscriptions: [topics.alertsFilter('p-hold')] });
    await sub.start((m) => void got.push(m));
    await jetstream(nc).publish(topicToSubject(topics.alert('p-hold', 'r1', 'm1')), 'held');
    await until('the message', () => got.length === 1);
    await new Promise((r) => setTimeout(r, 2500));
    expect(got).toHaveLength(1);
    // the server did not send it again either (the subscriber would drop a second copy of a message it holds)
    const consumers = [];
    for await (const info of jsm.consumers.list('ALERTS')) if (info.name.startsWith('holder_')) consumers.push(info);
    expect(consumers.map((c) => [c.num_redelivered, c.num_ack_pending])).toEqual([[0, 1]]);
    got[0]!.ack();
    await until('the ack confirmed', () => sub.stats().acknowledged === 1);
    expect(sub.stats()).toMatchObject({ received: 1, unacked: 0 });
    await sub.stop();
  });

  it('refuses a partition that the config does not have', async () => {
    const nats = natsTransportSchema.parse({ servers: cluster.servers, partitions: PARTITIONS });
    const sub = createNatsSubscriber({ nats, durable: 'nowhere', subscriptions: [topics.readingsFilter()], partition: PARTITIONS });
    await expect(sub.start(() => undefined)).rejects.toThrow(/partition 16 is not one of the 16 partitions/);
    await sub.stop();
  });
});

describe('the cluster harness', () => {
  it('elects a new JetStream meta leader when the leader is killed, and takes the node back', async () => {
    const leader = await cluster.metaLeader();
    const node = cluster.nodes.find((n) => n.name === leader)!;
    expect(node).toBeDefined();
    await node.kill();
    expect(node.running).toBe(false);
    const next = await until('a new meta leader', async () => {
      const l = await cluster.metaLeader();
      return l && l !== leader ? l : undefined;
    });
    expect(cluster.nodes.map((n) => n.name)).toContain(next);
    await node.start();
    expect(node.running).toBe(true);
    // every R3 stream has a leader and its two other replicas current again
    for (const stream of ['READINGS', 'ALERTS', 'DEADLETTERS']) {
      await until(`stream ${stream} led, with two current followers`, async () => {
        const info = await jsm.streams.info(stream).catch(() => undefined);
        return Boolean(info?.cluster?.leader) && (info?.cluster?.replicas ?? []).filter((r) => r.current).length === 2;
      });
    }
  });
});
