/**
 * Derived series and rollups against a real InfluxDB 1.x: pollutant loads per outfall computed by ingest from the
 * fed flow and concentration readings, and the retention policies + continuous queries created at start.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAsync, type MqttClient } from 'mqtt';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { encodeBatch, type BatchReading } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { startIngest, type Ingest } from '../../../ingest/service.ts';
import { rollupSelect, type RollupPlan } from '../../../ingest/rollups.ts';
import { until } from './fault-kit.ts';
import { demoPlants } from '../../harness/plants.ts';

let influx: RunningInflux;
let broker: RunningBroker;
let publisher: MqttClient;
const ingests: Ingest[] = [];

beforeAll(async () => {
  [influx, broker] = await Promise.all([startInfluxd(), startBroker()]);
  publisher = await connectAsync(broker.url, { clientId: 'derived-gateway', protocolVersion: 4, reconnectPeriod: 0 });
});
afterAll(async () => {
  await Promise.all(ingests.map((i) => i.stop()));
  await publisher?.endAsync(true);
  await broker?.stop();
  await influx?.stop();
});

const HOUR = 3_600_000;
// Two hours ago, on the hour: inside the rollup retention, both minutes in one hour.
const BASE = Math.floor((Date.now() - 2 * HOUR) / HOUR) * HOUR;
const DB = 'derived';
const plan: RollupPlan = { database: DB, rawRetentionPolicy: 'autogen', minute: { retentionPolicy: 'rollup_1m', duration: '30d' }, hour: { retentionPolicy: 'rollup_1h', duration: '52w' } };

function config(minuteDuration: string) {
  return {
    mqtt: { url: broker.url, protocolVersion: 4 as const },
    clientId: 'derived-ingest',
    influx: { url: influx.url, database: DB, createDatabase: true },
    batch: { maxLines: 5000, maxDelayMs: 20 },
    loads: { intervalMs: 60_000, graceMs: 0, idleCloseMs: 600_000, maxGapMs: 10_000 },
    rollups: { minute: { retentionPolicy: 'rollup_1m', duration: minuteDuration }, hour: { retentionPolicy: 'rollup_1h', duration: '52w' } },
  };
}

async function publish(gateway: string, seq: number, readings: BatchReading[]): Promise<void> {
  await publisher.publishAsync(topics.readings('paper-01', gateway), encodeBatch({ v: 1, plant: 'paper-01', gateway, seq, sentAt: BASE, readings }), { qos: 1 });
}

describe('derived series: loads per outfall, rollups', () => {
  it('writes loads (kg per minute) matching flow × concentration from the fed readings, and creates the rollup RPs and CQs', async () => {
    const registry = demoPlants();
    const ingest = await startIngest(config('30d'), { registry, connectTimeoutMs: 5000 });
    ingests.push(ingest);

    // Every 10 s for two minutes: flow (10 + k) L/s = 3.6 (10 + k) m3/h, COD 100 + 10k mg/L, NH3-N 5 mg/L, from two
    // gateways (flow and analysers); plus a `bad` COD reading that must not count.
    for (let k = 0; k < 12; k++) {
      const ts = BASE + k * 10_000;
      await publish('gw-flow', k, [{ meter: 'outfall-1-flow', quantity: 'wastewater_flow', value: 10 + k, unit: 'L/s', ts, quality: 'good' }]);
      const analysers: BatchReading[] = [
        { meter: 'outfall-1-cod', quantity: 'cod', value: 100 + 10 * k, unit: 'mg/L', ts, quality: 'good' },
        { meter: 'outfall-1-nh3n', quantity: 'nh3n', value: 5, unit: 'mg/L', ts, quality: 'good' },
      ];
      if (k === 3) analysers.push({ meter: 'outfall-1-cod', quantity: 'cod', value: 9999, unit: 'mg/L', ts: ts + 1000, quality: 'bad' });
      await publish('gw-analysers', k, analysers);
    }
    // The samples at 2:00 end the last steps of minute 1; a reading maxGapMs (10 s) past its end computes it.
    await publish('gw-flow', 12, [{ meter: 'outfall-1-flow', quantity: 'wastewater_flow', value: 0, unit: 'L/s', ts: BASE + 120_000, quality: 'good' }]);
    await publish('gw-analysers', 12, [
      { meter: 'outfall-1-cod', quantity: 'cod', value: 0, unit: 'mg/L', ts: BASE + 120_000, quality: 'good' },
      { meter: 'outfall-1-nh3n', quantity: 'nh3n', value: 0, unit: 'mg/L', ts: BASE + 120_000, quality: 'good' },
    ]);
    await publish('gw-flow', 13, [{ meter: 'outfall-1-flow', quantity: 'wastewater_flow', value: 0, unit: 'L/s', ts: BASE + 130_000, quality: 'good' }]);
    await until('all readings received', () => ingest.stats().receivedMessages === 27, 10_000);
    await ingest.flush();
    expect(ingest.stats().loadLines).toBe(2);

    // Hand-computed. Minute 0: volumes 0.10 … 0.15 m3 (10 s each) = 0.75 m3;
    // COD 0.1×100 + 0.11×110 + 0.12×120 + 0.13×130 + 0.14×140 + 0.15×150 = 95.5 g; NH3-N 0.75 × 5 = 3.75 g.
    // Minute 1: 0.16 … 0.21 m3 = 1.11 m3; COD 25.6 + 28.9 + 32.4 + 36.1 + 40 + 44.1 = 207.1 g; NH3-N 5.55 g.
    const loads = await influx.query<{ time: number; outfall: string; plant: string; volume_m3: number; flow_s: number; cod_kg: number; cod_s: number; cod_m3: number; nh3n_kg: number }>('SELECT * FROM loads', DB);
    expect(loads.map((l) => [l.time, l.plant, l.outfall])).toEqual([
      [BASE, 'paper-01', 'outfall-1'],
      [BASE + 60_000, 'paper-01', 'outfall-1'],
    ]);
    const expected = [
      { volume: 0.75, cod: 0.0955, nh3n: 0.00375 },
      { volume: 1.11, cod: 0.2071, nh3n: 0.00555 },
    ];
    loads.forEach((l, i) => {
      expect(l.volume_m3).toBeCloseTo(expected[i]!.volume, 9);
      expect(l.cod_kg).toBeCloseTo(expected[i]!.cod, 9);
      expect(l.nh3n_kg).toBeCloseTo(expected[i]!.nh3n, 9);
      // every second of both minutes covered by a flow and a COD step
      expect([l.flow_s, l.cod_s]).toEqual([60, 60]);
      expect(l.cod_m3).toBeCloseTo(expected[i]!.volume, 9);
    });

    // Retention policies and continuous queries exist.
    const rps = await influx.query<{ name: string; duration: string }>(`SHOW RETENTION POLICIES ON ${DB}`);
    expect(rps).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'rollup_1m', duration: '720h0m0s' }), expect.objectContaining({ name: 'rollup_1h', duration: '8736h0m0s' })]));
    const cqs = (await influx.query<{ name: string; query: string }>('SHOW CONTINUOUS QUERIES')).filter((c) => c.query.includes(`ON ${DB}`));
    expect(cqs.map((c) => c.name).sort()).toEqual(
      ['1m', '1h'].flatMap((g) => ['emissions', 'energy', 'loads', 'production', 'water'].map((m) => `cleanstream_${g}_${m}`)).sort(),
    );

    // What the CQs compute, run by hand over the fed hour (a CQ only runs at the end of a live interval).
    const during = `time >= ${BASE}ms AND time < ${BASE + HOUR}ms`;
    for (const m of ['water', 'loads'] as const) await influx.exec(rollupSelect(plan, 'minute', m, during), DB);
    await influx.exec(rollupSelect(plan, 'hour', 'loads', during), DB);
    const minuteCod = await influx.query<{ time: number; cod: number }>(`SELECT cod FROM rollup_1m.water WHERE meter = 'outfall-1-cod'`, DB);
    // Rollups average every value written, whatever its quality: minute 0 includes the `bad` 9999 (loads do not).
    expect(minuteCod).toEqual([
      { time: BASE, cod: (100 + 110 + 120 + 130 + 9999 + 140 + 150) / 7 },
      { time: BASE + 60_000, cod: 185 },
      { time: BASE + 120_000, cod: 0 },
    ]);
    const hourLoads = await influx.query<{ time: number; cod_kg: number; volume_m3: number; cod_s: number }>('SELECT cod_kg, volume_m3, cod_s FROM rollup_1h.loads', DB);
    expect(hourLoads).toHaveLength(1);
    expect(hourLoads[0]!.time).toBe(BASE);
    expect(hourLoads[0]!.cod_kg).toBeCloseTo(0.0955 + 0.2071, 9);
    expect(hourLoads[0]!.volume_m3).toBeCloseTo(1.86, 9);
    expect(hourLoads[0]!.cod_s).toBe(120);

    await ingest.stop();
    // A later start with another duration changes the policy in place (creation is idempotent).
    const again = await startIngest(config('60d'), { registry, connectTimeoutMs: 5000 });
    ingests.push(again);
    const after = await influx.query<{ name: string; duration: string }>(`SHOW RETENTION POLICIES ON ${DB}`);
    expect(after.find((rp) => rp.name === 'rollup_1m')?.duration).toBe('1440h0m0s');
    await again.stop();
  });
});
