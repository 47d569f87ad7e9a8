/**
 * Ingest end to end over loopback: a real InfluxDB 1.x (Debian's influxd), the embedded aedes broker, startIngest.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAsync, type MqttClient } from 'mqtt';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { type PlantRegistry } from '../../../core/plants.ts';
import { encodeBatch, type BatchReading, type ReadingBatch } from '../../../core/reading.ts';
import { topics, type DeadLetter } from '../../../bus/topics.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { startIngest, type Ingest } from '../../../ingest/service.ts';
import type { IngestConfigInput } from '../../../ingest/config.ts';
import { until } from '../../harness/wait.ts';
import { demoPlants } from '../../harness/plants.ts';

const T0 = 1_700_000_000_000;

let influx: RunningInflux;
let broker: RunningBroker;
let registry: PlantRegistry;
const clients: MqttClient[] = [];
const ingests: Ingest[] = [];

beforeAll(async () => {
  [influx, broker] = await Promise.all([startInfluxd(), startBroker()]);
  registry = demoPlants();
});

const spoolDirs: string[] = [];
function spoolDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-ingest-spool-'));
  spoolDirs.push(dir);
  return dir;
}

afterAll(async () => {
  await Promise.all(ingests.map((i) => i.stop()));
  for (const dir of spoolDirs) rmSync(dir, { recursive: true, force: true });
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await broker?.stop();
  await influx?.stop();
});

function config(database: string, clientId: string, extra: Partial<IngestConfigInput> = {}): IngestConfigInput {
  return {
    mqtt: { url: broker.url, protocolVersion: 4 },
    clientId,
    influx: { url: influx.url, database },
    batch: { maxLines: 5000, maxDelayMs: 50 },
    // readings are stamped from T0 (2023): history
    timestamps: { backfill: true },
    ...extra,
  };
}

async function ingestWith(cfg: IngestConfigInput, stopTimeoutMs?: number): Promise<Ingest> {
  const ingest = await startIngest(cfg, { registry, connectTimeoutMs: 5000, ...(stopTimeoutMs === undefined ? {} : { stopTimeoutMs }) });
  ingests.push(ingest);
  return ingest;
}

async function client(clientId: string): Promise<MqttClient> {
  const c = await connectAsync(broker.url, { clientId, protocolVersion: 4, reconnectPeriod: 0 });
  clients.push(c);
  return c;
}

function batch(plant: string, gateway: string, seq: number, readings: BatchReading[]): ReadingBatch {
  return { v: 1, plant, gateway, seq, sentAt: T0 + 5000, readings };
}

/** Rows without the null columns of fields a point does not have, sorted by time, plant, meter. */
async function points(measurement: string, db: string): Promise<Record<string, unknown>[]> {
  const rows = await influx.query(`SELECT * FROM "${measurement}"`, db);
  return rows
    .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== null)))
    .sort((a, b) => Number(a.time) - Number(b.time) || String(a.plant).localeCompare(String(b.plant)) || String(a.meter).localeCompare(String(b.meter)));
}

