/**
 * `cleanstream up --influx-url URL --influx-db NAME`, as the README's "Pointing cleanstream at an existing InfluxDB"
 * says: up starts no influxd of its own, says it uses the external one, and the pipeline writes the plants' series
 * into the database named there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startInfluxd, type RunningInflux } from '../harness/influxd.ts';
import { freePort } from '../harness/ports.ts';

const DB = 'plant_history';

describe('cleanstream up --influx-url', () => {
  let influx: RunningInflux;
  let dataDir: string;

  beforeAll(async () => {
    influx = await startInfluxd();
    dataDir = mkdtempSync(path.join(tmpdir(), 'cleanstream-up-external-'));
  }, 60_000);
  afterAll(async () => {
    await influx?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('writes to the InfluxDB it is given and starts none of its own', async () => {
    const [mqtt, opcua, modbus, http] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const child = spawn(
      process.execPath,
      ['bin/cleanstream.js', 'up', '--duration', '10', '--interval', '500', '--data-dir', dataDir, '--influx-url', influx.url, '--influx-db', DB,
        '--mqtt-port', String(mqtt), '--opcua-port', String(opcua), '--modbus-port', String(modbus), '--http-port', String(http)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code, out).toBe(0);

    expect(out).toContain(`InfluxDB        ${influx.url}  (external, database ${DB})`);
    expect(out).toContain(`-> ${influx.url}/write?db=${DB}`);
    expect(out).toMatch(/ingest wrote [1-9]\d* readings, rejected 0 messages/);
    // no influxd of its own: nothing under the data folder's influxdb/, which a local one would have filled
    expect(existsSync(path.join(dataDir, 'influxdb')), readdirSync(dataDir).join(', ')).toBe(false);

    for (const measurement of ['water', 'energy', 'emissions', 'production']) {
      const rows = await influx.query<{ plant: string }>(`SELECT count(*) FROM "${measurement}" GROUP BY "plant"`, DB);
      expect(rows.map((r) => r.plant).sort(), measurement).toEqual(['dyeing-01', 'paper-01', 'steel-01']);
    }
    // and nothing went to the default database
    const databases = await influx.query<{ name: string }>('SHOW DATABASES');
    expect(databases).toContainEqual({ name: DB });
    expect(databases).not.toContainEqual({ name: 'cleanstream' });
  }, 120_000);
});
