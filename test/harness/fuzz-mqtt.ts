/**
 * MQTT fuzz at the door, shared by test/integration/fuzz/mqtt.test.ts (a short run) and bench/fuzz.ts (100,000+ cases,
 * figures in SECURITY.md): raw MQTT 3.1.1 packets written on raw TCP sockets to the embedded broker (bus/broker.ts,
 * users and topic ACLs on), with the real ingest service behind it writing to a real InfluxDB.
 *
 * Three kinds of sender, one case = one packet (or one connection's bytes):
 *   - gateway sessions (authenticated, role gateway): PUBLISH QoS 1 of random and mutated payloads on their own
 *     readings topic, each awaited to its PUBACK; QoS 0 on their status topic; SUBSCRIBE/UNSUBSCRIBE of random filters
 *     (wildcards, UTF-8 oddities, NULs); PINGREQ; and now and then a packet that must end the session (a topic the ACL
 *     refuses or the protocol forbids, a malformed packet, a second CONNECT), after which they connect again;
 *   - an admin session: PUBLISH QoS 1 of the same payloads on random readings topics (ids valid or not, other plants,
 *     other gateways), which pass the ACL and reach ingest for it to judge;
 *   - one-shot connections: random bytes, malformed fixed headers, random remaining lengths, CONNECTs with unknown
 *     users, bad protocol names or levels, PUBLISH before CONNECT.
 * What passed the broker's ACL and reached ingest is known from the PUBACKs; ingest's verdict on each is predicted with
 * its own validateMessage, so its counters can be checked reason by reason.
 */
import { connect, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadPlantRegistry } from '../../core/plants.ts';
import { hashPassword, BrokerUsers, topicMatches } from '../../bus/broker-auth.ts';
import { startBroker, type RunningBroker } from '../../bus/broker.ts';
import { parseIngestConfig } from '../../ingest/config.ts';
import { startIngest, type Ingest, type IngestStats } from '../../ingest/service.ts';
import { validateMessage } from '../../ingest/validate.ts';
import { seededRandom } from '../../protocols/hj212/samples.ts';
import { sampleRss } from './rss-sampler.ts';
import { until } from './wait.ts';

export interface MqttFuzzOptions {
  seed: number;
  cases: number;
  influxUrl: string;
  database: string;
  /** The plant registry ingest checks against (YAML). */
  registryFile: string;
  /** Run the senders in a child process (the bench): broker and ingest get this process to themselves, and its RSS is theirs alone. */
  clientsInChildProcess?: boolean;
  /** Stop early after this long (the figures say how many cases ran). */
  maxMs?: number;
  gatewaySessions?: number;
  oneShotConcurrency?: number;
}

export interface MqttFuzzResult {
  seed: number;
  cases: number;
  seconds: number;
  /** Cases by kind. */
  byKind: Record<string, number>;
  /** QoS 1 publishes the broker acknowledged on topics ingest subscribes to. */
  deliveredToIngest: number;
  /** Ingest's verdicts predicted by validateMessage on those. */
  expectedRejected: Record<string, number>;
  expectedAcceptedReadings: number;
  /** Valid batches generated as such (not mutated) that were delivered, and their readings: they must be in InfluxDB. */
  validBatches: number;
  validReadings: number;
  ingest: IngestStats;
  /** Dead letters seen on the broker's dead-letter topic, by reason. */
  deadLettersSeen: Record<string, number>;
  /** Lines of the broker's onDenied hook, by kind (authentication, publish, subscribe). */
  brokerDenied: Record<string, number>;
  /** Connections the gateway and admin sessions had to open again after a case that ended theirs. */
  reconnects: number;
  rssStartMb: number;
  rssPeakMb: number;
  rssEndMb: number;
  /** RSS every 10 s of the run. */
  rssTimelineMb: number[];
}

const GATEWAY = 'gw-fuzz';
const PLANT = 'paper-01';
const OWN_TOPIC = `cleanstream/v1/readings/${PLANT}/${GATEWAY}`;
const READINGS_FILTER = 'cleanstream/v1/readings/+/+';
/** Batch n's readings are at BASE_TS + 8n + i (i < 5): every accepted reading is a point of its own in InfluxDB. */
const BASE_TS = Date.UTC(2025, 0, 1);

