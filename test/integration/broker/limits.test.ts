/**
 * An unauthenticated client cannot make a broker hold memory or a connection: a CONNECT declaring 200 MB is cut as
 * soon as its header arrives and the broker's RSS stays flat; a connection that never sends CONNECT is closed after a
 * few seconds; one address cannot open connections without end. The embedded broker runs as `cleanstream broker`
 * (its own process, for its RSS); Mosquitto with deploy/mosquitto/mosquitto.conf's limits.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import mqtt from 'mqtt';
import { startCli, type CliProcess } from '../../harness/cli.ts';
import { freePort } from '../../harness/ports.ts';
import { until } from '../../harness/wait.ts';
import { startMosquitto, type RunningMosquitto } from '../../harness/mosquitto.ts';
import { processUsage } from '../../../bench/peers/process-usage.ts';
import { startBroker } from '../../../bus/broker.ts';
import { BrokerUsers, hashPassword } from '../../../bus/broker-auth.ts';
import { topics } from '../../../bus/topics.ts';

const MiB = 1024 * 1024;

/** The fixed header of a CONNECT (MQTT 3.1.1 §2.2) declaring `length` bytes to follow. */
function connectHeader(length: number): Buffer {
  const bytes = [0x10];
  let n = length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0);
  return Buffer.from(bytes);
}

/** Sends a CONNECT declaring 200 MB and streams its body, at most `budget` bytes: how much went out before the broker closed. */
async function oversizeConnect(port: number, budget = 96 * MiB): Promise<{ closed: boolean; sent: number }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let closed = false;
  socket.on('error', () => undefined);
  socket.once('close', () => (closed = true));
  const chunk = Buffer.alloc(MiB, 0x61);
  socket.write(connectHeader(200 * MiB));
  let sent = 0;
  const deadline = Date.now() + 15_000;
  while (!closed && sent < budget && Date.now() < deadline) {
    sent += chunk.length;
    if (!socket.write(chunk)) await new Promise((r) => { socket.once('drain', r); socket.once('close', r); });
  }
  await new Promise((r) => setTimeout(r, 200));
  const result = { closed, sent };
  socket.destroy();
  return result;
}

/** Opens a TCP connection that sends nothing; resolves when the broker closes it. */
function silentConnection(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.once('close', () => resolve());
  });
}

function rssMiB(pid: number | undefined): number {
  const usage = pid === undefined ? undefined : processUsage(pid);
  if (!usage) throw new Error(`no process ${pid}`);
  return usage.rssBytes / MiB;
}

describe('embedded broker (`cleanstream broker`) limits before login', () => {
  let broker: CliProcess;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    broker = startCli(['broker', '--port', String(port)]);
    await until('the broker to listen', () => broker.log.some((l) => l.includes('broker listening')), 20_000);
  });
  afterAll(async () => {
    broker?.proc.kill('SIGTERM');
    await broker?.exited;
  });

  it('cuts a CONNECT declaring 200 MB as soon as its header arrives, and its RSS stays flat', async () => {
    const before = rssMiB(broker.proc.pid);
    const { closed, sent } = await oversizeConnect(port);
    const after = rssMiB(broker.proc.pid);
    expect(closed).toBe(true);
    // what the two loopback socket buffers took before the broker read the header, not what the broker kept
    expect(sent).toBeLessThan(32 * MiB);
    expect(after - before).toBeLessThan(16);
    // 200 MiB of body behind a 5-byte fixed header
    await until('the broker to log why', () => broker.log.includes('broker: connection from 127.0.0.1 closed: a packet of 209715205 bytes before login (limit 65536)'), 2_000);
  });

  it('closes a connection that sends no CONNECT within 5 s', async () => {
    let closed = false;
    void silentConnection(port).then(() => (closed = true));
    await until('the broker to close a silent connection', () => closed, 10_000);
  });
});

describe('embedded broker limits after login and per address', () => {
  it('closes a gateway\'s connection on a packet over maxPacketBytes, and lets ingest publish a dead letter up to maxConsumerPacketBytes', async () => {
    const denied: string[] = [];
    const users = new BrokerUsers([
      { username: 'gw', passwordHash: hashPassword('gw-secret'), role: 'gateway', plants: ['paper-01'] },
      { username: 'ingest', passwordHash: hashPassword('ingest-secret'), role: 'ingest' },
    ]);
    const broker = await startBroker({ users, limits: { maxPacketBytes: 64 * 1024, maxConsumerPacketBytes: 512 * 1024 }, onDenied: (w) => denied.push(w) });
    try {
      const gw = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: 'gw', username: 'gw', password: 'gw-secret', reconnectPeriod: 0 });
      let closed = false;
      gw.once('close', () => (closed = true));
      await gw.publishAsync(topics.readings('paper-01', 'gw'), Buffer.alloc(60 * 1024), { qos: 1 });
      gw.publish(topics.readings('paper-01', 'gw'), Buffer.alloc(80 * 1024), { qos: 1 });
      await until('the broker to close the connection', () => closed, 5_000);
      expect(denied).toContainEqual(expect.stringMatching(/a packet of \d+ bytes after login \(limit 65536\)/));
      gw.end(true);

      // a refused 80 KB message comes back as a dead letter up to 6 times longer (JSON-escaped control characters)
      const ingest = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: 'ingest', username: 'ingest', password: 'ingest-secret', reconnectPeriod: 0 });
      const outcome = await new Promise<string>((resolve) => {
        ingest.once('close', () => resolve('closed'));
        ingest.publish(topics.deadLetter('ingest'), Buffer.alloc(480 * 1024, 0x20), { qos: 1 }, (err) => resolve(err ? err.message : 'acknowledged'));
      });
      expect(outcome).toBe('acknowledged');
      ingest.end(true);
    } finally {
      await broker.stop();
    }
  });

  it('refuses an address\'s connections past its burst, without reading them', async () => {
    const denied: string[] = [];
    const broker = await startBroker({ limits: { connectionBurst: 3, connectionsPerSecond: 0.01 }, onDenied: (w) => denied.push(w) });
    try {
      const outcomes = [];
      for (let i = 0; i < 5; i++) {
        const client = mqtt.connect(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
        outcomes.push(await new Promise((resolve) => client.once('connect', () => resolve('connected')).once('close', () => resolve('refused'))));
        client.end(true);
      }
      expect(outcomes).toEqual(['connected', 'connected', 'connected', 'refused', 'refused']);
      expect(denied).toContainEqual('connection from 127.0.0.1 refused: more than 3 at once or 0.01/s');
    } finally {
      await broker.stop();
    }
  });
});

describe('Mosquitto with deploy/mosquitto/mosquitto.conf\'s limits', () => {
  let broker: RunningMosquitto;
  beforeAll(async () => {
    const shipped = readFileSync(path.resolve(import.meta.dirname, '../../../deploy/mosquitto/mosquitto.conf'), 'utf8');
    const limits = shipped.split('\n').filter((l) => /^max_packet_size\s/.test(l));
    expect(limits).toHaveLength(1);
    broker = await startMosquitto({ extraConf: limits });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('cuts a CONNECT declaring 200 MB as soon as its header arrives, and its RSS stays flat', async () => {
    const before = rssMiB(broker.pid);
    const { closed, sent } = await oversizeConnect(broker.port);
    const after = rssMiB(broker.pid);
    expect(closed).toBe(true);
    expect(sent).toBeLessThan(32 * MiB);
    expect(after - before).toBeLessThan(16);
  });
});
