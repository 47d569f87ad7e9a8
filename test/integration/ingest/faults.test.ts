/**
 * Ingest under faults, as a separate process (so that it can be SIGKILLed), against a real InfluxDB 1.x and real
 * brokers. Every test publishes a steady feed of gateway-style batches and ends with InfluxDB holding exactly the
 * published readings: the same count, every timestamp with its value.
 *
 * The InfluxDB outage lasts 30 s, as the issue asks. That test has its own InfluxDB and broker and runs alongside
 * the others (which share theirs and run one after another), so the file takes about as long as the outage.
 * bench/ingest covers long outages (`--restart-down 300`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { topics } from '../../../bus/topics.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { freePort } from '../../harness/ports.ts';
import { rmSync } from 'node:fs';
import {
  expectExactly,
  ingestConfig,
  sleep,
  spawnIngest,
  startFeed,
  startPersistentMosquitto,
  tempDir,
  until,
  type Feed,
  type IngestProcess,
  type PersistentMosquitto,
} from './fault-kit.ts';

let influx: RunningInflux;
let broker: RunningBroker;
let mosquitto: PersistentMosquitto;
const children: IngestProcess[] = [];
const feeds: Feed[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  [influx, broker, mosquitto] = await Promise.all([startInfluxd(), startBroker(), startPersistentMosquitto()]);
});

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill('SIGKILL')));
  await Promise.all(feeds.map((f) => f.client.endAsync(true)));
  await broker?.stop();
  await mosquitto?.stop();
  await influx?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function dir(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

async function ingest(config: Parameters<typeof spawnIngest>[0], configDir: string, name?: string): Promise<IngestProcess> {
  const child = await spawnIngest(config, configDir, name);
  children.push(child);
  return child;
}

async function feed(url: string, messages: number, perSecond: number, protocolVersion: 4 | 5 = 4): Promise<Feed> {
  const f = await startFeed(url, messages, perSecond, protocolVersion);
  feeds.push(f);
  return f;
}

function expectAllWritten(database: string, messages: number, within = 30_000): Promise<void> {
  return expectAllWrittenTo(influx, database, messages, within);
}

async function expectAllWrittenTo(store: RunningInflux, database: string, messages: number, within = 30_000): Promise<void> {
  let last = '';
  await until(
    'InfluxDB to hold exactly the published readings',
    async () => {
      const check = await expectExactly(store, database, messages);
      last = check.problem ?? '';
      return check.ok;
    },
    within,
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${last}`);
  });
}

// Two groups run at the same time: the 30 s outage (own InfluxDB and broker) and the rest, one after another.
describe.concurrent('ingest under a 30 s InfluxDB outage: InfluxDB ends with exactly the published readings', () => {
  it('InfluxDB down for 30 s mid-stream: batches are spooled and acknowledged, then replayed in order with several writes in flight while new data flows', async () => {
    const [ownInflux, ownBroker] = await Promise.all([startInfluxd(), startBroker()]);
    try {
      const work = dir('fault-influx');
      const database = 'fault_influx';
      const child = await ingest(ingestConfig({ mqttUrl: ownBroker.url, influxUrl: ownInflux.url, database, clientId: 'fault-influx', httpPort: await freePort(), spoolDir: `${work}/spool` }), work);
      // 2 s before the outage, 30 s during it, 6 s after: 1,140 messages, 57,000 readings at 1,500 readings/s.
      const messages = 1140;
      const f = await feed(ownBroker.url, messages, 30);
      await sleep(2000);
      await ownInflux.kill();
      let during: Record<string, number>;
      try {
        await sleep(30_000);
        during = await child.metrics();
      } finally {
        await ownInflux.restart();
      }
      // While InfluxDB was down the feed went on, into the spool, acknowledged: the broker held nothing back.
      expect(during.spooled_readings_total).toBeGreaterThan(30 * 1000);
      expect(during.unacked_messages).toBeLessThan(50);
      expect(during.spool_batches).toBeGreaterThan(10);
      // The replay writes several spooled batches at once (sampled while it drains).
      let peakInFlight = 0;
      await until('the spool to drain', async () => {
        const m = await child.metrics();
        peakInFlight = Math.max(peakInFlight, m.replay_writes_in_flight ?? 0);
        return m.spool_batches === 0;
      }, 60_000, 10);
      await f.done;
      await expectAllWrittenTo(ownInflux, database, messages);
      const after = await child.metrics();
      expect(after.spool_batches).toBe(0);
      expect(after.replayed_readings_total).toBe(after.spooled_readings_total);
      expect(peakInFlight).toBeGreaterThan(1);
    } finally {
      await ownBroker.stop();
      await ownInflux.stop();
    }
  });
});

describe.concurrent('ingest under faults: InfluxDB ends with exactly the published readings', () => {
  describe.sequential('one after another, sharing an InfluxDB and brokers', () => {
    it('ingest SIGKILLed mid-stream, once while writing and once while spooling, then restarted: nothing lost', async () => {
      const work = dir('fault-kill');
      const database = 'fault_kill';
      const config = ingestConfig({ mqttUrl: broker.url, influxUrl: influx.url, database, clientId: 'fault-kill', httpPort: await freePort(), spoolDir: `${work}/spool` });
      let child = await ingest(config, work);
      const messages = 240;
      const f = await feed(broker.url, messages, 40); // 6 s
      await sleep(1500);
      await child.kill('SIGKILL'); // while writing to InfluxDB directly
      child = await ingest(config, work);
      await sleep(500);
      await influx.kill();
      try {
        await until('ingest to spool', async () => ((await child.metrics()).spooled_readings_total ?? 0) > 0, 10_000);
        await sleep(700);
        await child.kill('SIGKILL'); // while appending to the spool
        child = await ingest(config, work);
        await sleep(1000);
      } finally {
        await influx.restart();
      }
      await f.done;
      await expectAllWritten(database, messages);
      await until('the spool drained', async () => (await child.metrics()).spool_batches === 0, 10_000);
    });

    it('the broker (Mosquitto with persistence) restarted mid-stream: its saved session delivers the rest', async () => {
      const work = dir('fault-broker');
      const database = 'fault_broker';
      const child = await ingest(ingestConfig({ mqttUrl: mosquitto.url, influxUrl: influx.url, database, clientId: 'fault-broker', httpPort: await freePort(), spoolDir: `${work}/spool` }), work);
      const messages = 200;
      const f = await feed(mosquitto.url, messages, 40); // 5 s
      await sleep(2000);
      await mosquitto.restart(1000);
      await f.done;
      await expectAllWritten(database, messages);
      const m = await child.metrics();
      expect(m.received_messages_total).toBeGreaterThanOrEqual(messages);
    });

    it('two ingest processes split a shared subscription ($share, MQTT 5, Mosquitto) without loss or overlap', async () => {
      const work = dir('fault-share');
      const database = 'fault_share';
      const subscription = topics.sharedReadingsFilter('ingest');
      const [a, b] = await Promise.all(
        (['share-a', 'share-b'] as const).map(async (clientId) =>
          ingest(ingestConfig({ mqttUrl: mosquitto.url, influxUrl: influx.url, database, clientId, httpPort: await freePort(), protocolVersion: 5, subscription }), work, clientId),
        ),
      );
      const messages = 200;
      const f = await feed(mosquitto.url, messages, 50, 5);
      await f.done;
      await expectAllWritten(database, messages);
      const [ma, mb] = await Promise.all([a!.metrics(), b!.metrics()]);
      expect(ma.received_messages_total).toBeGreaterThan(0);
      expect(mb.received_messages_total).toBeGreaterThan(0);
      expect(ma.received_messages_total! + mb.received_messages_total!).toBe(messages);
    });
  });
});