const int = (random: () => number, n: number): number => Math.floor(random() * n);
const pick = <T>(random: () => number, items: readonly T[]): T => items[int(random, items.length)] as T;

// ---- MQTT 3.1.1 encoding (§2, §3): just enough to write valid packets and to break them on purpose ----

function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}
const str = (s: string | Buffer): Buffer => {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length & 0xffff);
  return Buffer.concat([len, b]);
};
const packet = (first: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([first]), varint(body.length), body]);
const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};

function connectPacket(o: { clientId: string; username?: string; password?: string; protocol?: string; level?: number; flags?: number; keepalive?: number }): Buffer {
  let flags = o.flags ?? 0x02; // clean session
  if (o.username !== undefined) flags |= 0x80;
  if (o.password !== undefined) flags |= 0x40;
  const parts = [str(o.protocol ?? 'MQTT'), Buffer.from([o.level ?? 4, flags]), u16(o.keepalive ?? 60), str(o.clientId)];
  if (o.username !== undefined) parts.push(str(o.username));
  if (o.password !== undefined) parts.push(str(o.password));
  return packet(0x10, Buffer.concat(parts));
}
const publishPacket = (topic: string | Buffer, payload: Buffer, qos: 0 | 1, id: number, retain = false): Buffer =>
  packet(0x30 | (qos << 1) | (retain ? 1 : 0), Buffer.concat([str(topic), qos > 0 ? u16(id) : Buffer.alloc(0), payload]));
const subscribePacket = (id: number, filter: string | Buffer, qos: number): Buffer => packet(0x82, Buffer.concat([u16(id), str(filter), Buffer.from([qos])]));
const unsubscribePacket = (id: number, filter: string | Buffer): Buffer => packet(0xa2, Buffer.concat([u16(id), str(filter)]));
const PINGREQ = Buffer.from([0xc0, 0x00]);

/** Reads MQTT packets off a stream: type nibble, flags and body. */
class PacketReader {
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { type: number; body: Buffer }[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const out: { type: number; body: Buffer }[] = [];
    for (;;) {
      if (this.buffer.length < 2) return out;
      let length = 0;
      let multiplier = 1;
      let at = 1;
      let byte: number;
      do {
        if (at >= this.buffer.length) return out;
        byte = this.buffer[at++] as number;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
      } while (byte & 0x80);
      if (this.buffer.length < at + length) return out;
      out.push({ type: (this.buffer[0] as number) >> 4, body: this.buffer.subarray(at, at + length) });
      this.buffer = this.buffer.subarray(at + length);
    }
  }
}

// ---- payloads ----

function validBatch(random: () => number, n: number, seq: number): Record<string, unknown> {
  const readings = Array.from({ length: 1 + int(random, 5) }, (_, i) => ({
    meter: 'outfall-1-cod',
    quantity: 'cod',
    value: Math.round(random() * 10_000) / 100,
    unit: 'mg/L',
    ts: BASE_TS + n * 8 + i,
    quality: 'good',
  }));
  return { v: 1, gateway: GATEWAY, plant: PLANT, seq, sentAt: Date.now(), readings };
}

const ODD_STRINGS = ['', ' ', '\u0000', '\uFEFF', '数采仪', '\uD800', 'A'.repeat(300), '../../etc', 'paper-01\u0000', 'PAPER-01', '${HOME}', '<script>', '\u202E', '1e309'];
const ODD_VALUES: unknown[] = [null, true, 'NaN', '12', [], {}, -0, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 0.1 + 0.2, '', ...ODD_STRINGS];

/** Payload text that JSON.parse must walk deeply: arrays nested thousands of levels. */
const deepJson = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;

