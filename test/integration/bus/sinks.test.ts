/**
 * Every sink passes the sink contract (bus/sink-contract.ts) over its real downstream: ingest over InfluxDB, the
 * HJ 212 uplink over its checkpoints on disk, the rules engine over its checkpoint (a batch is durable once a
 * checkpoint on disk holds it, its identity among the checkpoint's recent messages; the checkpoint folder made
 * unwritable holds it back).
 */
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { connectAsync, type MqttClient } from 'mqtt';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { RecentMessages } from '../../../bus/dedup.ts';
import { describeSinkContract } from '../../../bus/sink-contract.ts';
import type { BusMessage, BusPublisher } from '../../../bus/subscriber.ts';
import { topics } from '../../../bus/topics.ts';
import { ingestConfigSchema } from '../../../ingest/config.ts';
import type { IngestEvents } from '../../../ingest/events.ts';
import { IngestSink, type IngestMessage } from '../../../ingest/sink.ts';
import { encodeBatch, type ReadingBatch } from '../../../core/reading.ts';
import { readCheckpoint as readUplinkCheckpoint } from '../../../uplink/checkpoint.ts';
import { parseUplinkConfig } from '../../../uplink/config.ts';
import { Routes } from '../../../uplink/routes.ts';
import { readingsDecoder, UplinkSink, type UplinkMessage } from '../../../uplink/sink.ts';
import { assembleRulesSink } from '../../../rules/assemble.ts';
import { readCheckpoint as readRulesCheckpoint } from '../../../rules/checkpoint.ts';
import { parseRulesConfig } from '../../../rules/config.ts';
import { scopeOf } from '../../../rules/partition.ts';
import type { RulesMessage, RulesSink, RulesStats } from '../../../rules/sink.ts';
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
          const saved = readUplinkCheckpoint(path.join(root, k, MN));
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

describeSinkContract<BusMessage<RulesMessage>, RulesStats>('rules (checkpoint)', async () => {
  const [influx, broker]: [RunningInflux, RunningBroker] = await Promise.all([startInfluxd(), startBroker()]);
  const client: MqttClient = await connectAsync(broker.url, { clientId: 'sink-contract-alerts', reconnectPeriod: 0 });
  const bus = {
    publish: async (topic: string, payload: string | Buffer, options: { retain?: boolean } = {}) => void (await client.publishAsync(topic, payload, { qos: 1, retain: options.retain ?? false })),
    connected: true,
    stats: () => ({ connected: true, received: 0, acknowledged: 0, unacked: 0, duplicates: 0, decodeErrors: 0, connections: 1 }),
  };
  const root = mkdtempSync(path.join(tmpdir(), 'cleanstream-rules-sink-'));
  /** Each sink its own checkpoint folder: sinks of earlier tests keep running until the suite ends. */
  const folders: string[] = [];
  const logger = pino({ level: 'silent' });
  const batchOf = (n: number): ReadingBatch => ({
    v: 1,
    plant: PLANT,
    gateway: 'gw-contract',
    seq: n,
    sentAt: T0 + n * 1000,
    readings: [{ meter: 'outfall-1-cod', quantity: 'cod', value: n, unit: 'mg/L', ts: T0 + n * 1000, quality: 'good' }],
  });
  return {
    sink: () => {
      const folder = path.join(root, `sink-${folders.length}`);
      folders.push(folder);
      const config = parseRulesConfig({
        mqtt: { url: broker.url },
        clientId: 'sink-contract-rules',
        influx: { url: influx.url, database: 'sink_contract_rules' },
        checkpoint: { file: path.join(folder, 'checkpoint.json'), intervalMs: 100 },
        rules: [{ id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: { max: 1_000_000 } }],
      });
      // The contract's sink() is synchronous; the rules sink is assembled on start (assembling opens its webhook outboxes).
      let sink: RulesSink | undefined;
      // what the durable subscriber's dedup does on arrival: the batch's identity goes into the checkpoints from here
      const recent = new RecentMessages();
      const started = (): RulesSink => {
        if (!sink) throw new Error('the rules sink is used before start');
        return sink;
      };
      return {
        name: 'rules (checkpoint)',
        start: async () => {
          sink = await assembleRulesSink(config, scopeOf(config, undefined), bus, recent, { clock: Date.now, log: logger });
          await sink.start();
        },
        write: (message, ack) => {
          const b = message.decoded?.kind === 'readings' ? message.decoded.batch : undefined;
          if (b) recent.firstSight(b.gateway, b.seq, b.sentAt);
          started().write(message, ack);
        },
        flush: () => started().flush(),
        stop: async () => sink?.stop(),
        stats: () => started().stats(),
      };
    },
    batch: (n) => ({ topic: topics.readings(PLANT, 'gw-contract'), payload: Buffer.alloc(0), decoded: { kind: 'readings', batch: batchOf(n) }, decodeError: undefined, redelivered: false, ack: () => undefined }),
    // a file where each checkpoint folder was: the checkpoint cannot be written (root is not stopped by permissions)
    hold: async () => {
      for (const folder of folders) {
        mkdirSync(folder, { recursive: true });
        renameSync(folder, `${folder}.held`);
        writeFileSync(folder, 'held');
      }
    },
    release: async () => {
      for (const folder of folders) {
        rmSync(folder, { force: true });
        renameSync(`${folder}.held`, folder);
      }
    },
    durable: async () => {
      const held = new Set<number>();
      for (const folder of folders) {
        let snap;
        try {
          snap = readRulesCheckpoint(path.join(folder, 'checkpoint.json'));
        } catch {
          continue; // held
        }
        for (const key of snap?.recentMessages?.['gw-contract'] ?? []) held.add(Number(key.split(':')[0]));
      }
      return [...held].sort((a, b) => a - b);
    },
    close: async () => {
      await client.endAsync(true);
      await broker.stop();
      await influx.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
});
