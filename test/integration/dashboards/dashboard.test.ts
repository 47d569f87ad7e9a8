/**
 * The dashboard over real sockets: a real influxd seeded with line protocol, the embedded aedes broker, and the
 * dashboard listening on a loopback port. What users rely on: a token sees exactly its scope, the API returns what
 * InfluxDB holds, the live stream carries MQTT readings (in canonical units) for the plants in scope only, and a
 * reconnecting client gets what it missed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAsync, type MqttClient } from 'mqtt';
import { encodeBatch, type BatchReading, type ReadingBatch } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { TokenStore } from '../../../dashboards/auth.ts';
import { startDashboard, type RunningDashboard } from '../../../dashboards/server.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { freePort } from '../../harness/ports.ts';
import { SseReader as SharedSseReader } from './sse-reader.ts';
import { until } from '../../harness/wait.ts';
import { demoPlants } from '../../harness/plants.ts';

const DB = 'dash';
const MINUTE = 60_000;
/** Seeded data starts on a minute boundary, ten minutes ago, so that 1-minute buckets are predictable. */
const T0 = Math.floor(Date.now() / MINUTE) * MINUTE - 10 * MINUTE;

// The demo registry: paper-01 in hebei, dyeing-01 in zhejiang, steel-01 in liaoning.
const registry = demoPlants();

let influx: RunningInflux;
let broker: RunningBroker;
let dashboard: RunningDashboard;
let publisher: MqttClient;
const tokens = new TokenStore();
const admin = tokens.generate({ name: 'admin', role: 'admin' }).token;
const paperOperator = tokens.generate({ name: 'paper-ops', role: 'operator', plants: ['paper-01'] }).token;
const zhejiangRegulator = tokens.generate({ name: 'zhejiang-epb', role: 'regulator', regions: ['zhejiang'] }).token;

/** paper-01 COD every 10 s for two minutes: 10, 11, … 21 mg/L; the last one uncertain. */
const paperCod = Array.from({ length: 12 }, (_, i) => ({ ts: T0 + i * 10_000, value: 10 + i, quality: i === 11 ? 'uncertain' : 'good' }));

function seedLines(): string {
  const lines = paperCod.map((p) => `water,plant=paper-01,meter=outfall-1-cod cod=${p.value},cod_quality="${p.quality}" ${p.ts}`);
  lines.push(
    `water,plant=paper-01,meter=outfall-1-ph ph=7.2,ph_quality="good" ${T0}`,
    // A later reading with no value (the analyser failed): ingest stores its quality alone.
    `water,plant=paper-01,meter=outfall-1-ph ph_quality="bad" ${T0 + MINUTE}`,
    `emissions,plant=paper-01,meter=stack-1-cems so2=35.5,so2_quality="good",o2=8.1,o2_quality="good" ${T0 + 5000}`,
    `water,plant=dyeing-01,meter=outfall-1-cod cod=55,cod_quality="good" ${T0}`,
    `water,plant=steel-01,meter=outfall-1-cod cod=30,cod_quality="good" ${T0}`,
  );
  return lines.join('\n');
}

async function api(path: string, token?: string): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${dashboard.url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers };
}

type LiveBatch = { id: string; plant: string; gateway: string; readings: BatchReading[] };

/** The live stream of this suite's dashboard, read with the shared SSE client, and the reading batches on it. */
const SseReader = {
  open: (urlPath: string, headers: Record<string, string> = {}): Promise<SharedSseReader> => SharedSseReader.open(`${dashboard.url}${urlPath}`, headers),
};

function readingsOf(reader: SharedSseReader): LiveBatch[] {
  return reader.events.filter((e) => e.event === 'readings').map((e) => ({ id: e.id ?? '', ...(JSON.parse(e.data) as Omit<LiveBatch, 'id'>) }));
}

function batch(plant: string, seq: number, readings: BatchReading[]): ReadingBatch {
  return { v: 1, gateway: 'gw-test', plant, seq, sentAt: Date.now(), readings };
}

async function publish(b: ReadingBatch): Promise<void> {
  await publisher.publishAsync(topics.readings(b.plant, b.gateway), encodeBatch(b), { qos: 1 });
}

