/**
 * Every sink passes the sink contract (bus/sink-contract.ts) over its real downstream. Rules and the HJ 212 uplink
 * register their sinks here too. The rules engine's downstream is its checkpoint: a batch is durable once a
 * checkpoint on disk holds it (its identity among the checkpoint's recent messages); the checkpoint folder made
 * unwritable holds it back.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { RecentMessages } from '../../../bus/dedup.ts';
import { describeSinkContract } from '../../../bus/sink-contract.ts';
import type { BusMessage, BusPublisher } from '../../../bus/subscriber.ts';
import { topics } from '../../../bus/topics.ts';
import { ingestConfigSchema } from '../../../ingest/config.ts';
import type { IngestEvents } from '../../../ingest/events.ts';
import { IngestSink, type IngestMessage } from '../../../ingest/sink.ts';
import { assembleRulesSink } from '../../../rules/assemble.ts';
import { readCheckpoint } from '../../../rules/checkpoint.ts';
import { parseRulesConfig } from '../../../rules/config.ts';
import { scopeOf } from '../../../rules/partition.ts';
import type { RulesMessage, RulesSink, RulesStats } from '../../../rules/sink.ts';
import type { ReadingBatch } from '../../../core/reading.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';

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
          snap = readCheckpoint(path.join(folder, 'checkpoint.json'));
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
