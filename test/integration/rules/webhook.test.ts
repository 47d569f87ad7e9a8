/**
 * Webhooks to regulators, against a real broker and an HTTP endpoint on 127.0.0.1: routed by region and severity,
 * signed with HMAC-SHA256, keyed for idempotency, retried with backoff (honouring Retry-After) until the endpoint
 * answers, given up on and kept aside when it will not, and still delivered after the rules service restarts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { startRules, type RulesService } from '../../../rules/service.ts';
import type { RulesConfigInput } from '../../../rules/config.ts';
import { freePort } from '../../harness/ports.ts';
import { DEMO_OVERRIDES } from '../../../rules/test-support.ts';
import { sendCod, startReceiver, until, type Receiver } from './support.ts';
import { demoPlants } from '../../harness/plants.ts';

const registry = demoPlants();
const SECRET = 'regulator-shared-secret';
const env = { HEBEI_SECRET: SECRET, ZHEJIANG_SECRET: SECRET };

describe('webhook notifications', () => {
  let broker: RunningBroker;
  let publisher: MqttClient;
  let receiver: Receiver;
  let dir: string;
  let influxUrl: string;
  const running: RulesService[] = [];

  beforeAll(async () => {
    broker = await startBroker();
    publisher = await connectAsync(broker.url, { protocolVersion: 4, clientId: 'gw-test' });
    // No InfluxDB in these tests: alert rows wait in memory (and are reported) while webhooks are what is checked.
    influxUrl = `http://127.0.0.1:${await freePort()}`;
  });
  afterAll(async () => {
    await publisher?.endAsync();
    await broker?.stop();
  });
  afterEach(async () => {
    for (const r of running.splice(0)) await r.stop();
    await receiver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(webhooks: NonNullable<RulesConfigInput['notify']>['webhooks'], clientId: string): Promise<RulesService> {
    const config: RulesConfigInput = {
      mqtt: { url: broker.url, protocolVersion: 4 },
      clientId,
      influx: { url: influxUrl, database: 'cleanstream', createDatabase: false },
      limits: [DEMO_OVERRIDES],
      eventTime: { allowedLatenessMs: 0 },
      tickMs: 50,
      checkpoint: { file: path.join(dir, 'checkpoint.json'), intervalMs: 200 },
      notify: { outboxDir: path.join(dir, 'outbox'), webhooks },
      rules: [
        { id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: 'catalog', clear: { deadbandPct: 5 } },
        { id: 'cod-high', kind: 'limit', severity: 'minor', selector: { quantity: 'cod' }, limit: { max: 60 } },
      ],
    };
    const rules = await startRules(config, { registry, env, logger: pino({ level: 'silent' }) });
    running.push(rules);
    return rules;
  }

  it('sends each region its own plants\' alerts at or above the route severity, signed, keyed and retried until accepted', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-webhook-'));
    receiver = await startReceiver(SECRET);
    // The Hebei endpoint is overloaded at first: 503 with Retry-After: 1, then 500 without, then it accepts.
    receiver.respond = (key, n) => (key.includes('paper-01') && n === 1 ? { status: 503, headers: { 'retry-after': '1' } } : key.includes('paper-01') && n === 2 ? { status: 500 } : { status: 200 });
    const rules = await start(
      [
        { id: 'hebei-epb', url: `${receiver.url}/hebei`, secretEnv: 'HEBEI_SECRET', regions: ['hebei'], minSeverity: 'major', retry: { initialDelayMs: 100, maxDelayMs: 2_000 } },
        { id: 'zhejiang-epb', url: `${receiver.url}/zhejiang`, secretEnv: 'ZHEJIANG_SECRET', regions: ['zhejiang'] },
      ],
      'rules-webhook-1',
    );
    const t0 = Date.now() - 60_000;
    // paper-01 (Hebei, GB 3544 integrated mill, COD 90): cod-limit (major) and cod-high (minor) raise, then clear
    await sendCod(publisher, 'paper-01', [50, 95, 70, 50], t0);
    // dyeing-01 (Zhejiang, permit COD 500): only cod-high (minor) raises; Zhejiang takes every severity
    await sendCod(publisher, 'dyeing-01', [40, 120], t0);

    await until('all notifications accepted', () => (receiver.accepted.length >= 3 ? true : undefined), 15_000);
    await new Promise((r) => setTimeout(r, 300));
    const seen = receiver.accepted.map((a) => `${a.path} ${a.key}`).sort();
    expect(seen).toEqual([
      `/hebei cod-limit.paper-01.outfall-1-cod.${t0 + 1000}:cleared`,
      `/hebei cod-limit.paper-01.outfall-1-cod.${t0 + 1000}:raised`,
      `/zhejiang cod-high.dyeing-01.outfall-1-cod.${t0 + 1000}:raised`,
    ]);
    expect(receiver.attempts.every((a) => a.signatureOk)).toBe(true);
    const raised = receiver.accepted.find((a) => a.key === `cod-limit.paper-01.outfall-1-cod.${t0 + 1000}:raised`)!;
    expect(raised.body).toMatchObject({ transition: 'raised', region: 'hebei', idempotencyKey: raised.key, alert: { rule: 'cod-limit', plant: 'paper-01', severity: 'major', state: 'raised' } });
    // text for people in both languages (a regulator's system may be Chinese), and the facts behind it
    expect(raised.body.alert).toMatchObject({ bound: 'max', unit: 'mg/L', limit: 90 });
    expect(raised.body.alert.message.zh).toMatch(/^保定造纸厂 总排口COD在线监测仪 化学需氧量 [\d.]+ mg\/L，超过限值 90 mg\/L（GB 3544-2008）$/);
    expect(raised.body.alert.message.en).toMatch(/^COD [\d.]+ mg\/L at Baoding Paper Mill, Main outfall COD analyser is above the limit 90 mg\/L \(GB 3544-2008\)$/);
    // Per route, notifications arrive in the order they happened: raised before cleared.
    expect(receiver.accepted.filter((a) => a.path === '/hebei').map((a) => a.body.transition)).toEqual(['raised', 'cleared']);
    // The first Hebei attempt got 503 + Retry-After: 1; the retry waited for it (not the 100 ms backoff step).
    const hebeiRaise = receiver.attempts.filter((a) => a.key === raised.key);
    expect(hebeiRaise.map((a) => a.status)).toEqual([503, 500, 200]);
    expect(hebeiRaise[1]!.at - hebeiRaise[0]!.at).toBeGreaterThanOrEqual(950);
    // both Hebei notifications went through 503 and 500 first
    expect(rules.stats().webhooks).toMatchObject({ 'hebei-epb': { delivered: 2, failedAttempts: 4, deadLettered: 0, pending: 0 }, 'zhejiang-epb': { delivered: 1, pending: 0 } });
  });

  it('keeps undelivered notifications on disk across a restart of the rules service and delivers them after it', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-webhook-'));
    receiver = await startReceiver(SECRET);
    let endpointUp = false;
    receiver.respond = () => (endpointUp ? { status: 200 } : { status: 503 });
    const routes = [{ id: 'hebei-epb', url: `${receiver.url}/hebei`, secretEnv: 'HEBEI_SECRET', regions: ['hebei'], retry: { initialDelayMs: 50, maxDelayMs: 200 } }];
    const first = await start(routes, 'rules-webhook-2');
    const t0 = Date.now() - 60_000;
    await sendCod(publisher, 'paper-01', [50, 95, 96], t0);
    await until('failed attempts at the raise', () => (receiver.attempts.length >= 2 ? true : undefined));
    expect(first.stats().webhooks['hebei-epb']).toMatchObject({ delivered: 0, pending: 2 });
    await first.stop();
    running.splice(running.indexOf(first), 1);

    // While the service is down the endpoint recovers; the next run sends what the last one could not.
    endpointUp = true;
    const attemptsBefore = receiver.attempts.length;
    const second = await start(routes, 'rules-webhook-2');
    await until('the queued notifications delivered', () => (receiver.accepted.length === 2 ? true : undefined));
    // in the order they happened (rule order within one reading), each once
    expect(receiver.accepted.map((a) => a.key)).toEqual([`cod-limit.paper-01.outfall-1-cod.${t0 + 1000}:raised`, `cod-high.paper-01.outfall-1-cod.${t0 + 1000}:raised`]);
    expect(new Set(receiver.accepted.map((a) => a.key)).size).toBe(2);
    expect(receiver.attempts.length - attemptsBefore).toBe(2);
    await until('the outbox emptied', () => (second.stats().webhooks['hebei-epb']!.pending === 0 ? true : undefined));
    expect(second.stats().webhooks['hebei-epb']).toMatchObject({ delivered: 2, failedAttempts: 0 });
  });

  it('gives up on a notification the endpoint refuses (4xx) or that fails maxAttempts times, and keeps it in the dead-letter file', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-webhook-'));
    receiver = await startReceiver(SECRET);
    receiver.respond = (key) => (key.startsWith('cod-limit') ? { status: 422 } : { status: 500 });
    const rules = await start([{ id: 'hebei-epb', url: `${receiver.url}/hebei`, secretEnv: 'HEBEI_SECRET', retry: { initialDelayMs: 20, maxDelayMs: 50, maxAttempts: 3 } }], 'rules-webhook-3');
    const t0 = Date.now() - 60_000;
    await sendCod(publisher, 'paper-01', [50, 95], t0);
    await until('both given up', () => (rules.stats().webhooks['hebei-epb']!.deadLettered === 2 ? true : undefined));
    const byKey = (prefix: string): number => receiver.attempts.filter((a) => a.key.startsWith(prefix)).length;
    expect(byKey('cod-limit')).toBe(1); // 422: retrying will not help
    expect(byKey('cod-high')).toBe(3); // 500 three times: maxAttempts
    const deadFile = path.join(dir, 'outbox', 'hebei-epb', 'dead-letters.ndjson');
    expect(existsSync(deadFile)).toBe(true);
    const dead = readFileSync(deadFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { key: string; reason: string; attempts: number });
    expect(dead.map((d) => [d.key.split('.')[0], d.reason, d.attempts])).toEqual([
      ['cod-limit', 'HTTP 422', 1],
      ['cod-high', 'HTTP 500', 3],
    ]);
  });

  it('refuses to start when a route\'s secret is not in the environment, naming the field', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-webhook-'));
    receiver = await startReceiver(SECRET);
    await expect(start([{ id: 'x', url: receiver.url, secretEnv: 'NOT_SET_ANYWHERE' }], 'rules-webhook-4')).rejects.toThrow(/notify\.webhooks\[0\]\.secretEnv: environment variable NOT_SET_ANYWHERE/);
  });
});