beforeAll(async () => {
  [influx, broker] = await Promise.all([startInfluxd(), startBroker()]);
  await influx.exec(`CREATE DATABASE "${DB}"`);
  const write = await fetch(`${influx.url}/write?db=${DB}&precision=ms`, { method: 'POST', body: seedLines() });
  expect(write.status).toBe(204);
  dashboard = await startDashboard({
    registry,
    tokens,
    influx: { url: influx.url, database: DB },
    mqtt: { url: broker.url },
    host: '127.0.0.1',
    port: await freePort(),
    live: { heartbeatMs: 300 },
  });
  publisher = await connectAsync(broker.url, { protocolVersion: 4, clientId: 'dashboard-test-publisher', reconnectPeriod: 0 });
  await until('the dashboard to be subscribed and reach InfluxDB', async () => ((await api('/healthz')).status === 200 ? true : undefined));
});

afterAll(async () => {
  await publisher?.endAsync(true);
  await dashboard?.stop();
  await broker?.stop();
  await influx?.stop();
});

describe('authentication and scope', () => {
  it('refuses the API without a token, or with an unknown one, with 401 and a Bearer challenge', async () => {
    const none = await api('/api/plants');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const unknown = await api('/api/plants', 'cs_not-a-token');
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('www-authenticate')).toContain('invalid_token');
    expect((await fetch(`${dashboard.url}/api/plants?token=wrong`)).status).toBe(401);
  });

  it('accepts the token in ?token= as well as in the Authorization header', async () => {
    expect((await fetch(`${dashboard.url}/api/plants?token=${paperOperator}`)).status).toBe(200);
  });

  it('lists only the plants in the caller\'s scope', async () => {
    const ids = async (token: string) => ((await api('/api/plants', token)).body.plants as { id: string }[]).map((p) => p.id);
    expect(await ids(admin)).toEqual(['paper-01', 'dyeing-01', 'steel-01']);
    expect(await ids(paperOperator)).toEqual(['paper-01']);
    expect(await ids(zhejiangRegulator)).toEqual(['dyeing-01']);
  });

  it('describes each plant with region, industry, meters and the catalog\'s labels in English and Chinese', async () => {
    const { body } = await api('/api/plants', paperOperator);
    const [paper] = body.plants as Record<string, unknown>[];
    expect(paper).toMatchObject({ id: 'paper-01', name: { en: 'Baoding Paper Mill', zh: '保定造纸厂' }, region: { id: 'hebei', name: { zh: '河北（京津冀）' } }, industry: 'pulp-paper' });
    expect(paper?.meters).toContainEqual({ id: 'outfall-1-cod', location: 'outfall-1', quantities: ['cod'], name: { en: 'Main outfall COD analyser', zh: '总排口COD在线监测仪' } });
    expect(body.quantities).toContainEqual({ id: 'cod', domain: 'water', label: { en: 'COD', zh: '化学需氧量' }, unit: 'mg/L', kind: 'gauge', range: [0, 20_000], hj212: 'w01018', declared: false });
  });

  it('answers 403 to an operator asking for another plant and to a regulator outside its regions', async () => {
    expect((await api('/api/plants/dyeing-01/latest', paperOperator)).status).toBe(403);
    expect((await api('/api/plants/dyeing-01/series?quantity=cod', paperOperator)).status).toBe(403);
    expect((await api('/api/plants/paper-01/latest', zhejiangRegulator)).status).toBe(403);
    expect((await api('/api/plants/dyeing-01/latest', zhejiangRegulator)).status).toBe(200);
    // An unknown plant looks like any plant out of scope to a scoped caller; only an admin learns it does not exist.
    expect((await api('/api/plants/nowhere-01/latest', paperOperator)).status).toBe(403);
    expect((await api('/api/plants/nowhere-01/latest', admin)).status).toBe(404);
  });
});

