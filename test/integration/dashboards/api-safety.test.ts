/**
 * What the dashboard's HTTP surface promises beyond its data, over real sockets (a real influxd, the embedded broker,
 * the dashboard on a loopback port): every parameter out of its range is a 400 naming the field; a failing InfluxDB
 * answers 502/503 with a code and never its address or database name; every response carries the security headers;
 * the API documentation needs a token unless configured public; the static route serves the web assets only.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { TokenStore } from '../../../dashboards/auth.ts';
import { startDashboard, type RunningDashboard } from '../../../dashboards/server.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { freePort } from '../../harness/ports.ts';
import { demoPlants } from '../../harness/plants.ts';

const DB = 'api_safety';
const registry = demoPlants();
const tokens = new TokenStore();
const admin = tokens.generate({ name: 'admin', role: 'admin' }).token;

let influx: RunningInflux;
let broker: RunningBroker;
let dashboard: RunningDashboard;
const extra: RunningDashboard[] = [];

interface Answer {
  status: number;
  text: string;
  body: Record<string, unknown>;
  headers: Headers;
}

async function get(base: string, path: string, headers: Record<string, string> = { authorization: `Bearer ${admin}` }): Promise<Answer> {
  const res = await fetch(`${base}${path}`, { headers, redirect: 'manual' });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // HTML, CSV, JavaScript
  }
  return { status: res.status, text, body, headers: res.headers };
}

async function dashboardOn(influxUrl: string, database: string, docsPublic = false): Promise<RunningDashboard> {
  const d = await startDashboard({ registry, tokens, influx: { url: influxUrl, database }, mqtt: { url: broker.url }, host: '127.0.0.1', port: await freePort(), docsPublic });
  extra.push(d);
  return d;
}

beforeAll(async () => {
  [influx, broker] = await Promise.all([startInfluxd(), startBroker()]);
  await influx.exec(`CREATE DATABASE "${DB}"`);
  dashboard = await startDashboard({ registry, tokens, influx: { url: influx.url, database: DB }, mqtt: { url: broker.url }, host: '127.0.0.1', port: await freePort() });
});

afterAll(async () => {
  for (const d of extra) await d.stop();
  await dashboard?.stop();
  await broker?.stop();
  await influx?.stop();
});

describe('parameters out of range', () => {
  const NOW = Date.now();
  const cases: [path: string, field: string][] = [
    ['/api/plants/paper-01/series?quantity=cod&to=9223372036854775807', 'to'],
    ['/api/plants/paper-01/series?quantity=cod&from=9223372036854775807', 'from'],
    ['/api/plants/paper-01/series?quantity=cod&every=999999999d', 'every'],
    [`/api/plants/paper-01/series?quantity=cod&from=${NOW - 3_600_000}&to=${NOW}&every=2h`, 'every'],
    ['/api/plants/paper-01/series?quantity=cod&every=500ms', 'every'],
    ['/api/plants/paper-01/series?quantity=cod&from=0', 'from'],
    [`/api/plants/paper-01/series?quantity=cod&to=${NOW + 2 * 86_400_000}`, 'to'],
    [`/api/plants/paper-01/series?quantity=cod&from=${NOW - 1000}&to=${NOW - 2000}`, 'from'],
    ['/api/plants/paper-01/series?quantity=vibranium', 'quantity'],
    ['/api/plants/paper-01/series', 'quantity'],
    ['/api/plants/paper-01/series?quantity=cod&meter=outfall-1-ph', 'meter'],
    ['/api/plants/paper-01/limits?at=9223372036854775807', 'at'],
    ['/api/plants/paper-01/limits?at=5', 'at'],
    ['/api/alerts?to=9223372036854775807', 'to'],
    ['/api/alerts?from=1', 'from'],
    ['/api/alerts/history?to=9223372036854775807', 'to'],
    ['/api/alerts/history?from=-5', 'from'],
    ['/api/alerts/history?limit=100000', 'limit'],
    ['/api/alerts/history?id=not-an-alert-id', 'id'],
    ['/api/reductions?from=1999-12', 'from'],
    ['/api/reductions?to=9999-12', 'to'],
    ['/api/reductions?from=2024-13', 'from'],
    ['/api/reductions?from=2020-01&to=2024-01', 'from'],
    [`/api/baselines?indicator=${'x'.repeat(100)}`, 'indicator'],
    ['/api/overview?region=Not%20An%20Id', 'region'],
    ['/api/live?types=everything', 'types'],
  ];

  it.each(cases)('%s answers 400 naming %s', async (path, field) => {
    const answer = await get(dashboard.url, path);
    expect(answer.status, answer.text).toBe(400);
    expect(answer.body).toMatchObject({ statusCode: 400, field });
    expect(answer.body.code).toEqual(expect.any(String));
    expect(answer.body.message).toEqual(expect.any(String));
  });

  it('still answers a window at the edges of the range', async () => {
    const to = Date.now() + 86_400_000 - 60_000;
    const ok = await get(dashboard.url, `/api/plants/paper-01/series?quantity=cod&from=${to - 3_600_000}&to=${to}&every=1h`);
    expect(ok.status, ok.text).toBe(200);
    expect((await get(dashboard.url, '/api/alerts/history?from=946684800000&to=946771200000')).status).toBe(200);
  });
});

describe('a failing InfluxDB', () => {
  let refusing: Server;
  let refusingPort: number;
  const routes = [
    '/api/plants/paper-01/latest',
    '/api/plants/paper-01/series?quantity=cod',
    '/api/alerts/history',
    '/api/overview',
    '/api/baselines',
    '/api/reductions',
    '/api/reductions?format=csv',
  ];

  beforeAll(async () => {
    refusingPort = await freePort();
    // An InfluxDB behind a proxy that fails, saying where it is (as proxies and InfluxDB's own errors do).
    refusing = createServer((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`upstream influx-7.plant.internal:8086 failed for database "history_secret" (localhost:${refusingPort})`);
    });
    await new Promise<void>((resolve) => refusing.listen(refusingPort, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => refusing?.close(resolve));
  });

  async function answersOf(d: RunningDashboard): Promise<Answer[]> {
    return Promise.all(routes.map((path) => get(d.url, path)));
  }

  function expectNothingInternal(answers: Answer[], secrets: string[]): void {
    for (const answer of answers) {
      const everything = `${answer.text}\n${[...answer.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}`;
      for (const secret of secrets) expect(everything, `an answer names ${secret}`).not.toContain(secret);
    }
  }

  it('down (nothing listening): 503 with a code and a generic message', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const answers = await answersOf(await dashboardOn(url, 'secret_db_down'));
    for (const answer of answers) {
      expect(answer.status, answer.text).toBe(503);
      expect(answer.body).toMatchObject({ code: 'INFLUX_UNREACHABLE', message: expect.any(String) });
    }
    expectNothingInternal(answers, [url, '127.0.0.1', String(port), 'secret_db_down']);
  });

  it('refusing a query (a database it does not have): 502, without the database name', async () => {
    const answers = await answersOf(await dashboardOn(influx.url, 'secret_db_missing'));
    for (const answer of answers) {
      expect(answer.status, answer.text).toBe(502);
      expect(answer.body).toMatchObject({ code: 'INFLUX_QUERY' });
    }
    expectNothingInternal(answers, [influx.url, '127.0.0.1', String(new URL(influx.url).port), 'secret_db_missing']);
  });

  it('answering 500 with a body naming hosts: 502, repeating none of it', async () => {
    const url = `http://localhost:${refusingPort}`;
    const answers = await answersOf(await dashboardOn(url, 'secret_db_500'));
    for (const answer of answers) {
      expect(answer.status, answer.text).toBe(502);
      expect(answer.body).toMatchObject({ code: 'INFLUX_QUERY' });
    }
    expectNothingInternal(answers, [url, 'localhost', String(refusingPort), 'secret_db_500', 'influx-7', 'history_secret', '8086']);
  });
});

describe('security headers', () => {
  const expectBase = (answer: Answer, what: string): void => {
    expect(answer.headers.get('x-content-type-options'), what).toBe('nosniff');
    expect(answer.headers.get('x-frame-options'), what).toBe('DENY');
    expect(answer.headers.get('referrer-policy'), what).toBe('no-referrer');
    expect(answer.headers.get('content-security-policy'), what).toContain("frame-ancestors 'none'");
  };

  it('on JSON, errors, 404s, health, scripts and styles', async () => {
    const answers: [string, Answer][] = [
      ['/api/plants', await get(dashboard.url, '/api/plants')],
      ['401', await get(dashboard.url, '/api/plants', {})],
      ['400', await get(dashboard.url, '/api/plants/paper-01/series?quantity=cod&every=1x')],
      ['404', await get(dashboard.url, '/nothing-here')],
      ['/healthz', await get(dashboard.url, '/healthz', {})],
      ['/app.js', await get(dashboard.url, '/app.js', {})],
      ['/style.css', await get(dashboard.url, '/style.css', {})],
      ['/vendor/uplot/uPlot.iife.min.js', await get(dashboard.url, '/vendor/uplot/uPlot.iife.min.js', {})],
      ['/docs/json', await get(dashboard.url, '/docs/json')],
    ];
    for (const [what, answer] of answers) expectBase(answer, what);
    expect(answers[0]![1].headers.get('content-security-policy')).toContain("default-src 'none'");
  });

  it('on the live event stream', async () => {
    const controller = new AbortController();
    const res = await fetch(`${dashboard.url}/api/live?token=${admin}`, { signal: controller.signal });
    expect(res.status).toBe(200);
    expectBase({ status: res.status, text: '', body: {}, headers: res.headers }, '/api/live');
    controller.abort();
  });

  it('on the web page and the API documentation, each with a policy it satisfies', async () => {
    const page = await get(dashboard.url, '/', {});
    expectBase(page, '/');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(page.headers.get('content-security-policy')).not.toContain('unsafe');
    const docs = await get(dashboard.url, '/docs/');
    expect(docs.status).toBe(200);
    expectBase(docs, '/docs/');
    expect(docs.headers.get('content-security-policy')).toContain("script-src 'self'");
  });
});

describe('the API documentation', () => {
  it('needs a token by default, in a header or once in the address then in a cookie sent only to /docs', async () => {
    for (const path of ['/docs', '/docs/', '/docs/json', '/docs/yaml', '/docs/static/swagger-initializer.js']) {
      expect((await get(dashboard.url, path, {})).status, path).toBe(401);
      expect((await get(dashboard.url, path, { authorization: 'Bearer cs_wrong' })).status, path).toBe(401);
    }
    expect((await get(dashboard.url, '/docs/json')).status).toBe(200);

    const arrival = await get(dashboard.url, `/docs?token=${admin}`, {});
    expect(arrival.status).toBe(303);
    expect(arrival.headers.get('location')).toBe('/docs/');
    const cookie = arrival.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^cleanstream_docs=[^;]+; Path=\/docs; HttpOnly; SameSite=Lax$/);
    const sent = cookie.split(';')[0]!;
    const spec = await get(dashboard.url, '/docs/json', { cookie: sent });
    expect(spec.status).toBe(200);
    expect(spec.body.openapi).toMatch(/^3\./);
    expect((await get(dashboard.url, '/docs/', { cookie: sent })).text).toContain('swagger-ui');
    // the cookie is for the documentation only, not a way into the API
    expect((await get(dashboard.url, '/api/plants', { cookie: sent })).status).toBe(401);
    expect((await get(dashboard.url, '/docs/json', { cookie: 'cleanstream_docs=cs_wrong' })).status).toBe(401);
  });

  it('is open to anyone when configured public', async () => {
    const open = await dashboardOn(influx.url, DB, true);
    expect((await get(open.url, '/docs/json', {})).status).toBe(200);
    expect((await get(open.url, '/docs/', {})).status).toBe(200);
    expect((await get(open.url, '/api/plants', {})).status).toBe(401);
  });

  it.skipIf(!existsSync('/usr/bin/chromium'))('renders in chromium under its content security policy', async () => {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    try {
      const page = await browser.newPage();
      const violations: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) violations.push(message.text());
      });
      await page.goto(`${dashboard.url}/docs?token=${admin}`);
      expect(new URL(page.url()).pathname).toBe('/docs/');
      expect(page.url()).not.toContain('token');
      await page.locator('.swagger-ui .info .title').filter({ hasText: 'cleanstream dashboard API' }).waitFor({ timeout: 15_000 });
      await page.locator('.opblock-summary-path', { hasText: '/api/plants/{plant}/series' }).first().waitFor({ timeout: 5000 });
      expect(violations).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 30_000);
});

describe('the static route', () => {
  it('serves the page, its modules and styles', async () => {
    for (const path of ['/', '/index.html', '/app.js', '/api.js', '/chart-data.js', '/style.css']) {
      expect((await get(dashboard.url, path, {})).status, path).toBe(200);
    }
  });

  it('serves nothing else from the web folder or beyond', async () => {
    for (const path of ['/chart-data.test.ts', '/chart-data.d.ts', '/%2e%2e/package.json', '/../package.json', '/.gitignore', '/web/app.js']) {
      const answer = await get(dashboard.url, path, {});
      expect(answer.status, path).toBe(404);
      expect(answer.text, path).not.toContain('import ');
    }
  });
});
