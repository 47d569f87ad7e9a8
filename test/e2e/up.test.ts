/**
 * `cleanstream up`, the README's first command, as a user runs it: one process that starts InfluxDB, the broker,
 * the simulators, both gateways, ingest, rules and the dashboard, prints where they are, serves the dashboard with
 * the printed token, and stops by itself after --duration, leaving water, energy, emissions and production series and the pollutant loads of every plant.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startInfluxd } from '../harness/influxd.ts';
import { freePort } from '../harness/ports.ts';

describe('cleanstream up', () => {
  it('runs the whole pipeline on the demo plants and leaves their series in InfluxDB', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'cleanstream-up-'));
    try {
      const [mqtt, opcua, modbus, http] = [await freePort(), await freePort(), await freePort(), await freePort()];
      const child = spawn(
        process.execPath,
        ['bin/cleanstream.js', 'up', '--duration', '12', '--interval', '500', '--data-dir', dataDir,
          '--mqtt-port', String(mqtt), '--opcua-port', String(opcua), '--modbus-port', String(modbus), '--http-port', String(http)],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

      const deadline = Date.now() + 60_000;
      while (!/dashboard\s+http:\/\/\S+\?token=\S+/.test(out) && Date.now() < deadline && child.exitCode === null) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const url = /dashboard\s+(http:\/\/\S+)\/\?token=(\S+)/.exec(out);
      expect(url, out).not.toBeNull();
      const [, base, token] = url as RegExpExecArray;
      expect(base).toBe(`http://127.0.0.1:${http}`);
      expect(out).toMatch(/gateway opcua\s+gw-opcua/);
      expect(out).toMatch(/gateway modbus\s+gw-modbus/);

      const plants = (await (await fetch(`${base}/api/plants`, { headers: { authorization: `Bearer ${token}` } })).json()) as { plants: { id: string }[] };
      expect(plants.plants.map((p) => p.id).sort()).toEqual(['dyeing-01', 'paper-01', 'steel-01']);
      expect((await fetch(`${base}/api/plants`)).status).toBe(401);

      expect(await exited, out).toBe(0);
      expect(out).toMatch(/ingest wrote [1-9]\d* readings, rejected 0 messages/);
      // node-opcua's own console advice is not ours to show at the default log level
      expect(out).not.toMatch(/NODE-OPCUA|security-revert/);

      // The data stays: start influxd again on the same folder and look.
      const influx = await startInfluxd({ dataDir: path.join(dataDir, 'influxdb') });
      try {
        for (const measurement of ['water', 'energy', 'emissions', 'production']) {
          const rows = await influx.query<{ plant: string; count: number }>(`SELECT count(*) FROM "${measurement}" GROUP BY "plant"`, 'cleanstream');
          expect(rows.map((r) => r.plant).sort(), measurement).toEqual(['dyeing-01', 'paper-01', 'steel-01']);
        }
        // the per-minute pollutant loads that reductions are summed from, with the time they cover
        const loads = await influx.query<{ plant: string; cod_s: number }>('SELECT sum("cod_s") AS "cod_s" FROM "loads" GROUP BY "plant"', 'cleanstream');
        expect(loads.map((r) => r.plant).sort()).toEqual(['dyeing-01', 'paper-01', 'steel-01']);
        for (const row of loads) expect(row.cod_s).toBeGreaterThan(0);
      } finally {
        await influx.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  async function startUp(dataDir: string, ports: number[]) {
    const [mqtt, opcua, modbus, http] = ports.map(String) as [string, string, string, string];
    const child = spawn(
      process.execPath,
      ['bin/cleanstream.js', 'up', '--interval', '500', '--data-dir', dataDir, '--mqtt-port', mqtt, '--opcua-port', opcua, '--modbus-port', modbus, '--http-port', http],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const output = { text: '' };
    child.stdout.on('data', (d: Buffer) => (output.text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output.text += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, output, exited };
  }

  it('stops everything within 3 s of Ctrl-C', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'cleanstream-up-'));
    try {
      const up = await startUp(dataDir, [await freePort(), await freePort(), await freePort(), await freePort()]);
      const deadline = Date.now() + 60_000;
      while (!up.output.text.includes('Ctrl-C stops') && Date.now() < deadline && up.child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      expect(up.output.text).toContain('Ctrl-C stops');
      await new Promise((r) => setTimeout(r, 2000));
      const sent = Date.now();
      up.child.kill('SIGINT');
      expect(await up.exited, up.output.text).toBe(0);
      // 3 s is the promise (measured 0.35 s; a forgotten 10-s timer made it 10 s); the margin is for a loaded CI machine
      expect(Date.now() - sent).toBeLessThan(5_000);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  it('ends at once when a port is taken, naming the flag that picks another', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'cleanstream-up-'));
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const takenPort = (taken.address() as { port: number }).port;
    try {
      const up = await startUp(dataDir, [takenPort, await freePort(), await freePort(), await freePort()]);
      expect(await up.exited, up.output.text).toBe(1);
      expect(up.output.text).toContain(`port ${takenPort} on 127.0.0.1 is already in use`);
      expect(up.output.text).toContain('--mqtt-port');
    } finally {
      taken.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