describe('history from InfluxDB', () => {
  it('/latest returns the last value, timestamp and quality of every meter × quantity with data', async () => {
    const { status, body } = await api('/api/plants/paper-01/latest', paperOperator);
    expect(status).toBe(200);
    const readings = body.readings as Record<string, unknown>[];
    const last = paperCod.at(-1)!;
    expect(readings).toContainEqual({ meter: 'outfall-1-cod', quantity: 'cod', value: last.value, unit: 'mg/L', ts: last.ts, quality: 'uncertain' });
    // The pH analyser's last reading had no value: that is what is shown, not the older good value.
    expect(readings).toContainEqual({ meter: 'outfall-1-ph', quantity: 'ph', value: null, unit: 'pH', ts: T0 + MINUTE, quality: 'bad' });
    expect(readings).toContainEqual({ meter: 'stack-1-cems', quantity: 'so2', value: 35.5, unit: 'mg/m3', ts: T0 + 5000, quality: 'good' });
    expect(readings).toContainEqual({ meter: 'stack-1-cems', quantity: 'o2', value: 8.1, unit: '%', ts: T0 + 5000, quality: 'good' });
    // Nothing from the other plants leaks in.
    expect(readings.filter((r) => r.quantity === 'cod')).toHaveLength(1);
  });

  it('/series returns the mean per bucket', async () => {
    const { status, body } = await api(`/api/plants/paper-01/series?quantity=cod&meter=outfall-1-cod&from=${T0}&to=${T0 + 5 * MINUTE}&every=1m`, paperOperator);
    expect(status).toBe(200);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const firstMinute = paperCod.filter((p) => p.ts < T0 + MINUTE).map((p) => p.value);
    const secondMinute = paperCod.filter((p) => p.ts >= T0 + MINUTE).map((p) => p.value);
    expect(body).toMatchObject({ plant: 'paper-01', quantity: 'cod', unit: 'mg/L', everyMs: MINUTE });
    expect(body.series).toEqual([{ meter: 'outfall-1-cod', points: [[T0, mean(firstMinute)], [T0 + MINUTE, mean(secondMinute)]] }]);
  });

  it('/series without a meter returns one series per meter measuring the quantity', async () => {
    const { body } = await api(`/api/plants/dyeing-01/series?quantity=cod&from=${T0}&to=${T0 + MINUTE}&every=1m`, admin);
    expect(body.series).toEqual([{ meter: 'outfall-1-cod', points: [[T0, 55]] }]);
  });

  it('/series?mode=increase gives a counter\'s amount per bucket: a reset counted from zero, a bucket after a silent one left out', async () => {
    // paper-01's main power meter, its energy register read in InfluxDB: replaced (from 0) in the third minute, silent in the fourth
    const readings: [number, number][] = [
      [T0 - 30_000, 527_640_000],
      [T0 + 10_000, 527_640_300],
      [T0 + 50_000, 527_640_600],
      [T0 + MINUTE + 20_000, 527_641_800],
      [T0 + 2 * MINUTE + 10_000, 2],
      [T0 + 2 * MINUTE + 40_000, 5],
      [T0 + 4 * MINUTE + 10_000, 40],
      [T0 + 5 * MINUTE + 10_000, 55],
    ];
    const lines = readings.map(([ts, kWh]) => `energy,plant=paper-01,meter=main-power active_energy=${kWh},active_energy_quality="good" ${ts}`);
    expect((await fetch(`${influx.url}/write?db=${DB}&precision=ms`, { method: 'POST', body: lines.join('\n') })).status).toBe(204);
    const { status, body } = await api(`/api/plants/paper-01/series?quantity=active_energy&meter=main-power&from=${T0}&to=${T0 + 6 * MINUTE}&every=1m&mode=increase`, paperOperator);
    expect(status).toBe(200);
    expect(body).toMatchObject({ quantity: 'active_energy', unit: 'kWh', mode: 'increase', everyMs: MINUTE });
    expect(body.series).toEqual([
      {
        meter: 'main-power',
        // the first minute counted from the reading before the window; the fourth minute had none, so the fifth's 35 kWh
        // cannot be told apart from the fourth's: neither is given
        points: [[T0, 600], [T0 + MINUTE, 1200], [T0 + 2 * MINUTE, 5], [T0 + 5 * MINUTE, 15]],
        last: [T0 + 5 * MINUTE + 10_000, 55],
      },
    ]);
    // a gauge has no amount per bucket
    const gauge = await api(`/api/plants/paper-01/series?quantity=cod&mode=increase`, paperOperator);
    expect(gauge.status).toBe(400);
    expect(gauge.body.code).toBe('NOT_A_COUNTER');
  });

  it('/series refuses what it cannot answer boundedly or sensibly, with 400', async () => {
    const bad = [
      '/api/plants/paper-01/series?quantity=vibranium',
      '/api/plants/paper-01/series?quantity=cod&meter=outfall-1-ph',
      '/api/plants/paper-01/series?quantity=cod&every=1x',
      `/api/plants/paper-01/series?quantity=cod&from=${T0}&to=${T0 + 86_400_000}&every=1s`,
      `/api/plants/paper-01/series?quantity=cod&from=${T0}&to=${T0}`,
      '/api/plants/paper-01/series?quantity=cod&meter=x"%20OR%201=1',
    ];
    for (const path of bad) expect((await api(path, admin)).status, path).toBe(400);
  });
});

