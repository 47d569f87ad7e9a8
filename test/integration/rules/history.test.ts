/**
 * Baselines and reductions against a real InfluxDB 1.x: readings and loads written the way ingest writes them, baselines
 * learned from them and read from the data files, reductions per plant, region and nation written back to
 * `baselines` and `reductions` for the API to read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { createInfluxClient, type InfluxClient } from '../../../influxdb/client.ts';
import { loadBaselines } from '../../../rules/baselines.ts';
import { runHistoryJobs } from '../../../rules/jobs.ts';
import { monthStart } from '../../../rules/reductions.ts';
import { demoRegistry } from '../../../rules/test-support.ts';

const DB = 'history';
const HOUR = 3_600_000;

describe('baselines and reductions from InfluxDB history', () => {
  let influx: RunningInflux;
  let client: InfluxClient;

  beforeAll(async () => {
    influx = await startInfluxd();
    await influx.exec(`CREATE DATABASE ${DB}`);
    client = createInfluxClient({ url: influx.url, database: DB, createDatabase: false });
    // June 2024 (CST), 48 hours from June 1st: paper-01 discharges 100 m3/h at COD 80 mg/L and NH3-N 5 mg/L (its
    // baselines: 120 and 10); dyeing-01 200 m3/h at COD 100 (baseline 160), NH3-N 12 (baseline 12); steel-01 sends
    // nothing. The readings (for the learned baselines) every 30 min, and the per-minute loads ingest derives from
    // the flow and concentration (ingest/loads.ts).
    const start = monthStart('2024-06');
    const lines: string[] = [];
    const load = (plant: string, t: number, m3h: number, cod: number, nh3n: number) => {
      const m3 = m3h / 60;
      lines.push(`loads,outfall=outfall-1,plant=${plant} volume_m3=${m3},flow_s=60,cod_kg=${(cod * m3) / 1000},cod_m3=${m3},cod_s=60,nh3n_kg=${(nh3n * m3) / 1000},nh3n_m3=${m3},nh3n_s=60 ${t}`);
    };
    for (let h = 0; h < 48; h++) {
      for (const min of [0, 30]) {
        const t = start + h * HOUR + min * 60_000;
        lines.push(`water,meter=outfall-1-flow,plant=paper-01 wastewater_flow=100 ${t}`);
        lines.push(`water,meter=outfall-1-cod,plant=paper-01 cod=${min === 0 ? 70 : 90} ${t}`);
        lines.push(`water,meter=outfall-1-nh3n,plant=paper-01 nh3n=5 ${t}`);
        lines.push(`water,meter=outfall-1-flow,plant=dyeing-01 wastewater_flow=200 ${t}`);
        lines.push(`water,meter=outfall-1-cod,plant=dyeing-01 cod=100 ${t}`);
        lines.push(`water,meter=outfall-1-nh3n,plant=dyeing-01 nh3n=12 ${t}`);
      }
      for (let min = 0; min < 60; min++) {
        const t = start + h * HOUR + min * 60_000;
        load('paper-01', t, 100, 80, 5);
        load('dyeing-01', t, 200, 100, 12);
      }
    }
    await client.write(lines.join('\n'));
  });
  afterAll(async () => {
    await influx?.stop();
  });

  it('writes static and learned baselines, and reductions per plant, region and nation against the plan targets', async () => {
    const now = monthStart('2024-06') + 10 * 86_400_000;
    const result = await runHistoryJobs(client, demoRegistry(), loadBaselines(), { learn: { quantities: ['cod'], days: 30, percentile: 50 }, reductions: true }, now);
    expect(result).toMatchObject({ waitingForData: false });
    expect(result.reductionRows).toBeGreaterThan(0);

    const learned = await influx.query<{ plant: string; value: number }>(`SELECT last("value") AS "value" FROM baselines WHERE "level" = 'learned' AND "indicator" = 'cod' GROUP BY "plant"`, DB);
    // the median of 70s and 90s, nearest-rank: 70; dyeing-01: 100
    expect(Object.fromEntries(learned.map((r) => [r.plant, r.value]))).toEqual({ 'paper-01': 70, 'dyeing-01': 100 });
    const own = await influx.query<{ plant: string; indicator: string; value: number }>(`SELECT last("value") AS "value" FROM baselines WHERE "level" = 'plant' GROUP BY "plant", "indicator"`, DB);
    expect(own).toContainEqual(expect.objectContaining({ plant: 'paper-01', indicator: 'cod', value: 120 }));

    const plants = await influx.query<{ month: string; plant: string; pollutant: string; discharged_t: number; baseline_t: number; reduced_t: number; covered_s: number; coverage: number; partial: boolean }>(
      `SELECT * FROM reductions WHERE "scope" = 'plant'`,
      DB,
    );
    const row = (plant: string, pollutant: string) => plants.find((r) => r.month === '2024-06' && r.plant === plant && r.pollutant === pollutant);
    // paper-01 COD: 48 h × 100 m3/h × 80 mg/L = 384 kg; baseline 48 × 100 × 120 = 576 kg; reduced 192 kg
    expect(row('paper-01', 'cod')).toMatchObject({ covered_s: 48 * 3600, partial: true });
    // 48 hours of the 240 of June so far
    expect(row('paper-01', 'cod')!.coverage).toBeCloseTo(0.2, 12);
    expect(row('paper-01', 'cod')!.discharged_t).toBeCloseTo(0.384, 9);
    expect(row('paper-01', 'cod')!.baseline_t).toBeCloseTo(0.576, 9);
    expect(row('paper-01', 'cod')!.reduced_t).toBeCloseTo(0.192, 9);
    // dyeing-01 NH3-N at its baseline: nothing reduced
    expect(row('dyeing-01', 'nh3n')!.reduced_t).toBeCloseTo(0, 9);
    // steel-01 sent nothing, and no plant sent anything in January to May: no rows, rather than rows saying 0 t
    expect(row('steel-01', 'cod')).toBeUndefined();
    expect(plants.filter((r) => r.month !== '2024-06')).toEqual([]);
    expect((await influx.query(`SELECT * FROM reductions WHERE "month" <> '2024-06'`, DB))).toEqual([]);

    const national = await influx.query<{ pollutant: string; reduced_t: number; target_t: number; year_to_date_t: number; progress: number; coverage: number }>(`SELECT * FROM reductions WHERE "scope" = 'national' AND "month" = '2024-06'`, DB);
    const cod = national.find((r) => r.pollutant === 'cod')!;
    // 0.192 t (paper-01) + 48 × 200 × (160 − 100) / 1e6 = 0.576 t (dyeing-01)
    expect(cod.reduced_t).toBeCloseTo(0.768, 9);
    expect(cod.target_t).toBe(80_000);
    expect(cod.year_to_date_t).toBeCloseTo(0.768, 9);
    expect(cod.progress).toBeCloseTo(0.768 / 80_000, 12);
    // two of the three plants at 20 %, steel-01 at 0
    expect(cod.coverage).toBeCloseTo(0.4 / 3, 12);
    expect(national.find((r) => r.pollutant === 'nh3n')).toMatchObject({ target_t: 7_000 });

    const regions = await influx.query<{ region: string; reduced_t: number }>(`SELECT * FROM reductions WHERE "scope" = 'region' AND "month" = '2024-06' AND "pollutant" = 'cod'`, DB);
    expect(Object.fromEntries(regions.map((r) => [r.region, Number(r.reduced_t.toFixed(6))]))).toEqual({ hebei: 0.192, zhejiang: 0.576 });
  });

  it('writes no reductions before ingest has written any loads (a fresh start), and says it is waiting for data', async () => {
    await influx.exec('CREATE DATABASE fresh');
    const fresh = createInfluxClient({ url: influx.url, database: 'fresh', createDatabase: false });
    const result = await runHistoryJobs(fresh, demoRegistry(), loadBaselines(), { reductions: true }, Date.now());
    expect(result).toMatchObject({ reductionRows: 0, waitingForData: true });
    expect(await influx.query('SELECT * FROM reductions', 'fresh')).toEqual([]);
  });
});
