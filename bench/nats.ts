/**
 * NATS JetStream bench: checks issue #18's figures on a 3-node loopback cluster (test/harness/nats.ts) with the bus's
 * readings stream (3 replicas, file storage). Prints figures and a markdown row for bus/README.md; it is not a test.
 * Run: node bin/run-ts.js bench/nats.ts [--help]
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import mqtt from 'mqtt';
import { natsTransportSchema } from '../bus/nats/config.ts';
import { ensureStreams } from '../bus/nats/streams.ts';
import { topicToSubject } from '../bus/nats/subjects.ts';
import { topics } from '../bus/topics.ts';
import { startNatsCluster } from '../test/harness/nats.ts';

const HELP = `usage: node bin/run-ts.js bench/nats.ts [options]

Starts a 3-node nats-server cluster on loopback (Debian's nats-server, JetStream in a temp dir, readings partitioned
by plant) with the bus's READINGS stream (3 replicas, file storage), then, one after the other:
  1. MQTT: one MQTT 3.1.1 connection to node 1 publishes --messages readings at QoS 1, all in flight at once (MQTT.js
     does not cap in-flight messages); the rate is messages / time to the last PUBACK, and the stream's message
     count is read right after the last PUBACK: were all of them in the R3 stream by then?
  2. native: one NATS connection publishes --messages readings with JetStream publish acks, --window in flight; rate
     to the last ack.
  3. pull: a durable pull consumer (explicit acks) reads all of the stream's messages; rate from the first to the
     last message.
Every phase stops at --timeout seconds (the figures then say so). Loopback only; the cluster is removed at the end.

options:
  --messages N   readings per publishing phase (default 20000, at most 200000)
  --bytes N      payload size in bytes (default 200, about one small gateway batch)
  --plants N     plants the readings are spread over (default 10)
  --window N     native publishes in flight (default 256)
  --timeout S    most seconds per phase (default 30, at most 60)
  --help         this text`;

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    bytes: { type: 'string', default: '200' },
    plants: { type: 'string', default: '10' },
    window: { type: 'string', default: '256' },
    timeout: { type: 'string', default: '30' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
const count = Math.min(200_000, Math.max(1, Number(args.messages)));
const bytes = Math.max(16, Number(args.bytes));
const plants = Math.max(1, Number(args.plants));
const windowSize = Math.max(1, Number(args.window));
const timeoutMs = Math.min(60, Math.max(1, Number(args.timeout))) * 1000;

const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const payload = (i: number): string => JSON.stringify({ i, pad: 'x'.repeat(bytes) }).slice(0, Math.max(bytes, 16));
const rate = (n: number, ms: number): string => `${Math.round((n * 1000) / ms).toLocaleString('en-US')}/s`;
const startedAt = new Date().toISOString().slice(0, 16).replace('T', ' ');
const loadAtStart = loadAverage();

const cluster = await startNatsCluster();
// Interrupted: the cluster's processes and temp folder go too.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGPIPE'] as const) process.once(signal, () => void cluster.stop().finally(() => process.exit(130)));
const nc = await connect({ servers: cluster.servers });
try {
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await ensureStreams(jsm, natsTransportSchema.parse({ servers: cluster.servers }));
  const storedNow = async (): Promise<number> => (await jsm.streams.info('READINGS')).state.messages;
  console.log(`nats-server 3 nodes on loopback, READINGS R3 file; ${count} messages of ~${bytes} B over ${plants} plants; ${cpus().length} CPUs, load ${loadAtStart} (machine shared with other work)`);

  // 1. MQTT QoS 1 from one connection to node 1
  const gateway = await mqtt.connectAsync(cluster.nodes[0]!.mqttUrl, { clientId: 'bench-gateway', protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 });
  let pubacked = 0;
  const mqttStart = performance.now();
  const deadline = mqttStart + timeoutMs;
  const acks: Promise<void>[] = [];
  for (let i = 0; i < count && performance.now() < deadline; i++) {
    acks.push(gateway.publishAsync(topics.readings(`plant-${i % plants}`, 'gw-bench'), payload(i), { qos: 1 }).then(() => void pubacked++));
    // let the socket drain now and then: one connection, the client's buffer stays bounded
    if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
  }
  await Promise.race([Promise.all(acks), new Promise((r) => setTimeout(r, Math.max(0, deadline - performance.now())))]);
  const mqttMs = performance.now() - mqttStart;
  const inStreamAtLastPuback = await storedNow();
  await gateway.endAsync(true);
  const mqttLine = `MQTT QoS 1, one connection to node 1: ${pubacked}/${count} PUBACKed in ${(mqttMs / 1000).toFixed(2)} s (${rate(pubacked, mqttMs)}); in the R3 stream at the last PUBACK: ${inStreamAtLastPuback}${inStreamAtLastPuback >= pubacked ? ' (all)' : ` (${pubacked - inStreamAtLastPuback} not yet)`}`;
  console.log(mqttLine);

  // 2. native JetStream publish with acks
  let acked = 0;
  const nativeStart = performance.now();
  const nativeDeadline = nativeStart + timeoutMs;
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < count && performance.now() < nativeDeadline; i++) {
    const p = js.publish(topicToSubject(topics.readings(`plant-${i % plants}`, 'gw-native')), payload(i)).then(() => void acked++);
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size >= windowSize) await Promise.race(inFlight);
  }
  await Promise.allSettled(inFlight);
  const nativeMs = performance.now() - nativeStart;
  const nativeLine = `native JetStream publish, ${windowSize} in flight: ${acked}/${count} acked in ${(nativeMs / 1000).toFixed(2)} s (${rate(acked, nativeMs)})`;
  console.log(nativeLine);

  // 3. pull consumer read rate
  const total = await storedNow();
  await jsm.consumers.add('READINGS', { durable_name: 'bench-reader', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_ack_pending: 10_000 });
  const reader = await js.consumers.get('READINGS', 'bench-reader');
  let read = 0;
  let firstAt = 0;
  let lastAt = 0;
  const feed = await reader.consume({ max_messages: 1000 });
  const readDeadline = setTimeout(() => feed.stop(), timeoutMs);
  for await (const m of feed) {
    if (read === 0) firstAt = performance.now();
    m.ack();
    lastAt = performance.now();
    if (++read >= total) break;
  }
  clearTimeout(readDeadline);
  feed.stop();
  const readLine = `pull consumer (explicit acks): ${read}/${total} read in ${((lastAt - firstAt) / 1000).toFixed(2)} s (${rate(read, Math.max(1, lastAt - firstAt))})`;
  console.log(readLine);

  console.log('\nrow for bus/README.md:');
  console.log(`| ${startedAt} UTC | ${count} × ~${bytes} B | ${rate(pubacked, mqttMs)}, ${inStreamAtLastPuback}/${pubacked} in R3 at last PUBACK | ${rate(acked, nativeMs)} | ${rate(read, Math.max(1, lastAt - firstAt))} | ${loadAtStart} (shared) |`);
} finally {
  await nc.close();
  await cluster.stop();
}
