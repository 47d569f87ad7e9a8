/**
 * Every sink passes the sink contract (bus/sink-contract.ts) over its real downstream. Rules and the HJ 212 uplink
 * register their sinks here too.
 */
import { EventEmitter } from 'node:events';
import { connectAsync, type MqttClient } from 'mqtt';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { describeSinkContract } from '../../../bus/sink-contract.ts';
import type { BusPublisher } from '../../../bus/subscriber.ts';
import { topics } from '../../../bus/topics.ts';
import { ingestConfigSchema } from '../../../ingest/config.ts';
import type { IngestEvents } from '../../../ingest/events.ts';
import { IngestSink, type IngestMessage } from '../../../ingest/sink.ts';
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
