import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';

describe('test harness: a real influxd per suite', () => {
  let influx: RunningInflux;
  beforeAll(async () => {
    influx = await startInfluxd();
  });
  afterAll(async () => {
    await influx?.stop();
  });

  it('answers writes and InfluxQL queries on its loopback port', async () => {
    expect(influx.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await influx.exec('CREATE DATABASE harness');
    const res = await fetch(`${influx.url}/write?db=harness&precision=ms`, { method: 'POST', body: 'water,plant=p1,meter=m1 cod=42.5 1700000000000' });
    expect(res.status).toBe(204);
    const rows = await influx.query<{ time: number; cod: number; plant: string }>('SELECT cod FROM water GROUP BY plant', 'harness');
    expect(rows).toEqual([{ plant: 'p1', time: 1700000000000, cod: 42.5 }]);
  });

  it('keeps its data through a kill and restart on the same port', async () => {
    await influx.kill();
    await expect(fetch(`${influx.url}/ping`)).rejects.toThrow();
    await influx.restart();
    const rows = await influx.query('SELECT count(cod) FROM water', 'harness');
    expect(rows[0]?.count).toBe(1);
  });
});
