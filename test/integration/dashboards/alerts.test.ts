/**
 * Alerts, limits, overview, baselines, OpenAPI and rate limits of the dashboard over real sockets: a real influxd, the
 * embedded broker, the real rules stage raising an alert from a COD reading over the GB 3544-2008 limit, and the
 * dashboard. What users rely on: alerts show to exactly the callers who may see the plant, on the API and on the live
 * stream; an acknowledgement with a comment reaches the rules stage and comes back as the alert's new state; history
 * comes from InfluxDB; a caller outside the scope gets 403.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { encodeBatch, type BatchReading } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { TokenStore } from '../../../dashboards/auth.ts';
import type { Alert } from '../../../core/alert.ts';
import { buildServer, startDashboard, type RunningDashboard } from '../../../dashboards/server.ts';
import { startRules, type RulesService } from '../../../rules/service.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { freePort } from '../../harness/ports.ts';
import { SseReader } from './sse-reader.ts';
import { until } from '../../harness/wait.ts';
import { demoPlants } from '../../harness/plants.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const DB = 'cleanstream';
const registry = demoPlants();
const DEMO_PERMITS = path.join(ROOT, 'rules/limits/overrides/demo.yaml');

let influx: RunningInflux;
let broker: RunningBroker;
let rules: RulesService;
let dashboard: RunningDashboard;
let gateway: MqttClient;
const tokens = new TokenStore();
const admin = tokens.generate({ name: 'admin', role: 'admin' }).token;
const paperOps = tokens.generate({ name: 'paper-ops', role: 'operator', plants: ['paper-01'] }).token;
const hebeiEpb = tokens.generate({ name: 'hebei-epb', role: 'regulator', regions: ['hebei'] }).token;
const zhejiangEpb = tokens.generate({ name: 'zhejiang-epb', role: 'regulator', regions: ['zhejiang'] }).token;

interface Answer<T = Record<string, unknown>> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

async function api<T = Record<string, unknown>>(pathname: string, token?: string, init: { method?: string; body?: unknown } = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${dashboard.url}${pathname}`, { method: init.method ?? 'GET', headers, ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}) });
  const text = await res.text();
  let body = {} as T;
  try {
    body = JSON.parse(text) as T;
  } catch {
    // CSV, HTML
  }
  return { status: res.status, body, text, headers: res.headers };
}

let seq = 0;
async function sendCod(values: number[], start: number): Promise<void> {
  const readings: BatchReading[] = values.map((value, i) => ({ meter: 'outfall-1-cod', quantity: 'cod', value, unit: 'mg/L', ts: start + i * 1000, quality: 'good' }));
  await gateway.publishAsync(topics.readings('paper-01', 'gw-test'), encodeBatch({ v: 1, gateway: 'gw-test', plant: 'paper-01', seq: seq++, sentAt: Date.now(), readings }), { qos: 1 });
}

const HOUR = 3_600_000;
/**
 * What the rules stage's history job writes to `baselines` (rules/baselines.ts): rewritten at each run (dyeing-01's
 * own COD baseline was 150 at the older run, 160 at the newer). Reductions have their own test (reductions.test.ts).
 */
function rulesHistoryLines(): string {
  const newer = Date.now() - HOUR;
  const older = newer - HOUR;
  return [
    `baselines,indicator=cod,level=plant,plant=dyeing-01,source=static value=150,verified=false ${older}`,
    `baselines,indicator=cod,level=plant,plant=dyeing-01,source=static value=160,verified=false ${newer}`,
    `baselines,indicator=cod,level=learned,plant=dyeing-01,source=learned value=100,verified=true ${newer}`,
    `baselines,indicator=water_m3_per_t,level=III,plant=steel-01,source=static value=4.8,verified=true ${newer}`,
    `baselines,indicator=cod,level=plant,plant=paper-01,source=static value=120,verified=false ${newer}`,
  ].join('\n');
}

