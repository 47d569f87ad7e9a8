/**
 * Rules reloaded on change without losing window or alert state: an open alert of an unchanged rule stays the same
 * alert (not raised again), an unchanged rule's hourly window keeps counting, a new rule judges from then on, and an
 * invalid config is refused with the field it got wrong while the rules in force stay. In process (the service's
 * reload) and as a user runs it (the CLI watching its config file).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { ConfigError } from '../../../core/errors.ts';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import type { Alert } from '../../../rules/alerts.ts';
import { startRules, type RulesService } from '../../../rules/service.ts';
import { DEMO_PLANTS } from '../../../rules/test-support.ts';
import { freePort } from '../../harness/ports.ts';
import { sendCod, startRulesProcess, until, type RulesProcess, watchAlerts, type AlertWatcher } from './support.ts';

const T0 = Date.UTC(2024, 0, 1);
const COD_LIMIT = { id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: { max: 100 }, clear: { below: 90 } };
const COD_HOURLY = { id: 'cod-hourly', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: { max: 500 }, averaging: { meanOverMs: 3_600_000, minSamples: 1 } };
const COD_FAST = { id: 'cod-fast', kind: 'limit', severity: 'critical', selector: { quantity: 'cod' }, limit: { max: 150 } };

/** The hourly window's sample count of paper-01's COD series, from the engine's state. */
function hourlyCount(rules: RulesService): number | undefined {
  const series = rules.engine.snapshot().series.find((s) => s.key.join('/') === 'paper-01/outfall-1-cod/cod');
  const op = series?.ops.find((o) => (Array.isArray(o) ? o[0] : o.rule) === 'cod-hourly');
  return (Array.isArray(op) ? (op[1] as { count: number }) : undefined)?.count;
}

describe('rules reloaded on change', () => {
  let broker: RunningBroker;
  let publisher: MqttClient;
  let watcher: AlertWatcher;
  let dir: string;
  let seen: Alert[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-reload-'));
    broker = await startBroker();
    publisher = await connectAsync(broker.url, { protocolVersion: 4, clientId: 'gw-test' });
    watcher = await watchAlerts(broker.url, 'reload-watcher');
    seen = watcher.seen;
  });
  afterAll(async () => {
    await publisher?.endAsync();
    await watcher?.end();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the window and alert state of unchanged rules, judges with the new ones, and refuses an invalid config', async () => {
    const base = {
      mqtt: { url: broker.url, protocolVersion: 4 },
      clientId: 'rules-reload',
      influx: { url: `http://127.0.0.1:${await freePort()}`, database: 'cleanstream', createDatabase: false },
      plants: DEMO_PLANTS,
      eventTime: { allowedLatenessMs: 0 },
    };
    const rules = await startRules({ ...base, rules: [COD_LIMIT, COD_HOURLY] } as never, { logger: pino({ level: 'silent' }) });
    try {
      await sendCod(publisher, 'paper-01', [50, 60, 120], T0);
      await until('cod-limit raised', () => (seen.some((a) => a.rule === 'cod-limit' && a.state === 'raised') ? true : undefined));
      const raised = rules.engine.openAlerts().find((a) => a.rule === 'cod-limit')!;
      expect(hourlyCount(rules)).toBe(3);

      const result = await rules.reload({ ...base, rules: [COD_LIMIT, COD_HOURLY, COD_FAST] } as never);
      expect(result).toMatchObject({ added: ['cod-fast'], removed: [], changed: [], droppedOps: 0, droppedAlerts: 0, restartNeeded: [] });
      // the same open alert, the same window
      expect(rules.engine.openAlerts().find((a) => a.rule === 'cod-limit')?.id).toBe(raised.id);
      expect(hourlyCount(rules)).toBe(3);

      // still above 100 (no second raise of cod-limit), and above 150 for the new rule
      await sendCod(publisher, 'paper-01', [160], T0 + 3_000);
      await until('cod-fast raised', () => (seen.some((a) => a.rule === 'cod-fast' && a.state === 'raised') ? true : undefined));
      expect(hourlyCount(rules)).toBe(4);
      await sendCod(publisher, 'paper-01', [80], T0 + 4_000);
      await until('cod-limit cleared', () => (seen.some((a) => a.rule === 'cod-limit' && a.state === 'cleared') ? true : undefined));
      expect(seen.filter((a) => a.rule === 'cod-limit').map((a) => `${a.id} ${a.state}`)).toEqual([`${raised.id} raised`, `${raised.id} cleared`]);

      // an invalid rule: refused with its field, the rules in force stay
      await expect(rules.reload({ ...base, rules: [COD_LIMIT, { ...COD_FAST, severity: 'fatal' }] } as never)).rejects.toThrow(ConfigError);
      await expect(rules.reload({ ...base, rules: [COD_LIMIT, { ...COD_FAST, severity: 'fatal' }] } as never)).rejects.toThrow(/rules\[1\]\.severity/);
      expect(rules.stats().engine.lateByRule).toHaveProperty('cod-fast');

      // a changed rule starts its window afresh; a removed rule's open alert is cleared; a setting that needs a restart is named
      await sendCod(publisher, 'paper-01', [170], T0 + 5_000);
      await until('cod-fast raised again', () => (seen.filter((a) => a.rule === 'cod-fast' && a.state === 'raised').length === 2 ? true : undefined));
      const changed = await rules.reload({ ...base, eventTime: { allowedLatenessMs: 1000 }, rules: [COD_LIMIT, { ...COD_HOURLY, limit: { max: 400 } }] } as never);
      expect(changed).toMatchObject({ added: [], removed: ['cod-fast'], changed: ['cod-hourly'], droppedAlerts: 1, restartNeeded: ['eventTime'] });
      expect(hourlyCount(rules)).toBe(0);
      const removed = await until('the removed rule\'s alert cleared', () => seen.filter((a) => a.rule === 'cod-fast' && a.state === 'cleared').at(1));
      expect(removed.message.en).toContain('rule cod-fast removed');
      expect(rules.engine.openAlerts().map((a) => a.rule)).toEqual(['cod-limit']);
    } finally {
      await rules.stop();
    }
  });

  it('the CLI reloads when its config file changes, and logs an invalid change with the field', async () => {
    const file = path.join(dir, 'rules.yaml');
    const influxPort = await freePort();
    const config = (rules: unknown[]): string =>
      stringify({
        mqtt: { url: broker.url, protocolVersion: 4 },
        clientId: 'rules-reload-cli',
        influx: { url: `http://127.0.0.1:${influxPort}`, database: 'cleanstream', createDatabase: false },
        plants: DEMO_PLANTS,
        rules,
      });
    writeFileSync(file, config([COD_LIMIT]));
    const cli: RulesProcess = startRulesProcess(file, { args: ['--watch-interval', '0.1'] });
    try {
      await until('the rules process to run', () => (cli.log.some((l) => l.includes('"rules running"')) ? true : undefined), 30_000);
      writeFileSync(file, config([COD_LIMIT, COD_FAST]));
      const reloaded = await until('a reload', () => cli.log.find((l) => l.includes('rules reloaded')), 10_000);
      expect(JSON.parse(reloaded)).toMatchObject({ added: ['cod-fast'], removed: [], changed: [] });
      writeFileSync(file, config([COD_LIMIT, { ...COD_FAST, limit: { max: 'high' } }]));
      const refused = await until('a refused reload', () => cli.log.find((l) => l.includes('rules not reloaded')), 10_000);
      expect(refused).toContain(file);
      expect(refused).toContain('rules[1].limit');
    } finally {
      cli.proc.kill('SIGTERM');
      await cli.exited;
    }
  }, 60_000);
});
