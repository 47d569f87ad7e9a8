/**
 * While ingest is stopped, the embedded broker holds at most maxSessionQueueBytes for its persistent session, then
 * refuses further readings (closing the publisher's connection, so a gateway keeps them in its store-and-forward
 * queue); when ingest returns it receives everything that was accepted, and publishing works again.
 * bench/broker-queue.ts runs the same for minutes at a real rate, with broker RSS and InfluxDB counts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { DiskQueue } from '../../../core/disk-queue.ts';
import { decodeBatch, type Reading } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { Publisher } from '../../../gateway/publisher.ts';
import { until } from '../../harness/wait.ts';

const BOUND = 256 * 1024;
const MESSAGE = 16 * 1024;

describe('embedded broker: the queue of an offline persistent session is bounded', () => {
  let broker: RunningBroker;
  const denied: string[] = [];
  // a broker per test: a persistent session left offline by one would keep its queue full for the next
  beforeEach(async () => {
    denied.length = 0;
    broker = await startBroker({ limits: { maxSessionQueueBytes: BOUND }, onDenied: (w) => denied.push(w) });
  });
  afterEach(async () => {
    await broker?.stop();
  });

  function connectIngest(received: string[]): Promise<MqttClient> {
    const client = mqtt.connect(broker.url, { protocolVersion: 4, clientId: 'cleanstream-ingest', clean: false, reconnectPeriod: 0 });
    client.on('message', (_topic, payload) => received.push(payload.subarray(0, 8).toString()));
    return new Promise((resolve, reject) => client.once('connect', () => resolve(client)).once('error', reject));
  }

  /** Publishes numbered QoS 1 messages one by one until the broker closes the connection (at most `max`). */
  async function publishUntilRefused(from: number, max: number): Promise<{ accepted: number; closed: boolean }> {
    const gw = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: 'cleanstream-gw', reconnectPeriod: 0 });
    let closed = false;
    gw.once('close', () => (closed = true));
    let accepted = 0;
    for (let n = from; n < from + max && !closed; n++) {
      const body = Buffer.alloc(MESSAGE, 0x20);
      body.write(String(n).padStart(8, '0'));
      const acked = await new Promise<boolean>((resolve) => {
        gw.publish(topics.readings('paper-01', 'gw'), body, { qos: 1 }, (err) => resolve(!err));
        gw.once('close', () => resolve(false));
      });
      if (acked) accepted++;
    }
    gw.end(true);
    return { accepted, closed };
  }

  it('refuses readings past the bound while ingest is away, then delivers every accepted one and accepts again', async () => {
    const received: string[] = [];
    const first = await connectIngest(received);
    await first.subscribeAsync(topics.readingsFilter(), { qos: 1 });
    await first.endAsync();

    const { accepted, closed } = await publishUntilRefused(0, 100);
    expect(closed).toBe(true);
    // 16 KiB messages into a 256 KiB bound: refused once the session holds the bound
    expect(accepted).toBeGreaterThanOrEqual(BOUND / MESSAGE - 1);
    expect(accepted).toBeLessThanOrEqual(BOUND / MESSAGE + 1);
    expect(broker.queues.queued('cleanstream-ingest')).toBeLessThan(BOUND + MESSAGE + 1024);
    expect(denied).toContainEqual(expect.stringContaining(`cleanstream-ingest already holds ${BOUND} bytes queued`));
    // until ingest has drained its queue, the gateway is told to come back later rather than let in and cut again
    await expect(mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: 'cleanstream-gw', reconnectPeriod: 0 })).rejects.toMatchObject({ code: 3 });

    const back = await connectIngest(received);
    await until('ingest to receive every accepted reading', () => received.length >= accepted, 10_000);
    expect(received).toEqual(Array.from({ length: accepted }, (_, n) => String(n).padStart(8, '0')));
    await until('the session queue to drain', () => broker.queues.queued('cleanstream-ingest') === 0, 5_000);

    const again = await publishUntilRefused(accepted, 3);
    expect(again).toEqual({ accepted: 3, closed: false });
    await until('ingest to receive the readings sent after it returned', () => received.length === accepted + 3, 5_000);
    await back.endAsync();
  });

  it('frees a session that will not come back when its id connects once with clean session on', async () => {
    const first = await connectIngest([]);
    await first.subscribeAsync(topics.readingsFilter(), { qos: 1 });
    await first.endAsync();
    expect((await publishUntilRefused(0, 100)).closed).toBe(true);

    const clean = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: 'cleanstream-ingest', clean: true, reconnectPeriod: 0 });
    await clean.endAsync();
    await until('the session queue to be released', () => broker.queues.queued('cleanstream-ingest') === 0, 5_000);
    expect(await publishUntilRefused(100, 3)).toEqual({ accepted: 3, closed: false });
  });

  it('lets a gateway keep its readings on disk while ingest is away, then delivers them all, none set aside', async () => {
    const work = mkdtempSync(path.join(tmpdir(), 'cleanstream-queue-bound-'));
    const queue = await DiskQueue.open({ dir: path.join(work, 'queue'), maxBytes: 64 * 1024 * 1024 });
    const received = new Set<number>();
    const listen = (client: MqttClient): void => void client.on('message', (_t, payload) => decodeBatch(payload).readings.forEach((r) => received.add(r.ts)));
    const ingest = (): Promise<MqttClient> => {
      const client = mqtt.connect(broker.url, { protocolVersion: 4, clientId: 'cleanstream-ingest-sf', clean: false, reconnectPeriod: 0 });
      listen(client);
      return new Promise((resolve) => client.once('connect', () => resolve(client)));
    };
    const first = await ingest();
    await first.subscribeAsync(topics.readingsFilter(), { qos: 1 });
    await first.endAsync();
    const publisher = new Publisher({
      gatewayId: 'gw-sf',
      mqtt: { url: broker.url, protocolVersion: 4 },
      queue,
      rejectedFile: path.join(work, 'rejected.jsonl'),
      reconnectBackoff: { initialMs: 50, maxMs: 200 },
    });
    publisher.on('error', () => undefined);
    try {
      // 60 scans of 100 readings (~10 KB a batch): more than twice the bound while ingest is away
      const total = 6_000;
      for (let scan = 0; scan < total / 100; scan++) {
        const readings: Reading[] = Array.from({ length: 100 }, (_, i) => ({ plant: 'paper-01', meter: `m${i}`, quantity: 'cod', unit: 'mg/L', value: i, ts: 1_700_000_000_000 + scan * 100 + i, quality: 'good' }));
        publisher.publishScan(readings);
      }
      await until('the broker to hold ingest\'s queue at its bound', () => denied.some((d) => d.includes('publish to cleanstream/v1/readings/paper-01/gw-sf refused')), 10_000);
      // ingest stays away while the gateway tries again and again
      await until('five refusals of the gateway', () => denied.filter((d) => d.includes('gw-sf')).length >= 5, 10_000);
      expect(publisher.stats().rejectedBatches).toBe(0);
      expect(publisher.stats().queuedBatches).toBeGreaterThan(0);
      const back = await ingest();
      await until('every reading to reach ingest', () => received.size === total, 20_000);
      expect(publisher.stats().rejectedBatches).toBe(0);
      await back.endAsync();
    } finally {
      await publisher.stop();
      await queue.close();
      rmSync(work, { recursive: true, force: true });
    }
  });
});