function mutatedBatch(random: () => number, n: number, seq: number): Buffer {
  const batch = validBatch(random, n, seq) as Record<string, unknown> & { readings: Record<string, unknown>[] };
  const reading = batch.readings[0] as Record<string, unknown>;
  switch (int(random, 10)) {
    case 0:
      delete batch[pick(random, ['v', 'gateway', 'plant', 'seq', 'sentAt', 'readings'])];
      break;
    case 1:
      batch[pick(random, ['v', 'gateway', 'plant', 'seq', 'sentAt', 'readings'])] = pick(random, ODD_VALUES);
      break;
    case 2:
      reading[pick(random, ['meter', 'quantity', 'value', 'unit', 'ts', 'quality'])] = pick(random, ODD_VALUES);
      break;
    case 3:
      delete reading[pick(random, ['meter', 'quantity', 'value', 'unit', 'ts', 'quality'])];
      break;
    case 4:
      reading.ts = pick(random, [-1, 0, 1e20, 9_223_372_036_855, 1.5, Date.UTC(2300, 0, 1)]);
      break;
    case 5:
      reading.unit = pick(random, ['L/s', 'g/L', 'ug/L', 'm3/h', 'MG/L', 'kg']);
      break;
    case 6:
      // Many readings, at times of their own (before BASE_TS) so that every accepted reading is one point in InfluxDB.
      batch.readings = Array.from({ length: 100 + int(random, 400) }, (_, i) => ({ ...reading, ts: BASE_TS - 10_000_000 - n * 500 - i }));
      break;
    case 7:
      batch[`extra${int(random, 3)}`] = pick(random, ODD_VALUES);
      break;
    case 8:
      reading.quantity = pick(random, ['so2', 'ph', 'nope', 'COD', 'cod ']);
      break;
    default:
      return Buffer.from(JSON.stringify(batch).replace('1e309', '1e309'), 'utf8').subarray(0, int(random, 200));
  }
  return Buffer.from(JSON.stringify(batch), 'utf8');
}

type PayloadKind = 'valid' | 'mutated' | 'flipped' | 'random' | 'empty' | 'deep' | 'huge_number' | 'nul' | 'big';

function payload(random: () => number, n: number, seq: number): { kind: PayloadKind; bytes: Buffer } {
  const r = random();
  if (r < 0.3) return { kind: 'valid', bytes: Buffer.from(JSON.stringify(validBatch(random, n, seq))) };
  if (r < 0.6) return { kind: 'mutated', bytes: mutatedBatch(random, n, seq) };
  if (r < 0.7) {
    const b = Buffer.from(JSON.stringify(validBatch(random, n, seq)));
    for (let k = 1 + int(random, 4); k > 0; k--) b[int(random, b.length)] = int(random, 256);
    return { kind: 'flipped', bytes: b };
  }
  if (r < 0.8) {
    const b = Buffer.alloc(int(random, 512));
    for (let i = 0; i < b.length; i++) b[i] = int(random, 256);
    return { kind: 'random', bytes: b };
  }
  if (r < 0.83) return { kind: 'empty', bytes: Buffer.alloc(0) };
  if (r < 0.85) return { kind: 'deep', bytes: Buffer.from(deepJson(1000 + int(random, 10_000))) };
  if (r < 0.9) return { kind: 'huge_number', bytes: Buffer.from(JSON.stringify(validBatch(random, n, seq)).replace(/"value":[0-9.]+/, `"value":${pick(random, ['1e309', '-1e309', '1'.repeat(400), '0.' + '0'.repeat(400) + '1'])}`)) };
  if (r < 0.99) return { kind: 'nul', bytes: Buffer.from(JSON.stringify(validBatch(random, n, seq)).replace('outfall-1-cod', pick(random, ['outfall-1-cod\u0000', '\u0000', 'outfall\u00001']))) };
  return { kind: 'big', bytes: Buffer.from(JSON.stringify({ ...validBatch(random, n, seq), pad: 'x'.repeat(50_000 + int(random, 150_000)) })) };
}

// ---- topics and filters ----