describe('live readings over Server-Sent Events', () => {
  it('streams readings published on MQTT for plants in scope, in canonical units, and nothing else', async () => {
    const stream = await SseReader.open('/api/live', { authorization: `Bearer ${paperOperator}` });
    try {
      expect(stream.status).toBe(200);
      expect(stream.contentType).toContain('text/event-stream');
      await until('the stream to open', async () => (stream.comments > 0 ? true : undefined));
      // Out of scope first: MQTT keeps one publisher's order, so if the in-scope batch arrives alone, this one was filtered.
      await publish(batch('dyeing-01', 1, [{ meter: 'outfall-1-cod', quantity: 'cod', value: 99, unit: 'mg/L', ts: Date.now(), quality: 'good' }]));
      const ts = Date.now();
      await publish(batch('paper-01', 2, [{ meter: 'outfall-1-flow', quantity: 'wastewater_flow', value: 10, unit: 'L/s', ts, quality: 'good' }]));
      const received = await until('the in-scope batch', async () => (readingsOf(stream).length > 0 ? readingsOf(stream) : undefined));
      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({ plant: 'paper-01', gateway: 'gw-test', readings: [{ meter: 'outfall-1-flow', quantity: 'wastewater_flow', value: 36, unit: 'm3/h', ts, quality: 'good' }] });
      expect(received[0]?.id).toMatch(/^[0-9a-f]+-\d+$/);
      // Heartbeats keep coming on an idle stream, saying how often and that the server has the broker.
      const heartbeats = () => stream.events.filter((e) => e.event === 'heartbeat');
      const before = heartbeats().length;
      await until('a heartbeat', async () => (heartbeats().length > before ? true : undefined), 3000);
      expect(JSON.parse(heartbeats().at(-1)!.data)).toEqual({ everyMs: 300, broker: true });
    } finally {
      stream.close();
    }
  });

  it('never streams a reading from the future, and shows a value outside its physical range as bad without a value', async () => {
    const stream = await SseReader.open('/api/live', { authorization: `Bearer ${paperOperator}` });
    try {
      await until('the stream to open', async () => (stream.comments > 0 ? true : undefined));
      // From the future first: MQTT keeps one publisher's order, so if the next batch arrives alone, this one was dropped.
      await publish(batch('paper-01', 3, [{ meter: 'outfall-1-cod', quantity: 'cod', value: 60, unit: 'mg/L', ts: Date.UTC(2200, 0, 1), quality: 'good' }]));
      const ts = Date.now();
      await publish(batch('paper-01', 4, [{ meter: 'outfall-1-cod', quantity: 'cod', value: 1e308, unit: 'mg/L', ts, quality: 'good' }]));
      const received = await until('the batch of now', async () => (readingsOf(stream).length > 0 ? readingsOf(stream) : undefined));
      expect(received).toHaveLength(1);
      expect(received[0]!.readings).toEqual([{ meter: 'outfall-1-cod', quantity: 'cod', value: null, unit: 'mg/L', ts, quality: 'bad' }]);
    } finally {
      stream.close();
    }
  });

  it('refuses a live stream of a plant out of scope with 403', async () => {
    const res = await fetch(`${dashboard.url}/api/live?plant=dyeing-01&token=${paperOperator}`);
    expect(res.status).toBe(403);
    await res.body?.cancel();
  });

  it('sends a reconnecting client what it missed after its Last-Event-ID, and a gap event for an id it cannot resume from', async () => {
    // An observer on every plant tells when the dashboard has received what is published.
    const observer = await SseReader.open(`/api/live?token=${admin}`);
    const first = await SseReader.open(`/api/live?plant=paper-01&token=${admin}`);
    await until('the streams to open', async () => (first.comments > 0 && observer.comments > 0 ? true : undefined));
    await publish(batch('paper-01', 10, [{ meter: 'outfall-1-cod', quantity: 'cod', value: 40, unit: 'mg/L', ts: Date.now(), quality: 'good' }]));
    const [seen] = await until('the first batch', async () => (readingsOf(first).length ? readingsOf(first) : undefined));
    first.close();

    // While disconnected: one batch for this plant, one for another plant (not to be replayed to a paper-01 stream).
    await publish(batch('steel-01', 11, [{ meter: 'outfall-1-cod', quantity: 'cod', value: 41, unit: 'mg/L', ts: Date.now(), quality: 'good' }]));
    await publish(batch('paper-01', 12, [{ meter: 'outfall-1-cod', quantity: 'cod', value: 42, unit: 'mg/L', ts: Date.now(), quality: 'good' }]));
    await until('the dashboard to have received all three', async () => (readingsOf(observer).length >= 3 ? true : undefined));
    observer.close();

    const resumed = await SseReader.open(`/api/live?plant=paper-01&token=${admin}`, { 'last-event-id': seen!.id });
    try {
      const replayed = await until('the missed batch', async () => (readingsOf(resumed).length ? readingsOf(resumed) : undefined));
      expect(replayed.map((b) => b.readings[0]?.value)).toEqual([42]);
      expect(resumed.events.some((e) => e.event === 'gap')).toBe(false);
    } finally {
      resumed.close();
    }

    const foreign = await SseReader.open(`/api/live?plant=paper-01&token=${admin}`, { 'last-event-id': 'deadbeef-1' });
    try {
      await until('a gap event', async () => (foreign.events.some((e) => e.event === 'gap') ? true : undefined));
    } finally {
      foreign.close();
    }
  });
});

