/**
 * Every sink passes the sink contract (bus/sink-contract.ts) over its real downstream: ingest over InfluxDB, the
 * HJ 212 uplink over its checkpoints on disk. The rules engine registers its sink here too.
 */
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { connectAsync, type MqttClient } from 'mqtt';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { describeSinkContract } from '../../../bus/sink-contract.ts';
import type { BusPublisher } from '../../../bus/subscriber.ts';
import { topics } from '../../../bus/topics.ts';
import { ingestConfigSchema } from '../../../ingest/config.ts';
import type { IngestEvents } from '../../../ingest/events.ts';
import { IngestSink, type IngestMessage } from '../../../ingest/sink.ts';
import { encodeBatch } from '../../../core/reading.ts';
import { readCheckpoint } from '../../../uplink/checkpoint.ts';
import { parseUplinkConfig } from '../../../uplink/config.ts';
import { Routes } from '../../../uplink/routes.ts';
import { readingsDecoder, UplinkSink, type UplinkMessage } from '../../../uplink/sink.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { freePort } from '../../harness/ports.ts';
import { startTestPlatform } from '../hj212/platform.ts';

const PLANT = 'paper-01';
const T0 = Date.UTC(2026, 0, 1);

describeSinkContract<IngestMessage, ReturnType<IngestSink['stats']>>('ingest (InfluxDB)', async () => {
  const [influx, broker]: [RunningInflux, RunningBroker] = await Promise.all([startInfluxd(), startBroker()]);
  const client: MqttClient = await connectAsync(broker.url, { clientId: 'sink-contract-dead-letters', reconnectPeriod: 0 });
  const publisher: BusPublisher = { publish: async (topic, payload) => void (await client.publishAsync(topic, payload, { qos: 1 })) };
  const config = ingestConfigSchema.parse({
    mqtt: { url: broker.url },
    clientId: 'sink-contract',
    influx: { url: influx.url, database: 'sink_contract' },
    batch: { maxLines: 1000, maxDelayMs: 20 },
    retry: { maxAttempts: 2, initialDelayMs: 20, maxDelayMs: 50, requestTimeoutMs: 1000, pauseMs: 100 },
    timestamps: { backfill: true },
  });
  return {
    sink: () => {
      const events = new EventEmitter<IngestEvents>();
      events.on('writeError', () => undefined);
      events.on('mqttError', () => undefined);
      return new IngestSink({ config, registry: undefined, publisher, events, stopTimeoutMs: 10_000 });
    },
    batch: (n) => ({
      topic: topics.readings(PLANT, 'gw-contract'),
      payload: Buffer.from(
        JSON.stringify({ v: 1, plant: PLANT, gateway: 'gw-contract', seq: n, sentAt: T0 + n * 1000, readings: [{ meter: 'outfall-1-cod', quantity: 'cod', value: n, unit: 'mg/L', ts: T0 + n * 1000, quality: 'good' }] }),
      ),
    }),
    hold: () => influx.kill(),
    release: () => influx.restart(),
    durable: async () => {
      const rows = await influx.query<{ cod: number }>(`SELECT cod FROM water WHERE plant = '${PLANT}'`, 'sink_contract').catch(() => []);
      return rows.map((r) => r.cod).sort((a, b) => a - b);
    },
    close: async () => {
      await client.endAsync(true);
      await broker.stop();
      await influx.stop();
    },
  };
});

/**
 * The uplink acknowledges a batch once every station's checkpoint holds what it fed: its downstream is the checkpoint
 * on disk (what the platform acknowledges is the outbox's business, not the broker's). Batch n is a flow reading
 * stamped T0 + n × 10 ms, so the minute stays open and the checkpoint holds each batch as one Cou sample; the downstream
 * is held by putting a file where the sinks' folders were (checkpoint writes fail with ENOTDIR), as a disk gone
 * read-only would, and released by putting the folders back.
 */
describeSinkContract<UplinkMessage, ReturnType<UplinkSink['stats']>>('HJ 212 uplink (checkpoints on disk)', async () => {
  const platform = await startTestPlatform(await freePort());
  const base = mkdtempSync(path.join(tmpdir(), 'cs-sink-contract-uplink-'));
  const live = path.join(base, 'outboxes');
  const held = path.join(base, 'held');
  const MN = 'SINKCONTRACT000000000001';
  const logger = pino({ level: 'silent' });
  let sinks = 0;
  const configOf = (dir: string) =>
    parseUplinkConfig('sink contract', {
      id: 'sink-contract',
      mqtt: { url: 'mqtt://127.0.0.1:1' },
      platform: { host: '127.0.0.1', port: platform.port },
      send: { minute: true, hourly: false, daily: false },
      checkpointIntervalMs: 100,
      outbox: { dir },
      stations: [{ plant: PLANT, mn: MN, pw: '123456', pollutants: [{ code: 'w00000', meter: 'outfall-1-flow' }] }],
    });
  const decode = readingsDecoder(new Routes(configOf(live))).decode;
  return {
    sink: () => new UplinkSink(configOf(path.join(live, String(sinks++))), { logger, report: () => undefined }),
    batch: (n) => {
      const topic = topics.readings(PLANT, 'gw-contract');
      const payload = encodeBatch({ v: 1, plant: PLANT, gateway: 'gw-contract', seq: n, sentAt: T0 + n, readings: [{ meter: 'outfall-1-flow', quantity: 'wastewater_flow', value: n, unit: 'm3/h', ts: T0 + n * 10, quality: 'good' }] });
      return { topic, decoded: decode(topic, payload), decodeError: undefined };
    },
    hold: async () => {
      renameSync(live, held);
      writeFileSync(live, 'not a folder');
    },
    release: async () => {
      rmSync(live);
      renameSync(held, live);
    },
    durable: async () => {
      const root = existsSync(held) ? held : live;
      return readdirSync(root)
        .flatMap((k) => {
          const saved = readCheckpoint(path.join(root, k, MN));
          return saved.kind === 'state' ? saved.state.samples.flatMap((minute) => minute.codes.flatMap((c) => c.good.map(([ts]) => Math.round((ts - T0) / 10)))) : [];
        })
        .sort((a, b) => a - b);
    },
    close: async () => {
      await platform.stop();
      rmSync(base, { recursive: true, force: true });
    },
  };
});