const ID_SEGMENTS = ['paper-01', 'dyeing-01', 'gw-fuzz', 'gw-other', 'nope', 'PAPER-01', 'a'.repeat(64), 'a'.repeat(65), '数采仪', 'x y', '-lead', 'emoji\u{1F600}'];
function readingsTopic(random: () => number): string {
  return `cleanstream/v1/readings/${pick(random, ID_SEGMENTS)}/${pick(random, ID_SEGMENTS)}`;
}
/** Well-formed filters (MQTT 3.1.1 §4.7), most of which a gateway may not subscribe to: SUBACK 0x80, session kept. */
const FILTERS = ['#', '+', '+/+', 'cleanstream/#', 'cleanstream/v1/readings/+/+', '$SYS/#', '$share/g/cleanstream/#', '/', '//', 'a/+/+/#', '数/+', 'emoji\u{1F600}/#'];
/** Malformed filters: the broker ends the session. */
const BAD_FILTERS: (string | Buffer)[] = ['a/#/b', 'a/b#', '+a', '', Buffer.from([0x61, 0x00, 0x2f, 0x23]), Buffer.from([0xff, 0x2f, 0x23])];
/** Topics a PUBLISH must not carry or this user may not publish to: they end the session. */
function forbiddenTopic(random: () => number): Buffer {
  const r = int(random, 6);
  if (r === 0) return Buffer.from(`cleanstream/v1/readings/${pick(random, ['+', '#'])}/${GATEWAY}`);
  if (r === 1) return Buffer.from(`${OWN_TOPIC}\u0000x`);
  if (r === 2) return Buffer.from([0x63, 0x6c, 0xff, 0xfe, 0x2f, 0x61]); // not UTF-8
  if (r === 3) return Buffer.alloc(0);
  if (r === 4) return Buffer.from(readingsTopic(random).replace(`${PLANT}/${GATEWAY}`, 'dyeing-01/gw-fuzz'));
  return Buffer.from(`cleanstream/v1/alerts/${PLANT}/r/m`);
}

// ---- sessions ----

interface Session {
  socket: Socket;
  reader: PacketReader;
  /** Resolvers waiting for a packet of a type (PUBACK by id, SUBACK/UNSUBACK/PINGRESP/CONNACK by type). */
  waiters: Map<string, (body: Buffer | undefined) => void>;
  closed: boolean;
}

function openSession(port: number): Promise<Session> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const session: Session = { socket, reader: new PacketReader(), waiters: new Map(), closed: false };
    socket.on('error', () => undefined);
    socket.on('connect', () => resolve(session));
    socket.on('close', () => {
      session.closed = true;
      for (const resolveWaiter of session.waiters.values()) resolveWaiter(undefined);
      session.waiters.clear();
      reject(new Error('closed before connecting'));
    });
    socket.on('data', (chunk) => {
      for (const p of session.reader.push(chunk)) {
        const key = p.type === 4 ? `puback:${p.body.readUInt16BE(0)}` : `type:${p.type}`;
        const waiter = session.waiters.get(key);
        if (waiter) {
          session.waiters.delete(key);
          waiter(p.body);
        }
      }
    });
  });
}

/** Writes a packet and waits for the answer named by key; undefined when the session ends first or nothing comes in time. */
function request(session: Session, bytes: Buffer, key: string | undefined, timeoutMs = 5000): Promise<Buffer | undefined> {
  if (session.closed) return Promise.resolve(undefined);
  if (!key) {
    session.socket.write(bytes);
    return Promise.resolve(undefined);
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      session.waiters.delete(key);
      resolve(undefined);
    }, timeoutMs);
    session.waiters.set(key, (body) => {
      clearTimeout(timer);
      resolve(body);
    });
    session.socket.write(bytes);
  });
}

async function login(port: number, clientId: string, username: string, password: string, deadline: number): Promise<Session> {
  for (let attempt = 0; Date.now() < deadline + 30_000; attempt++) {
    const session = await openSession(port).catch(() => undefined);
    if (session) {
      const connack = await request(session, connectPacket({ clientId, username, password }), 'type:2');
      if (connack && connack[1] === 0) return session;
      session.socket.destroy();
    }
    // A broker that limits connections per address may say no for a while: wait and try again.
    await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** Math.min(attempt, 5))));
  }
  throw new Error(`fuzz: ${username} could not connect to the broker`);
}

