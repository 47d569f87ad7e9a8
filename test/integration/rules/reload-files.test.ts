/**
 * `cleanstream rules` as a user runs it, reloading what an operator edits while it runs: a limits file (a permit
 * tightened) and a baseline file (a plant's baseline revised), each judged with the new value from the next reading
 * on; and with `--no-watch`, a config file edited and applied on SIGHUP only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { stringify } from 'yaml';
import { encodeBatch, type BatchReading } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import type { Alert } from '../../../rules/alerts.ts';
import { DEMO_PLANTS } from '../../../rules/test-support.ts';
import { freePort } from '../../harness/ports.ts';
import { startRulesProcess, until, type RulesProcess, watchAlerts, type AlertWatcher } from './support.ts';

const T0 = Date.UTC(2024, 0, 1);
/** A pH far below any floor: its alert says the batch it came in has been judged. */
const PH_PROBE = { id: 'ph-probe', kind: 'limit', severity: 'warning', selector: { quantity: 'ph' }, limit: { min: 6 } };

describe('the rules CLI reloads what an operator edits', () => {
  let broker: RunningBroker;
  let publisher: MqttClient;
  let watcher: AlertWatcher;
  let dir: string;
  let seq = 0;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-reload-files-'));
    broker = await startBroker();
    publisher = await connectAsync(broker.url, { protocolVersion: 4, clientId: 'gw-reload-files' });
    watcher = await watchAlerts(broker.url, 'reload-files-watcher');
  });
  afterAll(async () => {
    await publisher?.endAsync();
    await watcher?.end();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function send(plant: string, readings: { quantity: 'cod' | 'ph'; value: number; ts: number }[]): Promise<void> {
    const batch: BatchReading[] = readings.map((r) => ({ meter: `outfall-1-${r.quantity}`, quantity: r.quantity, value: r.value, unit: r.quantity === 'cod' ? 'mg/L' : 'pH', ts: r.ts, quality: 'good' }));
    await publisher.publishAsync(topics.readings(plant, 'gw-reload-files'), encodeBatch({ v: 1, gateway: 'gw-reload-files', plant, seq: seq++, sentAt: Date.now(), readings: batch }), { qos: 1 });
  }
  const seen = (rule: string, plant: string): Alert[] => watcher.seen.filter((a) => a.rule === rule && a.plant === plant);
  const reloads = (cli: RulesProcess): string[] => cli.log.filter((l) => l.includes('"rules reloaded'));

  async function configFile(name: string, extra: Record<string, unknown>, rules: unknown[]): Promise<string> {
    const file = path.join(dir, name);
    writeFileSync(
      file,
      stringify({
        mqtt: { url: broker.url, protocolVersion: 4 },
        clientId: `rules-${path.basename(name, '.yaml')}`,
        influx: { url: `http://127.0.0.1:${await freePort()}`, database: 'cleanstream', createDatabase: false },
        plants: DEMO_PLANTS,
        eventTime: { allowedLatenessMs: 0 },
        ...extra,
        rules,
      }),
    );
    return file;
  }

  it('judges with a limits file and a baseline file as they are after each change, the open alert carried over', async () => {
    const limits = path.join(dir, 'permit.yaml');
    const permit = (max: number): string =>
      stringify({ standard: 'test permit', version: 1, title: { en: 'Test permit', zh: '测试许可' }, source: 'this test', scope: 'override', entries: [{ quantity: 'cod', plants: ['paper-01'], max, effectiveFrom: '2015-01-01' }] });
    const baselines = path.join(dir, 'baselines.yaml');
    const baseline = (value: number): string => stringify({ source: 'this test', entries: [{ plant: 'paper-01', indicator: 'cod', level: 'plant', value, verified: false }] });
    writeFileSync(limits, permit(200));
    writeFileSync(baselines, baseline(200));
    const file = await configFile('files.yaml', { limits: [limits], history: { baselineFiles: [baselines], builtinBaselines: false } }, [
      PH_PROBE,
      { id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: 'catalog' },
      { id: 'cod-baseline', kind: 'baseline', severity: 'minor', selector: { quantity: 'cod' }, meanOverMs: 60_000, minSamples: 1, marginPct: 0 },
    ]);
    const cli = startRulesProcess(file, { args: ['--watch-interval', '0.1'] });
    try {
      await until('the rules process to run', () => (cli.log.some((l) => l.includes('"rules running"')) ? true : undefined), 30_000);
      // COD 150 under the permit's 200, and the first minute's mean 150 under the baseline 200
      await send('paper-01', [
        { quantity: 'cod', value: 150, ts: T0 },
        { quantity: 'cod', value: 150, ts: T0 + 60_000 },
        { quantity: 'ph', value: 3, ts: T0 + 60_000 },
      ]);
      await until('the first batch judged', () => seen('ph-probe', 'paper-01')[0]);
      expect(seen('cod-limit', 'paper-01')).toEqual([]);
      expect(seen('cod-baseline', 'paper-01')).toEqual([]);

      // the permit tightened to 100: the next COD 150 is over it
      writeFileSync(limits, permit(100));
      const limitsReload = await until('a reload on the limits file', () => reloads(cli)[0], 10_000);
      expect(JSON.parse(limitsReload)).toMatchObject({ why: `${limits} changed`, added: [], changed: [], removed: [] });
      await send('paper-01', [{ quantity: 'cod', value: 150, ts: T0 + 61_000 }]);
      const raised = await until('cod-limit raised on the new permit', () => seen('cod-limit', 'paper-01')[0]);
      expect(raised).toMatchObject({ state: 'raised', raisedAt: T0 + 61_000, value: 150, limit: 100 });

      // the baseline revised to 100: the second minute (mean 150) is judged against it when the next reading closes it
      writeFileSync(baselines, baseline(100));
      const baselineReload = await until('a reload on the baseline file', () => reloads(cli)[1], 10_000);
      expect(JSON.parse(baselineReload)).toMatchObject({ why: `${baselines} changed`, added: [], changed: [], removed: [] });
      await send('paper-01', [{ quantity: 'cod', value: 150, ts: T0 + 120_000 }]);
      const overBaseline = await until('cod-baseline raised on the new baseline', () => seen('cod-baseline', 'paper-01')[0]);
      expect(overBaseline).toMatchObject({ state: 'raised', value: 150, limit: 100 });
      // the open cod-limit alert was carried over, not raised again
      expect(seen('cod-limit', 'paper-01').filter((a) => a.state === 'raised' && a.id !== raised.id)).toEqual([]);
    } finally {
      cli.proc.kill('SIGTERM');
      await cli.exited;
    }
  }, 60_000);

  it('with --no-watch, an edited config file is applied on SIGHUP and not before', async () => {
    const file = await configFile('hup.yaml', {}, [PH_PROBE]);
    const cli = startRulesProcess(file, { args: ['--no-watch', '--watch-interval', '0.1'] });
    try {
      await until('the rules process to run', () => (cli.log.some((l) => l.includes('"rules running"')) ? true : undefined), 30_000);
      await configFile('hup.yaml', {}, [PH_PROBE, { id: 'cod-fast', kind: 'limit', severity: 'critical', selector: { quantity: 'cod' }, limit: { max: 100 } }]);
      // ten watch intervals: a watching process would have reloaded by now
      await new Promise((r) => setTimeout(r, 1000));
      await send('dyeing-01', [
        { quantity: 'cod', value: 150, ts: T0 },
        { quantity: 'ph', value: 3, ts: T0 },
      ]);
      await until('the batch judged', () => seen('ph-probe', 'dyeing-01')[0]);
      expect(seen('cod-fast', 'dyeing-01')).toEqual([]);
      expect(reloads(cli)).toEqual([]);

      cli.proc.kill('SIGHUP');
      const reload = await until('a reload on SIGHUP', () => reloads(cli)[0], 10_000);
      expect(JSON.parse(reload)).toMatchObject({ why: 'SIGHUP', added: ['cod-fast'], removed: [], changed: [] });
      await send('dyeing-01', [{ quantity: 'cod', value: 150, ts: T0 + 1000 }]);
      expect(await until('cod-fast raised', () => seen('cod-fast', 'dyeing-01')[0])).toMatchObject({ raisedAt: T0 + 1000, limit: 100 });
    } finally {
      cli.proc.kill('SIGTERM');
      await cli.exited;
    }
  }, 60_000);
});
