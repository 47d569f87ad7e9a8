/**
 * Baselines and reductions against a real InfluxDB 1.x: readings written the way ingest writes them, baselines
 * learned from them and read from the data files, reductions per plant, region and nation written back to
 * `baselines` and `reductions` for the API to read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { InfluxClient } from '../../../rules/influx.ts';
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
    client = new InfluxClient({ url: influx.url, database: DB, createDatabase: false });
    // June 2024 (CST), 48 hours from June 1st: paper-01 discharges 100 m3/h at COD 80 mg/L and NH3-N 5 mg/L (its
    // baselines: 120 and 10); dyeing-01 200 m3/h at COD 100 (baseline 160), NH3-N 12 (baseline 12); steel-01 writes nothing.
    const start = monthStart('2024-06');
    const lines: string[] = [];
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
    }
    await client.write(lines);
  });
  afterAll(async () => {
    await influx?.stop();
  });

  it('writes static and learned baselines, and reductions per plant, region and nation against the plan targets', async () => {
    const now = monthStart('2024-06') + 10 * 86_400_000;
    const result = await runHistoryJobs(client, demoRegistry(), loadBaselines(), { learn: { quantities: ['cod'], days: 30, percentile: 50 }, reductions: true }, now);
    expect(result.reductionRows).toBeGreaterThan(0);

    const learned = await influx.query<{ plant: string; value: number }>(`SELECT last("value") AS "value" FROM baselines WHERE "level" = 'learned' AND "indicator" = 'cod' GROUP BY "plant"`, DB);
    // the median of 70s and 90s, nearest-rank: 70; dyeing-01: 100
    expect(Object.fromEntries(learned.map((r) => [r.plant, r.value]))).toEqual({ 'paper-01': 70, 'dyeing-01': 100 });
    const own = await influx.query<{ plant: string; indicator: string; value: number }>(`SELECT last("value") AS "value" FROM baselines WHERE "level" = 'plant' GROUP BY "plant", "indicator"`, DB);
    expect(own).toContainEqual(expect.objectContaining({ plant: 'paper-01', indicator: 'cod', value: 120 }));

    const plants = await influx.query<{ plant: string; pollutant: string; discharged_t: number; baseline_t: number; reduced_t: number; covered_hours: number }>(`SELECT * FROM reductions WHERE "scope" = 'plant' AND "month" = '2024-06'`, DB);
    const row = (plant: string, pollutant: string) => plants.find((r) => r.plant === plant && r.pollutant === pollutant)!;
    // paper-01 COD: 48 h × 100 m3/h × 80 mg/L = 384 kg; baseline 48 × 100 × 120 = 576 kg; reduced 192 kg
    expect(row('paper-01', 'cod')).toMatchObject({ covered_hours: 48 });
    expect(row('paper-01', 'cod').discharged_t).toBeCloseTo(0.384, 9);
    expect(row('paper-01', 'cod').baseline_t).toBeCloseTo(0.576, 9);
    expect(row('paper-01', 'cod').reduced_t).toBeCloseTo(0.192, 9);
    // dyeing-01 NH3-N at its baseline: nothing reduced
    expect(row('dyeing-01', 'nh3n').reduced_t).toBeCloseTo(0, 9);
    // steel-01 wrote nothing: no hours covered
    expect(row('steel-01', 'cod')).toMatchObject({ covered_hours: 0, discharged_t: 0 });

    const national = await influx.query<{ pollutant: string; reduced_t: number; target_t: number; year_to_date_t: number; progress: number }>(`SELECT * FROM reductions WHERE "scope" = 'national' AND "month" = '2024-06'`, DB);
    const cod = national.find((r) => r.pollutant === 'cod')!;
    // 0.192 t (paper-01) + 48 × 200 × (160 − 100) / 1e6 = 0.576 t (dyeing-01)
    expect(cod.reduced_t).toBeCloseTo(0.768, 9);
    expect(cod.target_t).toBe(80_000);
    expect(cod.year_to_date_t).toBeCloseTo(0.768, 9);
    expect(cod.progress).toBeCloseTo(0.768 / 80_000, 12);
    expect(national.find((r) => r.pollutant === 'nh3n')).toMatchObject({ target_t: 7_000 });

    const regions = await influx.query<{ region: string; reduced_t: number }>(`SELECT * FROM reductions WHERE "scope" = 'region' AND "month" = '2024-06' AND "pollutant" = 'cod'`, DB);
    expect(Object.fromEntries(regions.map((r) => [r.region, Number(r.reduced_t.toFixed(6))]))).toEqual({ hebei: 0.192, zhejiang: 0.576, liaoning: 0 });
  });
});