export async function runMqttFuzz(options: MqttFuzzOptions): Promise<MqttFuzzResult> {
  const passwords = { gateway: 'gw-fuzz-password', ingest: 'ingest-fuzz-password', admin: 'admin-fuzz-password' };
  const users = new BrokerUsers([
    { username: GATEWAY, passwordHash: hashPassword(passwords.gateway), role: 'gateway', plants: [PLANT] },
    { username: 'ingest', passwordHash: hashPassword(passwords.ingest), role: 'ingest' },
    { username: 'admin', passwordHash: hashPassword(passwords.admin), role: 'admin' },
  ]);
  const brokerDenied: Record<string, number> = {};
  const broker: RunningBroker = await startBroker({
    users,
    // the fuzz opens thousands of one-shot connections from one address to reach the parser; the per-address
    // rate limit (tested on its own in broker/limits.test.ts) would refuse them before any byte is read
    limits: { connectionBurst: 1_000_000, connectionsPerSecond: 1_000_000 },
    onDenied: (line) => {
      const kind = line.split(' ')[0] ?? '?';
      brokerDenied[kind] = (brokerDenied[kind] ?? 0) + 1;
    },
  });
  const port = broker.port;
  let ingest: Ingest | undefined;
  let watcher: mqtt.MqttClient | undefined;
  let rss: ReturnType<typeof sampleRss> | undefined;
  const deadLettersSeen: Record<string, number> = {};
  try {
    ingest = await startIngest(
      parseIngestConfig('fuzz ingest', {
        mqtt: { url: broker.url, username: 'ingest', password: passwords.ingest },
        clientId: 'ingest-fuzz',
        influx: { url: options.influxUrl, database: options.database },
        batch: { maxDelayMs: 50 },
        // the cases carry fixed timestamps so that a seed replays the same bytes; how old they are is not what is fuzzed
        timestamps: { backfill: true },
      }),
      { registry: loadPlantRegistry(options.registryFile), connectTimeoutMs: 10_000 },
    );
    const running = ingest;
    watcher = await mqtt.connectAsync(broker.url, { username: 'admin', password: passwords.admin, clientId: 'admin-deadletters', reconnectPeriod: 0 });
    await watcher.subscribeAsync('cleanstream/v1/deadletter/ingest', { qos: 1 });
    watcher.on('message', (_topic, message) => {
      let reason: string;
      try {
        reason = String((JSON.parse(message.toString('utf8')) as { reason?: unknown }).reason);
      } catch {
        reason = 'unreadable';
      }
      deadLettersSeen[reason] = (deadLettersSeen[reason] ?? 0) + 1;
    });

    rss = sampleRss();
    const clientOptions: MqttFuzzClientOptions = {
      port,
      passwords,
      seed: options.seed,
      cases: options.cases,
      registryFile: options.registryFile,
      ...(options.maxMs !== undefined ? { maxMs: options.maxMs } : {}),
      ...(options.gatewaySessions !== undefined ? { gatewaySessions: options.gatewaySessions } : {}),
      ...(options.oneShotConcurrency !== undefined ? { oneShotConcurrency: options.oneShotConcurrency } : {}),
    };
    const clients = options.clientsInChildProcess ? await inChildProcess(clientOptions) : await runMqttFuzzClients(clientOptions);
    const { expectedRejected } = clients;
    const expectedRejectedTotal = Object.values(expectedRejected).reduce((a, b) => a + b, 0);
    await until('ingest to receive every delivered message', () => running.stats().receivedMessages >= clients.deliveredToIngest, 60_000).catch(() => undefined);
    await running.flush();
    await until('the dead letters to come back from the broker', () => Object.values(deadLettersSeen).reduce((a, b) => a + b, 0) >= expectedRejectedTotal, 20_000).catch(() => undefined);
    return {
      seed: options.seed,
      ...clients,
      ingest: running.stats(),
      deadLettersSeen,
      brokerDenied,
      ...rss.stop(),
    };
  } finally {
    rss?.stop();
    await watcher?.endAsync().catch(() => undefined);
    await ingest?.stop();
    await broker.stop();
  }
}

export interface MqttFuzzClientOptions {
  port: number;
  passwords: { gateway: string; admin: string };
  seed: number;
  cases: number;
  maxMs?: number;
  registryFile: string;
  gatewaySessions?: number;
  oneShotConcurrency?: number;
}

/** What the senders did and what they predict ingest made of it. */
export type MqttFuzzClientSummary = Pick<
  MqttFuzzResult,
  'cases' | 'seconds' | 'byKind' | 'deliveredToIngest' | 'expectedRejected' | 'expectedAcceptedReadings' | 'validBatches' | 'validReadings' | 'reconnects'
>;