beforeAll(async () => {
  [influx, broker] = await Promise.all([startInfluxd(), startBroker()]);
  await influx.exec(`CREATE DATABASE "${DB}"`);
  // paper-01's COD analyser reported half a minute ago (what the overview judges the plant's status by)
  const recent = `water,plant=paper-01,meter=outfall-1-cod cod=50,cod_quality="good" ${Date.now() - 30_000}`;
  const write = await fetch(`${influx.url}/write?db=${DB}&precision=ms`, { method: 'POST', body: `${rulesHistoryLines()}\n${recent}` });
  expect(write.status).toBe(204);
  rules = await startRules(
    {
      mqtt: { url: broker.url, protocolVersion: 4 },
      influx: { url: influx.url, database: DB },
      eventTime: { allowedLatenessMs: 0 },
      tickMs: 100,
      limits: [DEMO_PERMITS],
      rules: [{ id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: 'catalog', clear: { below: 85 } }],
    },
    { registry, logger: pino({ level: 'silent' }) },
  );
  dashboard = await startDashboard({
    registry,
    tokens,
    influx: { url: influx.url, database: DB },
    mqtt: { url: broker.url },
    limits: [DEMO_PERMITS],
    host: '127.0.0.1',
    port: await freePort(),
    ackWaitMs: 5000,
  });
  gateway = await connectAsync(broker.url, { protocolVersion: 4, clientId: 'dashboard-alerts-test-gw', reconnectPeriod: 0 });
  await until('the dashboard to be subscribed', async () => ((await api('/healthz')).status === 200 ? true : undefined));
});

afterAll(async () => {
  await gateway?.endAsync(true);
  await dashboard?.stop();
  await rules?.stop();
  await broker?.stop();
  await influx?.stop();
});

/** A comment as people write them in the page's text box: quotes, a backslash, a second line. */
const ACK_COMMENT = '已通知企业排查生化池\n"二沉池" 出水 \\ 复测';

