/**
 * `cleanstream up`, the README's first command, as a user runs it: one process that starts InfluxDB, the broker,
 * the simulators, both gateways, ingest, rules and the dashboard, prints where they are, serves the dashboard with
 * the printed token, and stops by itself after --duration, leaving water, energy, emissions and production series and the pollutant loads of every plant.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { startCli } from '../harness/cli.ts';
import { startInfluxd } from '../harness/influxd.ts';
import { freePort } from '../harness/ports.ts';
import { until } from '../harness/wait.ts';

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

describe('cleanstream up: scenario and reloading', () => {
  it('refuses a plant registry together with a scenario, naming --no-scenario', async () => {
    const up = startCli(['up', '--plants', 'deploy/demo/plants.yaml', '--data-dir', path.join(tmpdir(), 'cleanstream-up-never')]);
    expect(await up.exited).toBe(1);
    expect(up.log.join('\n')).toContain('--plants deploy/demo/plants.yaml: the scenario simulators/scenarios/demo-live.yaml brings its own plants; add --no-scenario');
    expect(up.log.join('\n')).not.toMatch(/NODE-OPCUA/);
  });

  it('reloads its rules and limits files when they change, like cleanstream rules, and the page\'s limits follow', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-up-reload-'));
    const rulesFile = path.join(dir, 'rules.yaml');
    const limitsFile = path.join(dir, 'permits.yaml');
    const permit = (max: number) =>
      `standard: test permit\nversion: 1\ntitle: { en: Test permit, zh: 测试许可 }\nsource: this test\nscope: override\n` +
      `entries:\n  - { quantity: cod, plants: [paper-01], max: ${max}, effectiveFrom: 2015-01-01 }\n`;
    const rules = (extra = '') =>
      'mqtt: { url: "${MQTT_URL}" }\ninflux: { url: "${INFLUX_URL}", database: "${INFLUX_DB}" }\nlimits: [permits.yaml]\nrules:\n' +
      '  - { id: cod-limit, kind: limit, severity: major, selector: { plants: [paper-01], quantity: cod }, limit: catalog }\n' + extra;
    writeFileSync(limitsFile, permit(500));
    writeFileSync(rulesFile, rules());
    const [mqttPort, opcua, modbus, http] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const up = startCli(['up', '--no-scenario', '--rules', rulesFile, '--data-dir', path.join(dir, 'var'), '--mqtt-port', String(mqttPort), '--opcua-port', String(opcua), '--modbus-port', String(modbus), '--http-port', String(http)]);
    const output = () => up.log.join('\n');
    let alerts: MqttClient | undefined;
    try {
      await until('up to be up', () => output().includes('Ctrl-C stops') || up.proc.exitCode !== null, 60_000, 100);
      expect(output()).toContain('no scenario: plain simulated plants');
      const [, base, token] = /dashboard\s+(http:\/\/\S+)\/\?token=(\S+)/.exec(output()) as RegExpExecArray;
      const limitOnPage = async () => {
        const body = (await (await fetch(`${base}/api/plants/paper-01/limits`, { headers: { authorization: `Bearer ${token}` } })).json()) as { limits: { quantity: string; max?: number }[] };
        return body.limits.find((l) => l.quantity === 'cod')?.max;
      };
      expect(await limitOnPage()).toBe(500);

      alerts = await connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { reconnectPeriod: 0 });
      const seen: { topic: string; state: string }[] = [];
      alerts.on('message', (topic, payload) => seen.push({ topic, state: (JSON.parse(payload.toString()) as { state: string }).state }));
      await alerts.subscribeAsync('cleanstream/v1/alerts/#', { qos: 1 });
      // readings are judged (paper-01's COD is about 60 mg/L, under the permit's 500): nothing to raise
      const latestCod = async () => {
        const body = (await (await fetch(`${base}/api/plants/paper-01/latest`, { headers: { authorization: `Bearer ${token}` } })).json()) as { readings: { meter: string; value: number | null }[] };
        return body.readings.find((r) => r.meter === 'outfall-1-cod')?.value ?? null;
      };
      await until('paper-01\'s COD to be stored', async () => (await latestCod()) !== null, 30_000, 200);
      await new Promise((r) => setTimeout(r, 2_000));
      expect(seen).toEqual([]);

      // the permit tightened to 20 mg/L: the running rules judge by it, and the page draws it
      writeFileSync(limitsFile, permit(20));
      await until('cod-limit raised at paper-01 under the new permit', () => seen.some((s) => s.topic === 'cleanstream/v1/alerts/paper-01/cod-limit/outfall-1-cod' && s.state === 'raised'), 20_000, 100);
      expect(output()).toMatch(/rules reloaded from .*rules\.yaml: 0 added, 0 changed, 0 removed; limits read again/);
      expect(await limitOnPage()).toBe(20);

      // an invalid edit is refused naming the file and the field; the rules in force stay
      writeFileSync(rulesFile, rules('  - { id: ph-demo, kind: limit, severity: huge, selector: { quantity: ph }, limit: { min: 7.9, max: 8 } }\n'));
      await until('the invalid edit to be reported', () => output().includes('rules not reloaded, the rules in force stay'), 20_000, 100);
      expect(output()).toContain(rulesFile);
      expect(output()).toContain('rules[1].severity');

      // a rule added to the file judges from the next reading: pH 7.9-8 holds no plant's effluent for long
      writeFileSync(rulesFile, rules('  - { id: ph-demo, kind: limit, severity: minor, selector: { quantity: ph }, limit: { min: 7.9, max: 8 } }\n'));
      await until('the added rule to raise', () => seen.some((s) => /^cleanstream\/v1\/alerts\/[^/]+\/ph-demo\//.test(s.topic) && s.state === 'raised'), 20_000, 100);
      expect(output()).toMatch(/rules reloaded from .*rules\.yaml: 1 added, 0 changed, 0 removed/);

      up.proc.kill('SIGINT');
      expect(await up.exited, output()).toBe(0);
    } finally {
      await alerts?.endAsync(true);
      if (up.proc.exitCode === null) {
        up.proc.kill('SIGKILL');
        await up.exited;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