describe('lifecycle', () => {
  it('stops promptly while live clients are connected, ending their streams', async () => {
    const second = await startDashboard({ registry, tokens, influx: { url: influx.url, database: DB }, mqtt: { url: broker.url }, host: '127.0.0.1', port: await freePort() });
    const res = await fetch(`${second.url}/api/live?token=${admin}`);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read(); // the stream is open
    const started = Date.now();
    await second.stop();
    expect(Date.now() - started).toBeLessThan(3000);
    // The client sees its stream end rather than hang.
    let done = false;
    for (let i = 0; i < 10 && !done; i++) done = (await reader.read()).done;
    expect(done).toBe(true);
  }, 15_000);

  it('refuses to start with tokens scoped to plants or regions the registry does not have', async () => {
    const typo = new TokenStore();
    typo.generate({ name: 'typo', role: 'operator', plants: ['paper-1'] });
    await expect(startDashboard({ registry, tokens: typo, influx: { url: influx.url, database: DB }, mqtt: { url: broker.url }, host: '127.0.0.1', port: 0 })).rejects.toThrow(/tokens\[0\]\.plants\[0\]/);
  });
});

describe('the web page', () => {
  it('serves the page, its script and style at / without a token, with headers that keep the token out of Referer', async () => {
    const page = await fetch(`${dashboard.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await page.text();
    expect(html).toContain('app.js');
    for (const asset of ['/app.js', '/style.css']) {
      const res = await fetch(`${dashboard.url}${asset}`);
      expect(res.status, asset).toBe(200);
      await res.text();
    }
  });
});