/** The senders: in the broker's process for the tests, in a child process of their own for the bench (test/harness/fuzz-mqtt-child.ts). */
export async function runMqttFuzzClients(options: MqttFuzzClientOptions): Promise<MqttFuzzClientSummary> {
  // One generator per sender, so that each sender's n-th case is the same in every run of a seed (how many cases
  // each sender gets to send before the total is reached depends on timing).
  const generator = (sender: number): (() => number) => seededRandom(options.seed * 1000 + sender);
  const { port, passwords } = options;
  const registry = loadPlantRegistry(options.registryFile);
  const byKind: Record<string, number> = {};
  const count = (kind: string): void => void (byKind[kind] = (byKind[kind] ?? 0) + 1);

  const delivered: { topic: string; bytes: Buffer; valid: boolean }[] = [];
  let done = 0;
  let reconnects = 0;
  const started = Date.now();
  const deadline = started + (options.maxMs ?? Number.POSITIVE_INFINITY);
  const more = (): boolean => done < options.cases && Date.now() < deadline;
  const tick = (): void => void done++;

  /** Batch n of a sender: n = sender × 1,000,000 + its count, so that readings' times never collide between senders. */
  const publishQos1 = async (session: Session, topic: string, id: number, random: () => number, n: number): Promise<void> => {
    const p = payload(random, n, n);
    count(`publish ${p.kind}`);
    const ack = await request(session, publishPacket(topic, p.bytes, 1, id), `puback:${id}`);
    // Without a PUBACK (the session ended, or 5 s passed) whether the broker routed it is unknown: counted apart.
    if (!ack) count(`no puback (${session.closed ? 'session ended' : 'timeout'})`);
    if (ack && topicMatches(READINGS_FILTER, topic)) delivered.push({ topic, bytes: p.bytes, valid: p.kind === 'valid' });
  };

  const gatewaySession = async (index: number): Promise<void> => {
    const random = generator(index);
    let batches = (index + 1) * 1_000_000;
    let session = await login(port, `gw-fuzz-${index}`, GATEWAY, passwords.gateway, deadline);
    let id = 1;
    while (more()) {
      if (session.closed) {
        reconnects++;
        session = await login(port, `gw-fuzz-${index}`, GATEWAY, passwords.gateway, deadline);
        // other senders went on during the login: the count may be reached now
        continue;
      }
      id = (id % 65_535) + 1;
      const r = random();
      tick();
      if (r < 0.6) await publishQos1(session, OWN_TOPIC, id, random, batches++);
      else if (r < 0.7) {
        count('publish status qos0');
        await request(session, publishPacket(`cleanstream/v1/status/${GATEWAY}`, payload(random, 0, 0).bytes, 0, 0, random() < 0.5), undefined);
      } else if (r < 0.82) {
        count('subscribe');
        await request(session, subscribePacket(id, pick(random, FILTERS), int(random, 3)), 'type:9');
      } else if (r < 0.9) {
        count('unsubscribe');
        await request(session, unsubscribePacket(id, pick(random, FILTERS)), 'type:11');
      } else if (r < 0.998) {
        count('pingreq');
        await request(session, PINGREQ, 'type:13');
      } else {
        // A case that must end the session; the broker closes it and the session connects again.
        const k = int(random, 6);
        count(['publish forbidden topic', 'malformed packet', 'second connect', 'publish qos 3', 'subscribe bad filter or qos', 'unsubscribe bad filter'][k] as string);
        const bytes =
          k === 0
            ? publishPacket(forbiddenTopic(random), Buffer.from('{}'), 1, id)
            : k === 1
              ? Buffer.concat([Buffer.from([pick(random, [0x00, 0x30, 0x82, 0xf0, 0x62])]), Buffer.from([0xff, 0xff, 0xff, 0x7f]), Buffer.alloc(int(random, 64), 0x41)])
              : k === 2
                ? connectPacket({ clientId: `gw-fuzz-${index}`, username: GATEWAY, password: passwords.gateway })
                : k === 3
                  ? packet(0x36, Buffer.concat([str(OWN_TOPIC), u16(id), Buffer.from('{}')]))
                  : k === 4
                    ? subscribePacket(id, random() < 0.7 ? pick(random, BAD_FILTERS) : pick(random, FILTERS), random() < 0.7 ? 0 : 3 + int(random, 250))
                    : unsubscribePacket(id, pick(random, BAD_FILTERS));
        await request(session, bytes, undefined);
        await until('the broker to end the session', () => session.closed, 5000).catch(() => session.socket.destroy());
      }
    }
    session.socket.destroy();
  };

  const adminSession = async (clientId: string, sender: number): Promise<void> => {
    const random = generator(sender);
    let batches = (sender + 1) * 1_000_000;
    let session = await login(port, clientId, 'admin', passwords.admin, deadline);
    let id = 1;
    while (more()) {
      if (session.closed) {
        reconnects++;
        session = await login(port, clientId, 'admin', passwords.admin, deadline);
        continue;
      }
      id = (id % 65_535) + 1;
      tick();
      await publishQos1(session, readingsTopic(random), id, random, batches++);
    }
    session.socket.destroy();
  };

  const oneShot = async (sender: number): Promise<void> => {
    const random = generator(sender);
    while (more()) {
      tick();
      const k = int(random, 8);
      const kinds = ['random bytes', 'bad remaining length', 'connect unknown user', 'connect bad protocol', 'connect no credentials', 'publish before connect', 'connect wrong password form', 'truncated connect'];
      count(`one-shot ${kinds[k] as string}`);
      let bytes: Buffer;
      if (k === 0) {
        bytes = Buffer.alloc(int(random, 300));
        for (let i = 0; i < bytes.length; i++) bytes[i] = int(random, 256);
      } else if (k === 1) bytes = Buffer.concat([Buffer.from([pick(random, [0x10, 0x30, 0x32, 0x82, 0xc0])]), varint(int(random, 268_435_455)), Buffer.alloc(int(random, 100), 0x00)]);
      else if (k === 2) bytes = connectPacket({ clientId: `x${int(random, 1e6)}`, username: pick(random, ODD_STRINGS) || 'nobody', password: 'x' });
      else if (k === 3) bytes = connectPacket({ clientId: 'x', protocol: pick(random, ['MQIsdp', 'MQTT\u0000', '', 'HTTP']), level: int(random, 256), flags: int(random, 256) });
      else if (k === 4) bytes = connectPacket({ clientId: pick(random, ODD_STRINGS) });
      else if (k === 5) bytes = publishPacket(OWN_TOPIC, Buffer.from('{}'), 1, 1);
      else if (k === 6) bytes = connectPacket({ clientId: 'x', flags: 0x40 | 0x02, password: 'p' }); // password without username: forbidden (§3.1.2.9)
      else bytes = connectPacket({ clientId: 'x', username: GATEWAY, password: 'y' }).subarray(0, 5 + int(random, 20));
      await new Promise<void>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port });
        const timer = setTimeout(() => socket.destroy(), 2000);
        socket.on('error', () => undefined);
        socket.resume();
        socket.on('close', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.on('connect', () => socket.end(bytes));
      });
    }
  };

  const gateways = options.gatewaySessions ?? 8;
  await Promise.all([
    ...Array.from({ length: gateways }, (_, i) => gatewaySession(i)),
    adminSession('admin-fuzz-1', gateways),
    adminSession('admin-fuzz-2', gateways + 1),
    ...Array.from({ length: options.oneShotConcurrency ?? 8 }, (_, i) => oneShot(gateways + 2 + i)),
  ]);
  const seconds = (Date.now() - started) / 1000;

  const expectedRejected: Record<string, number> = {};
  let expectedAcceptedReadings = 0;
  for (const m of delivered) {
    const verdict = validateMessage(m.topic, m.bytes, registry);
    if (verdict.ok) expectedAcceptedReadings += verdict.batch.readings.length;
    else expectedRejected[verdict.reason] = (expectedRejected[verdict.reason] ?? 0) + 1;
  }
  return {
    cases: done,
    seconds,
    byKind,
    deliveredToIngest: delivered.length,
    expectedRejected,
    expectedAcceptedReadings,
    validBatches: delivered.filter((m) => m.valid).length,
    validReadings: delivered.filter((m) => m.valid).reduce((sum, m) => sum + (JSON.parse(m.bytes.toString('utf8')) as { readings: unknown[] }).readings.length, 0),
    reconnects,
  };
}

function inChildProcess(options: MqttFuzzClientOptions): Promise<MqttFuzzClientSummary> {
  const child = fork(fileURLToPath(new URL('./fuzz-mqtt-child.ts', import.meta.url)), [JSON.stringify(options)], { execArgv: ['--import', 'tsx'] });
  return new Promise((resolve, reject) => {
    child.once('message', (summary) => resolve(summary as MqttFuzzClientSummary));
    child.once('exit', (code) => reject(new Error(`the fuzz senders' process exited (${code}) without a summary`)));
  });
}