describe('alerts', () => {
  let alert: Alert;
  let operatorStream: SseReader;
  let otherRegionStream: SseReader;
  const t0 = Date.now() - 60_000;

  it('streams a raised alert to callers who may see the plant, and not to others', async () => {
    operatorStream = await SseReader.open(`${dashboard.url}/api/live?plant=paper-01&token=${paperOps}`);
    otherRegionStream = await SseReader.open(`${dashboard.url}/api/live?token=${zhejiangEpb}`);
    await until('both streams open', async () => (operatorStream.comments > 0 && otherRegionStream.comments > 0 ? true : undefined));
    // GB 3544-2008, integrated mill: COD 90 mg/L
    await sendCod([70, 96.5, 97], t0);
    const event = await operatorStream.next((e) => e.event === 'alert');
    alert = JSON.parse(event.data) as Alert;
    expect(alert).toMatchObject({ rule: 'cod-limit', plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', severity: 'major', state: 'raised', value: 96.5, limit: 90, raisedAt: t0 + 1000 });
    expect(event.id).toMatch(/^[0-9a-f]+-\d+$/);
    // the readings of the batch came too, and nothing of paper-01 went to the other region's regulator
    expect(operatorStream.data<{ plant: string }>('readings').map((b) => b.plant)).toContain('paper-01');
    expect(otherRegionStream.events.filter((e) => e.event !== 'heartbeat')).toEqual([]);
  });

  it('lists open alerts to the plant\'s operator, its region\'s regulator and an admin only', async () => {
    for (const token of [paperOps, hebeiEpb, admin]) {
      const { status, body } = await api<{ alerts: Alert[] }>('/api/alerts', token);
      expect(status).toBe(200);
      expect(body.alerts.map((a) => a.id)).toEqual([alert.id]);
    }
    expect((await api<{ alerts: Alert[] }>('/api/alerts', zhejiangEpb)).body.alerts).toEqual([]);
    expect((await api('/api/alerts?plant=paper-01', zhejiangEpb)).status).toBe(403);
    expect((await api('/api/alerts?region=hebei', zhejiangEpb)).status).toBe(403);
    expect((await api(`/api/alerts/${alert.id}`, zhejiangEpb)).status).toBe(403);
    expect((await api('/api/alerts')).status).toBe(401);
    // the facts a page renders text from, kept through the API's response schema: the bound crossed and the unit
    expect((await api(`/api/alerts/${alert.id}`, hebeiEpb)).body).toMatchObject({ id: alert.id, state: 'raised', limit: 90, bound: 'max', unit: 'mg/L' });
    expect((await api('/api/alerts/cod-limit.paper-01.outfall-1-cod.1', paperOps)).status).toBe(404);
  });

  it('filters by plant, region, severity, state and time', async () => {
    const ids = async (query: string) => (await api<{ alerts: Alert[] }>(`/api/alerts?${query}`, admin)).body.alerts.map((a) => a.id);
    expect(await ids('plant=paper-01')).toEqual([alert.id]);
    expect(await ids('plant=steel-01')).toEqual([]);
    expect(await ids('region=hebei&severity=major,critical')).toEqual([alert.id]);
    expect(await ids('severity=warning,minor')).toEqual([]);
    expect(await ids('state=cleared')).toEqual([]);
    expect(await ids(`from=${Date.now() + 60_000}`)).toEqual([]);
    expect(await ids(`to=${t0}`)).toEqual([]);
    expect((await api('/api/alerts?severity=fatal', admin)).status).toBe(400);
    expect((await api('/api/alerts?state=closed', admin)).status).toBe(400);
  });

  it('refuses an acknowledgement outside the scope with 403 and one without a comment with 400', async () => {
    expect((await api(`/api/alerts/${alert.id}/ack`, zhejiangEpb, { method: 'POST', body: { comment: 'not mine' } })).status).toBe(403);
    expect((await api(`/api/alerts/${alert.id}/ack`, undefined, { method: 'POST', body: { comment: 'who?' } })).status).toBe(401);
    expect((await api(`/api/alerts/${alert.id}/ack`, hebeiEpb, { method: 'POST', body: {} })).status).toBe(400);
    expect((await api(`/api/alerts/${alert.id}/ack`, hebeiEpb, { method: 'POST', body: { comment: '   ' } })).status).toBe(400);
    expect((await api(`/api/alerts/${alert.id}`, admin)).body).toMatchObject({ state: 'raised' });
  });

  it('forwards an acknowledgement with its comment to the rules stage and answers with the acknowledged alert', async () => {
    const { status, body } = await api<{ confirmed: boolean; alert: Alert }>(`/api/alerts/${alert.id}/ack`, hebeiEpb, {
      method: 'POST',
      body: { comment: ACK_COMMENT },
    });
    expect(status).toBe(200);
    expect(body).toMatchObject({ confirmed: true, alert: { id: alert.id, state: 'acknowledged', ackedBy: 'hebei-epb', comment: ACK_COMMENT } });
    // the change reached the live stream too, and a second acknowledgement is a conflict
    await operatorStream.next((e) => e.event === 'alert' && (JSON.parse(e.data) as Alert).state === 'acknowledged');
    expect((await api(`/api/alerts/${alert.id}/ack`, paperOps, { method: 'POST', body: { comment: 'again' } })).status).toBe(409);
    expect(otherRegionStream.events.filter((e) => e.event !== 'heartbeat')).toEqual([]);
  });

  it('returns the alert\'s transitions from InfluxDB, newest first, in scope only, with who acknowledged and their comment', async () => {
    const history = await until('raised and acknowledged rows', async () => {
      await rules.flush();
      const { body } = await api<{ transitions: { transition: string; id: string; limit: number | null; value: number | null }[] }>(`/api/alerts/history?id=${alert.id}`, paperOps);
      return body.transitions.length >= 2 ? body.transitions : undefined;
    });
    expect(history.map((t) => t.transition)).toEqual(['acknowledged', 'raised']);
    expect(history[1]).toMatchObject({ id: alert.id, value: 96.5, limit: 90, by: null, comment: null });
    expect(history[0]).toMatchObject({ id: alert.id, by: 'hebei-epb', comment: ACK_COMMENT });
    const all = await api<{ transitions: unknown[] }>(`/api/alerts/history?plant=paper-01&from=${t0 - 1000}&severity=major`, admin);
    expect(all.body.transitions).toHaveLength(2);
    expect((await api<{ transitions: unknown[] }>('/api/alerts/history', zhejiangEpb)).body.transitions).toEqual([]);
    expect((await api(`/api/alerts/history?id=${alert.id}`, zhejiangEpb)).status).toBe(403);
    expect((await api('/api/alerts/history?plant=paper-01', zhejiangEpb)).status).toBe(403);
  });

  it('shows the open alert and the plants\' status in the region overview', async () => {
    const { body } = await api<{ plants: { id: string; status: string; compliance: string; openAlerts: { total: number; worst: string | null }; meters: { reporting: number } }[] }>('/api/overview', hebeiEpb);
    expect(body.plants.map((p) => p.id)).toEqual(['paper-01']);
    // only the COD meter reported, half a minute ago: the plant is up, its other meters are silent
    expect(body.plants[0]).toMatchObject({ status: 'degraded', openAlerts: { total: 1, worst: 'major' }, meters: { reporting: 1, online: 1, total: 8 } });
    // compliance apart from data health: the open major exceedance, whatever the meters say
    expect(body.plants[0]).toMatchObject({ compliance: 'major' });
    const steel = await api<{ plants: { id: string; status: string }[] }>('/api/overview?region=liaoning', admin);
    expect(steel.body.plants).toEqual([expect.objectContaining({ id: 'steel-01', status: 'no-data', compliance: 'unknown' })]);
    expect((await api('/api/overview?region=hebei', zhejiangEpb)).status).toBe(403);
    operatorStream.close();
    otherRegionStream.close();
  });

  it('gives the lifecycle raise → acknowledgement (who, comment) → clear with durations; re-triggers that set no new peak write no row', async () => {
    // after the acknowledgement, hovering over the limit: re-triggers at 99 and 100 (new peaks), at 92 (not: counted,
    // no row), cleared at 80
    const after = Date.now();
    await sendCod([88, 99, 88, 92, 88, 100, 80], after);
    const body = await until('the clear row', async () => {
      await rules.flush();
      const { body } = await api<{ transitions: { transition: string; value: number | null; peak: number | null; count: number | null; sinceRaisedMs: number | null }[]; lifecycles: Record<string, unknown>[] }>(`/api/alerts/history?id=${alert.id}&to=${after + 60_000}`, admin);
      return body.transitions[0]?.transition === 'cleared' ? body : undefined;
    });
    expect(body.transitions.map((t) => [t.transition, t.value, t.peak])).toEqual([
      ['cleared', 80, 100],
      ['updated', 100, 100],
      ['updated', 99, 99],
      ['acknowledged', 97, 97],
      ['raised', 96.5, 96.5],
    ]);
    // the 92 was counted on the alert all the same
    expect(body.transitions[0]!.count).toBe(4);
    expect(body.transitions[0]!.sinceRaisedMs).toBe(after + 6000 - (t0 + 1000));
    expect(body.lifecycles).toHaveLength(1);
    const life = body.lifecycles[0] as { acknowledgedAt: number; toAcknowledgeMs: number; acknowledgedToClearMs: number };
    expect(life).toMatchObject({ id: alert.id, raisedAt: t0 + 1000, acknowledgedBy: 'hebei-epb', comment: ACK_COMMENT, clearedAt: after + 6000, toClearMs: after + 5000 - t0, count: 4, peak: 100, rows: 5 });
    expect(life.toAcknowledgeMs).toBe(life.acknowledgedAt - (t0 + 1000));
    expect(life.acknowledgedToClearMs).toBe(after + 6000 - life.acknowledgedAt);
    expect(life.acknowledgedToClearMs).toBeGreaterThan(0);
  });
});

describe('limits for limit lines', () => {
  it('gives each plant the limits of its standard, and a permit\'s where one overrides it', async () => {
    const paper = await api<{ limits: { quantity: string; max?: number; min?: number; standard: string }[] }>('/api/plants/paper-01/limits', paperOps);
    expect(paper.body.limits).toContainEqual(expect.objectContaining({ quantity: 'cod', max: 90, standard: 'GB 3544-2008' }));
    expect(paper.body.limits).toContainEqual(expect.objectContaining({ quantity: 'ph', min: 6, max: 9 }));
    const dyeing = await api<{ limits: { quantity: string; max?: number; standard: string }[] }>('/api/plants/dyeing-01/limits', admin);
    expect(dyeing.body.limits).toContainEqual(expect.objectContaining({ quantity: 'cod', max: 500, standard: 'demo permits' }));
    expect((await api('/api/plants/dyeing-01/limits', paperOps)).status).toBe(403);
  });
});

describe('baselines', () => {
  interface Baseline {
    plant: string;
    indicator: string;
    level: string;
    source: string;
    value: number;
    unit: string | null;
    verified: boolean;
    writtenAt: number;
  }

  it('lists the baselines in force per plant and indicator, the newest of each, in scope only', async () => {
    const { status, body } = await api<{ baselines: Baseline[] }>('/api/baselines', zhejiangEpb);
    expect(status).toBe(200);
    expect(body.baselines.map((b) => [b.plant, b.indicator, b.level, b.source, b.value, b.unit, b.verified])).toEqual([
      ['dyeing-01', 'cod', 'plant', 'static', 160, 'mg/L', false],
      ['dyeing-01', 'cod', 'learned', 'learned', 100, 'mg/L', true],
    ]);
    const steel = await api<{ baselines: Baseline[] }>('/api/baselines?plant=steel-01', admin);
    expect(steel.body.baselines).toEqual([expect.objectContaining({ indicator: 'water_m3_per_t', level: 'III', value: 4.8, unit: null })]);
    const own = await api<{ baselines: Baseline[] }>('/api/baselines?level=plant&indicator=cod', admin);
    expect(own.body.baselines.map((b) => [b.plant, b.value])).toEqual([
      ['dyeing-01', 160],
      ['paper-01', 120],
    ]);
    expect((await api<{ baselines: Baseline[] }>('/api/baselines', paperOps)).body.baselines.map((b) => b.plant)).toEqual(['paper-01']);
  });

  it('refuses plants and regions outside the scope with 403', async () => {
    expect((await api('/api/baselines?plant=dyeing-01', paperOps)).status).toBe(403);
    expect((await api('/api/baselines?region=hebei', zhejiangEpb)).status).toBe(403);
    expect((await api('/api/baselines?plant=no-such-plant', zhejiangEpb)).status).toBe(403);
    expect((await api('/api/baselines')).status).toBe(401);
  });
});

describe('OpenAPI', () => {
  it('documents every API route with its schemas at /docs', async () => {
    const spec = await api<{ openapi: string; paths: Record<string, Record<string, { parameters?: { name: string }[] }>> }>('/docs/json', paperOps);
    expect(spec.status).toBe(200);
    expect(spec.body.openapi).toMatch(/^3\./);
    for (const p of ['/api/plants', '/api/me', '/api/plants/{plant}/latest', '/api/plants/{plant}/series', '/api/plants/{plant}/limits', '/api/alerts', '/api/alerts/history', '/api/alerts/{id}', '/api/alerts/{id}/ack', '/api/overview', '/api/baselines', '/api/reductions', '/api/live']) {
      expect(Object.keys(spec.body.paths), p).toContain(p);
    }
    expect(spec.body.paths['/api/plants/{plant}/series']?.get?.parameters?.map((x) => x.name)).toEqual(expect.arrayContaining(['quantity', 'from', 'to', 'every']));
    const page = await fetch(`${dashboard.url}/docs/`, { headers: { authorization: `Bearer ${paperOps}` } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('swagger');
  });
});

describe('rate limiting', () => {
  it('limits requests per token, and requests without a known token per address', async () => {
    const app = await buildServer({ registry, tokens, influx: { url: influx.url, database: DB }, mqtt: { url: broker.url }, rateLimit: { max: 3, timeWindowMs: 60_000 } });
    try {
      const get = async (token: string) => (await app.inject({ method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${token}` } })).statusCode;
      expect([await get(paperOps), await get(paperOps), await get(paperOps), await get(paperOps)]).toEqual([200, 200, 200, 429]);
      // another token has its own budget
      expect(await get(hebeiEpb)).toBe(200);
      // guessing: each unknown token is a new guess from the same address
      expect([await get('cs_guess-1'), await get('cs_guess-2'), await get('cs_guess-3'), await get('cs_guess-4')]).toEqual([401, 401, 401, 429]);
    } finally {
      await app.close();
    }
  });
});