describe('ingest: MQTT readings to InfluxDB', () => {
  it('writes valid batches as exact points and dead-letters each malformed message, with its reason', async () => {
    const ingest = await ingestWith(config('spec_points', 'ingest-spec-points'));
    const observer = await client('observer-points');
    const letters: DeadLetter[] = [];
    observer.on('message', (topic, payload) => {
      if (topic === topics.deadLetter('ingest')) letters.push(JSON.parse(payload.toString()) as DeadLetter);
    });
    await observer.subscribeAsync(topics.deadLetter('ingest'), { qos: 1 });
    const publisher = await client('gateway-points');

    const paper = batch('paper-01', 'gw-a', 1, [
      { meter: 'outfall-1-cod', quantity: 'cod', value: 85.5, unit: 'mg/L', ts: T0, quality: 'good' },
      { meter: 'outfall-1-flow', quantity: 'wastewater_flow', value: 10, unit: 'L/s', ts: T0, quality: 'good' },
      { meter: 'outfall-1-flow', quantity: 'wastewater_volume', value: 123456.75, unit: 'm3', ts: T0, quality: 'good' },
      { meter: 'outfall-1-ph', quantity: 'ph', value: null, unit: 'pH', ts: T0, quality: 'bad' },
      { meter: 'main-power', quantity: 'active_power', value: 1.25, unit: 'MW', ts: T0 + 1, quality: 'uncertain' },
      { meter: 'stack-1-cems', quantity: 'so2', value: 35, unit: 'mg/m3', ts: T0 + 2, quality: 'good' },
    ]);
    const dyeing = batch('dyeing-01', 'gw-b', 9, [
      { meter: 'outfall-1-cod', quantity: 'cod', value: 120, unit: 'mg/L', ts: T0 + 1000, quality: 'good' },
      { meter: 'outfall-1-cod', quantity: 'cod', value: 121, unit: 'mg/L', ts: T0 + 2000, quality: 'good' },
    ]);
    const good = (b: ReadingBatch): [string, Buffer] => [topics.readings(b.plant, b.gateway), encodeBatch(b)];
    const reading = dyeing.readings[0]!;
    const malformed: [reason: string, topic: string, payload: Buffer][] = [
      ['not_json', topics.readings('paper-01', 'gw-a'), Buffer.from('{"v":1,"plant":')],
      ['bad_unit', ...good(batch('paper-01', 'gw-a', 2, [{ ...reading, unit: 'L/s' }]))],
      ['unknown_quantity', ...good(batch('paper-01', 'gw-a', 3, [{ ...reading, quantity: 'vibranium' as 'cod' }]))],
      ['topic_mismatch', topics.readings('paper-01', 'gw-z'), encodeBatch(batch('paper-01', 'gw-a', 4, [reading]))],
      ['unknown_meter', ...good(batch('paper-01', 'gw-a', 5, [{ ...reading, meter: 'outfall-7-cod' }]))],
    ];

    await publisher.publishAsync(...good(paper), { qos: 1 });
    for (const [, topic, payload] of malformed) await publisher.publishAsync(topic, payload, { qos: 1 });
    await publisher.publishAsync(...good(dyeing), { qos: 1 });

    await until('all messages received', () => ingest.stats().receivedMessages === 7);
    await ingest.flush();
    await until('dead letters delivered', () => letters.length === malformed.length);

    expect(await points('water', 'spec_points')).toEqual([
      { time: T0, plant: 'paper-01', meter: 'outfall-1-cod', cod: 85.5, cod_quality: 'good' },
      { time: T0, plant: 'paper-01', meter: 'outfall-1-flow', wastewater_flow: 36, wastewater_flow_quality: 'good', wastewater_volume: 123456.75, wastewater_volume_quality: 'good' },
      { time: T0, plant: 'paper-01', meter: 'outfall-1-ph', ph_quality: 'bad' },
      { time: T0 + 1000, plant: 'dyeing-01', meter: 'outfall-1-cod', cod: 120, cod_quality: 'good' },
      { time: T0 + 2000, plant: 'dyeing-01', meter: 'outfall-1-cod', cod: 121, cod_quality: 'good' },
    ]);
    expect(await points('energy', 'spec_points')).toEqual([
      { time: T0 + 1, plant: 'paper-01', meter: 'main-power', active_power: 1250, active_power_quality: 'uncertain' },
    ]);
    expect(await points('emissions', 'spec_points')).toEqual([{ time: T0 + 2, plant: 'paper-01', meter: 'stack-1-cems', so2: 35, so2_quality: 'good' }]);

    expect(letters.map((l) => l.reason)).toEqual(malformed.map(([reason]) => reason));
    letters.forEach((letter, i) => {
      const [, topic, payload] = malformed[i]!;
      expect(letter).toMatchObject({ stage: 'ingest', topic, payload: payload.toString('utf8'), payloadEncoding: 'utf8' });
      expect(letter.detail.length).toBeGreaterThan(0);
    });

    const stats = ingest.stats();
    expect(stats.rejected).toEqual({ not_json: 1, bad_unit: 1, unknown_quantity: 1, topic_mismatch: 1, unknown_meter: 1 });
    expect(stats).toMatchObject({ receivedMessages: 7, receivedReadings: 8, writtenReadings: 8, writtenLines: 8, writeErrors: 0, pendingLines: 0, unackedMessages: 0 });
    expect(stats.lastWriteLatencyMs).toBeGreaterThan(0);
  });

  it('dead-letters a batch InfluxDB refuses (field type conflict) with reason write_rejected, and keeps going', async () => {
    const db = 'spec_conflict';
    await influx.exec(`CREATE DATABASE ${db}`);
    const seed = await fetch(`${influx.url}/write?db=${db}&precision=ms`, { method: 'POST', body: `water,meter=outfall-1-cod,plant=paper-01 cod="not a number" ${T0}` });
    expect(seed.status).toBe(204);

    const ingest = await ingestWith(config(db, 'ingest-spec-conflict'));
    const publisher = await client('gateway-conflict');
    const refused = batch('paper-01', 'gw-a', 1, [{ meter: 'outfall-1-cod', quantity: 'cod', value: 80, unit: 'mg/L', ts: T0 + 10, quality: 'good' }]);
    await publisher.publishAsync(topics.readings('paper-01', 'gw-a'), encodeBatch(refused), { qos: 1 });
    await until('refused message received', () => ingest.stats().receivedMessages === 1);
    await ingest.flush();
    const accepted = batch('paper-01', 'gw-a', 2, [{ meter: 'outfall-1-ph', quantity: 'ph', value: 7.1, unit: 'pH', ts: T0 + 20, quality: 'good' }]);
    await publisher.publishAsync(topics.readings('paper-01', 'gw-a'), encodeBatch(accepted), { qos: 1 });
    await until('second message received', () => ingest.stats().receivedMessages === 2);
    await ingest.flush();

    expect(ingest.stats().rejected).toEqual({ write_rejected: 1 });
    expect(ingest.stats().writeErrors).toBe(1);
    const ph = await influx.query<{ time: number; ph: number }>(`SELECT ph FROM water WHERE meter = 'outfall-1-ph'`, db);
    expect(ph).toEqual([{ time: T0 + 20, ph: 7.1 }]);
    // Every ingest of this file reads every readings topic: this one would dead-letter later tests' cod readings too.
    await ingest.stop();
  });

  it('acknowledges a message only once written: what was pending while InfluxDB was down is delivered again to the next ingest', async () => {
    const db = 'spec_redelivery';
    const cfg = config(db, 'ingest-spec-redelivery', { retry: { maxAttempts: 2, initialDelayMs: 10, pauseMs: 100, requestTimeoutMs: 1000 } });
    const first = await ingestWith(cfg, 300);
    const errors: Error[] = [];
    first.on('writeError', (err) => errors.push(err));
    await influx.kill();
    try {
      const publisher = await client('gateway-redelivery');
      const pending = batch('steel-01', 'gw-s', 1, [{ meter: 'main-power', quantity: 'active_energy', value: 987654.5, unit: 'kWh', ts: T0 + 77, quality: 'good' }]);
      await publisher.publishAsync(topics.readings('steel-01', 'gw-s'), encodeBatch(pending), { qos: 1 });
      await until('a failed write', () => errors.length > 0);
      expect(first.stats()).toMatchObject({ receivedMessages: 1, writtenReadings: 0, unackedMessages: 1, pendingLines: 1 });
      await first.stop(); // gives up on the write after 300 ms: the message stays unacknowledged with the broker
    } finally {
      await influx.restart();
    }

    const second = await ingestWith(cfg);
    await until('the redelivered message', () => second.stats().receivedMessages === 1);
    await second.flush();
    expect(await influx.query(`SELECT * FROM energy`, db)).toEqual([{ time: T0 + 77, meter: 'main-power', plant: 'steel-01', active_energy: 987654.5, active_energy_quality: 'good' }]);
    expect(second.stats()).toMatchObject({ writtenReadings: 1, unackedMessages: 0 });
  });

  it('stops reading from the broker while too much is unwritten, and catches up once InfluxDB is back', async () => {
    const db = 'spec_backpressure';
    const ingest = await ingestWith(
      config(db, 'ingest-spec-backpressure', {
        batch: { maxLines: 5000, maxDelayMs: 20, highWaterLines: 2 },
        retry: { maxAttempts: 1, initialDelayMs: 10, pauseMs: 50, requestTimeoutMs: 1000 },
      }),
    );
    const publisher = await client('gateway-backpressure');
    await influx.kill();
    try {
      for (let i = 0; i < 6; i++) {
        const b = batch('paper-01', 'gw-a', i, [{ meter: 'outfall-1-ph', quantity: 'ph', value: 7 + i / 10, unit: 'pH', ts: T0 + i * 1000, quality: 'good' }]);
        await publisher.publishAsync(topics.readings('paper-01', 'gw-a'), encodeBatch(b), { qos: 1 });
      }
      await until('ingest to pause', () => ingest.stats().paused);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(ingest.stats()).toMatchObject({ paused: true, receivedMessages: 2, pendingLines: 2, writtenReadings: 0 });
      expect(ingest.stats().writeErrors).toBeGreaterThan(0);
    } finally {
      await influx.restart();
    }
    await until('all six messages', () => ingest.stats().receivedMessages === 6);
    await ingest.flush();
    const rows = await influx.query<{ time: number; ph: number }>('SELECT ph FROM water', db);
    expect(rows).toEqual(Array.from({ length: 6 }, (_, i) => ({ time: T0 + i * 1000, ph: 7 + i / 10 })));
    expect(ingest.stats()).toMatchObject({ paused: false, writtenReadings: 6, unackedMessages: 0 });
  });

  it('writes the good lines of a batch InfluxDB partly refuses and dead-letters only the refused lines, with the server\'s reason', async () => {
    const db = 'spec_partial';
    await influx.exec(`CREATE DATABASE ${db}`);
    const seed = await fetch(`${influx.url}/write?db=${db}&precision=ms`, { method: 'POST', body: `water,meter=outfall-1-cod,plant=paper-01 cod="text" ${T0}` });
    expect(seed.status).toBe(204);
    const ingest = await ingestWith(config(db, 'ingest-spec-partial', { batch: { maxLines: 5000, maxDelayMs: 300 } }));
    const observer = await client('observer-partial');
    const letters: DeadLetter[] = [];
    observer.on('message', (_topic, payload) => letters.push(JSON.parse(payload.toString()) as DeadLetter));
    await observer.subscribeAsync(topics.deadLetter('ingest'), { qos: 1 });
    const publisher = await client('gateway-partial');
    const ph = (i: number): BatchReading => ({ meter: 'outfall-1-ph', quantity: 'ph', value: 7 + i / 100, unit: 'pH', ts: T0 + i, quality: 'good' });
    const cod = (i: number): BatchReading => ({ meter: 'outfall-1-cod', quantity: 'cod', value: 80 + i, unit: 'mg/L', ts: T0 + i, quality: 'good' });
    // Three messages land in one write batch; the middle one carries two readings of a field InfluxDB holds as a string.
    const messages = [
      batch('paper-01', 'gw-a', 1, [ph(1), ph(2)]),
      batch('paper-01', 'gw-b', 2, [ph(3), cod(3), ph(4), cod(4)]),
      batch('paper-01', 'gw-a', 3, [ph(5)]),
    ];
    for (const m of messages) await publisher.publishAsync(topics.readings(m.plant, m.gateway), encodeBatch(m), { qos: 1 });
    await until('three messages', () => ingest.stats().receivedMessages === 3);
    await ingest.flush();
    await until('the dead letter', () => letters.length === 1);

    const rows = await influx.query<{ time: number; ph: number }>(`SELECT ph FROM water WHERE meter = 'outfall-1-ph'`, db);
    expect(rows).toEqual([1, 2, 3, 4, 5].map((i) => ({ time: T0 + i, ph: 7 + i / 100 })));
    const letter = letters[0]!;
    expect(letter).toMatchObject({ stage: 'ingest', reason: 'write_rejected', topic: topics.readings('paper-01', 'gw-b'), payloadEncoding: 'utf8' });
    expect(letter.payload.split('\n')).toEqual([`water,meter=outfall-1-cod,plant=paper-01 cod=83,cod_quality="good" ${T0 + 3}`, `water,meter=outfall-1-cod,plant=paper-01 cod=84,cod_quality="good" ${T0 + 4}`]);
    expect(letter.detail).toMatch(/field type conflict: input field "cod" on measurement "water"/);
    expect(ingest.stats()).toMatchObject({ refusedLines: 2, rejected: { write_rejected: 1 }, writtenReadings: 7, unackedMessages: 0 });
  });

  it('spools batches while InfluxDB is down, acknowledges them, and replays them in order when it is back while new data keeps flowing', async () => {
    const db = 'spec_spool';
    const dir = spoolDir();
    const ingest = await ingestWith(
      config(db, 'ingest-spec-spool', {
        batch: { maxLines: 5000, maxDelayMs: 20 },
        retry: { maxAttempts: 2, initialDelayMs: 10, pauseMs: 100, requestTimeoutMs: 1000 },
        spool: { dir, maxBytes: 10_000_000, segmentBytes: 4096 },
        http: { port: 0 },
      }),
    );
    const publisher = await client('gateway-spool');
    const send = async (i: number): Promise<void> => {
      const b = batch('steel-01', 'gw-s', i, [{ meter: 'main-power', quantity: 'active_power', value: i, unit: 'kW', ts: T0 + i * 1000, quality: 'good' }]);
      await publisher.publishAsync(topics.readings('steel-01', 'gw-s'), encodeBatch(b), { qos: 1 });
    };
    await send(0);
    await until('the first reading written', () => ingest.stats().writtenReadings === 1);
    await influx.kill();
    try {
      for (let i = 1; i <= 20; i++) await send(i);
      await until('twenty readings spooled', () => ingest.stats().spooledReadings === 20);
      // Durable on disk, so acknowledged: the broker holds nothing for ingest.
      expect(ingest.stats()).toMatchObject({ unackedMessages: 0, pendingLines: 0, paused: false });
      expect(ingest.stats().spool?.batches).toBeGreaterThan(0);
      const metrics = await (await fetch(`${ingest.httpUrl}/metrics`)).text();
      expect(metrics).toMatch(/^cleanstream_ingest_spooled_readings_total 20$/m);
      expect(metrics).toMatch(/^cleanstream_ingest_spool_batches [1-9]\d*$/m);
      // Operators (and the bench) read memory by kind to tell ingest's own buffers from garbage awaiting V8.
      for (const kind of ['rss', 'heap_used', 'heap_total', 'external', 'array_buffers']) {
        expect(metrics).toMatch(new RegExp(`^cleanstream_ingest_memory_bytes\\{kind="${kind}"\\} [1-9]\\d*$`, 'm'));
      }
    } finally {
      await influx.restart();
    }
    for (let i = 21; i <= 30; i++) await send(i);
    await until('the spool drained', () => ingest.stats().spool?.batches === 0 && ingest.stats().receivedReadings === 31);
    await ingest.flush();
    // The replayer counts a batch once the spool has acknowledged its removal: wait for both.
    await until('the last spool batch', () => ingest.stats().spool?.batches === 0 && ingest.stats().replayedReadings === ingest.stats().spooledReadings);
    const rows = await influx.query<{ time: number; active_power: number }>('SELECT active_power FROM energy', db);
    expect(rows).toEqual(Array.from({ length: 31 }, (_, i) => ({ time: T0 + i * 1000, active_power: i })));
    const s = ingest.stats();
    expect(s.writtenReadings + s.spooledReadings).toBe(31);
    expect(s.replayedReadings).toBe(s.spooledReadings);
    expect(await (await fetch(`${ingest.httpUrl}/readyz`)).json()).toEqual({ status: 'ready' });
    expect((await fetch(`${ingest.httpUrl}/healthz`)).status).toBe(200);
  });

  it('stops acknowledging and reading when the spool is full, drops nothing, and resumes once InfluxDB drains it', async () => {
    const db = 'spec_spool_full';
    const ingest = await ingestWith(
      config(db, 'ingest-spec-spool-full', {
        batch: { maxLines: 5000, maxDelayMs: 20, highWaterLines: 3 },
        retry: { maxAttempts: 1, initialDelayMs: 10, pauseMs: 50, requestTimeoutMs: 1000 },
        // Room for a few one-reading batches only.
        spool: { dir: spoolDir(), maxBytes: 700, segmentBytes: 100_000, gzipLevel: 0 },
        http: { port: 0 },
      }),
    );
    const warnings: unknown[] = [];
    ingest.on('spoolWarning', (info) => warnings.push(info));
    const publisher = await client('gateway-spool-full');
    await influx.kill();
    const total = 15;
    try {
      for (let i = 0; i < total; i++) {
        const b = batch('paper-01', 'gw-a', i, [{ meter: 'outfall-1-ph', quantity: 'ph', value: 6 + i / 10, unit: 'pH', ts: T0 + i * 1000, quality: 'good' }]);
        await publisher.publishAsync(topics.readings('paper-01', 'gw-a'), encodeBatch(b), { qos: 1 });
      }
      await until('the spool to fill and ingest to pause', () => ingest.stats().spool?.full === true && ingest.stats().paused);
      const s = ingest.stats();
      expect(s.receivedMessages).toBeLessThan(total);
      expect(s.unackedMessages).toBeGreaterThan(0);
      expect(warnings.length).toBeGreaterThan(0);
      const ready = await fetch(`${ingest.httpUrl}/readyz`);
      expect(ready.status).toBe(503);
      expect(JSON.stringify(await ready.json())).toMatch(/spool is full/);
      expect(await (await fetch(`${ingest.httpUrl}/metrics`)).text()).toMatch(/^cleanstream_ingest_spool_warning 1$/m);
    } finally {
      await influx.restart();
    }
    await until('all messages', () => ingest.stats().receivedMessages === total, 15_000);
    await ingest.flush();
    await until('the spool drained', () => ingest.stats().spool?.batches === 0, 15_000);
    const rows = await influx.query<{ time: number; ph: number }>('SELECT ph FROM water', db);
    expect(rows).toEqual(Array.from({ length: total }, (_, i) => ({ time: T0 + i * 1000, ph: 6 + i / 10 })));
  });
});
