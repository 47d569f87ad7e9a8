/**
 * Values that cannot be true, through real ingest, aedes and InfluxDB (issue #14 items 4 and 5): a value outside its
 * quantity's physical range is never stored as good nor averaged; readings from the future or from a reset clock are
 * refused with their reason and counted; a huge message makes a bounded dead letter; /latest never picks a point
 * from the future.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAsync, type MqttClient } from 'mqtt';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { type PlantRegistry } from '../../../core/plants.ts';
import { encodeBatch, type BatchReading } from '../../../core/reading.ts';
import { topics, type DeadLetter } from '../../../bus/topics.ts';
import { createInfluxClient } from '../../../influxdb/client.ts';
import { fetchLatest } from '../../../dashboards/routes/latest.ts';
import { startIngest, type Ingest } from '../../../ingest/service.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { until } from '../../harness/wait.ts';
import { demoPlants } from '../../harness/plants.ts';

const DB = 'values';
let influx: RunningInflux;
let broker: RunningBroker;
let registry: PlantRegistry;
let ingest: Ingest;
let gateway: MqttClient;
let observer: MqttClient;
const letters: DeadLetter[] = [];
let seq = 0;

beforeAll(async () => {
  // a broker that lets the 10 MB message through, so that ingest's own bound on dead letters is what is tested
  // (the embedded broker's default cuts packets over 8 MiB: bus/broker-limits.ts)
  [influx, broker] = await Promise.all([startInfluxd(), startBroker({ limits: { maxPacketBytes: 16 * 1024 * 1024, maxConsumerPacketBytes: 16 * 1024 * 1024 } })]);
  registry = demoPlants();
  // The defaults under test: timestamps within 5 minutes ahead and 30 days behind, dead letters of at most 64 KiB.
  ingest = await startIngest({ mqtt: { url: broker.url, protocolVersion: 4 }, clientId: 'ingest-values', influx: { url: influx.url, database: DB }, batch: { maxDelayMs: 50 }, http: { port: 0 } }, { registry, connectTimeoutMs: 5000 });
  observer = await connectAsync(broker.url, { clientId: 'values-observer', protocolVersion: 4, reconnectPeriod: 0 });
  observer.on('message', (_topic, payload) => letters.push(JSON.parse(payload.toString('utf8')) as DeadLetter));
  await observer.subscribeAsync(topics.deadLetter('ingest'), { qos: 1 });
  gateway = await connectAsync(broker.url, { clientId: 'values-gateway', protocolVersion: 4, reconnectPeriod: 0 });
});

afterAll(async () => {
  await ingest?.stop();
  await Promise.all([gateway?.endAsync(true), observer?.endAsync(true)]);
  await broker?.stop();
  await influx?.stop();
});

const TOPIC = topics.readings('paper-01', 'gw-values');

async function publish(readings: BatchReading[]): Promise<void> {
  await gateway.publishAsync(TOPIC, encodeBatch({ v: 1, gateway: 'gw-values', plant: 'paper-01', seq: seq++, sentAt: Date.now(), readings }), { qos: 1 });
}

async function letterFor(reason: string): Promise<DeadLetter> {
  await until(`a dead letter ${reason}`, () => letters.some((l) => l.reason === reason), 10_000);
  return letters.find((l) => l.reason === reason)!;
}

const cod = (value: number | null, ts: number, quality: BatchReading['quality'] = 'good'): BatchReading => ({ meter: 'outfall-1-cod', quantity: 'cod', value, unit: 'mg/L', ts, quality });

describe('ingest: values that cannot be true', () => {
  it('stores COD 1e308 as bad, out of range, without a value: the bucket mean stays the mean of the real readings', async () => {
    const t = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
    await publish([cod(40, t), cod(1e308, t + 1000), cod(1e308, t + 2000), cod(50, t + 3000)]);
    await until('four cod points', async () => (await influx.query(`SELECT count("cod_quality") FROM "water"`, DB))[0]?.count === 4, 10_000);

    const rows = await influx.query(`SELECT "cod", "cod_quality", "cod_reason", "cod_rejected" FROM "water" WHERE time >= ${t}ms ORDER BY time`, DB);
    expect(rows.map(({ time: _time, ...r }) => r)).toEqual([
      { cod: 40, cod_quality: 'good', cod_reason: null, cod_rejected: null },
      { cod: null, cod_quality: 'bad', cod_reason: 'out_of_range', cod_rejected: 1e308 },
      { cod: null, cod_quality: 'bad', cod_reason: 'out_of_range', cod_rejected: 1e308 },
      { cod: 50, cod_quality: 'good', cod_reason: null, cod_rejected: null },
    ]);
    // what /series asks (dashboards/routes/series.ts): a finite mean, not +Inf
    const [bucket] = await influx.query(`SELECT mean("cod") AS "value" FROM "water" WHERE time >= ${t}ms AND time < ${t + 60_000}ms GROUP BY time(1m) fill(none)`, DB);
    expect(bucket?.value).toBe(45);
    expect(ingest.stats().flaggedReadings).toEqual({ out_of_range: 2 });
    expect(ingest.stats().rejected).toEqual({});
    const metrics = await (await fetch(`${ingest.httpUrl}/metrics`)).text();
    expect(metrics).toContain('cleanstream_ingest_flagged_readings_total{reason="out_of_range"} 2');
  });

  it('refuses a year-2200 reading and one stamped 1 ms after 1970, each with its reason, counted, nothing stored', async () => {
    await publish([cod(60, Date.UTC(2200, 0, 1))]);
    await publish([cod(61, 1)]);
    expect((await letterFor('ts_in_future')).detail).toMatch(/readings\[0\]\.ts 2200-01-01T00:00:00\.000Z is more than 300000 ms ahead/);
    expect((await letterFor('ts_too_old')).detail).toMatch(/readings\[0\]\.ts 1970-01-01T00:00:00\.001Z/);
    expect(ingest.stats().rejected).toMatchObject({ ts_in_future: 1, ts_too_old: 1 });
    await ingest.flush();
    expect(await influx.query(`SELECT "cod" FROM "water" WHERE "cod" = 60 OR "cod" = 61`, DB)).toEqual([]);
    expect(await influx.query(`SELECT "cod" FROM "water" WHERE time > now() + 1h OR time < '2000-01-01T00:00:00Z'`, DB)).toEqual([]);
  });

  it('keeps 64 KiB of a 10 MB message in its dead letter, with the full length and SHA-256', async () => {
    const payload = Buffer.alloc(10 * 1024 * 1024, 'x');
    await gateway.publishAsync(TOPIC, payload, { qos: 1 });
    const letter = await letterFor('not_json');
    expect(letter).toMatchObject({ payloadBytes: payload.length, payloadSha256: createHash('sha256').update(payload).digest('hex'), payloadTruncated: true, payloadEncoding: 'utf8' });
    expect(letter.payload.length).toBe(64 * 1024);
    expect(JSON.stringify(letter).length).toBeLessThan(64 * 1024 + 1024);
  });

  it('names a 1 MB meter id by its start and length, not by repeating it', async () => {
    const meter = 'm'.repeat(1024 * 1024);
    await publish([{ ...cod(70, Date.now()), meter }]);
    const letter = await letterFor('bad_id');
    expect(letter.detail).toContain('(1,048,576 characters)');
    expect(letter.detail.length).toBeLessThan(300);
    expect(JSON.stringify(letter).length).toBeLessThan(64 * 1024 + 1024);
  });

  it('/latest shows the newest reading that is not from the future, even when InfluxDB holds one from 2200', async () => {
    const now = Date.now();
    await publish([{ meter: 'outfall-1-ph', quantity: 'ph', value: 7.2, unit: 'pH', ts: now - 1000, quality: 'good' }]);
    await until('the pH reading stored', async () => (await influx.query(`SELECT "ph" FROM "water" WHERE "meter" = 'outfall-1-ph'`, DB)).length === 1, 10_000);
    // Written by another writer than ingest (or before ingest refused such readings).
    const wrote = await fetch(`${influx.url}/write?db=${DB}&precision=ms`, { method: 'POST', body: `water,meter=outfall-1-ph,plant=paper-01 ph=9.9,ph_quality="good" ${Date.UTC(2200, 0, 1)}` });
    expect(wrote.status).toBe(204);
    const latest = (await fetchLatest(createInfluxClient({ url: influx.url, database: DB }), [registry.plant('paper-01')!])).get('paper-01')!;
    expect(latest.find((r) => r.meter === 'outfall-1-ph' && r.quantity === 'ph')).toMatchObject({ value: 7.2, ts: now - 1000, quality: 'good' });
  });
});
