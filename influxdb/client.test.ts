import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { InfluxConnection } from '../core/config.ts';
import { createInfluxClient, InfluxError } from './client.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

type Responder = (req: Seen, res: ServerResponse) => void;

/** A stand-in for InfluxDB's HTTP API that answers from a script, one responder per request (the last repeats). */
async function fakeInflux(script: Responder[]): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const entry: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, at: Date.now() };
      seen.push(entry);
      (script[seen.length - 1] ?? script[script.length - 1]!)(entry, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

const answer = (status: number, body = '', headers: Record<string, string> = {}): Responder => (_req, res) => {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(body);
};
const ok = answer(204);

function connection(url: string, extra: Partial<InfluxConnection> = {}): InfluxConnection {
  return { url, database: 'cleanstream', createDatabase: false, ...extra };
}

const fast = { retry: { initialDelayMs: 5, maxDelayMs: 2000, maxAttempts: 5 } };

describe('InfluxDB v1 client: writes', () => {
  it('sends lines given as UTF-8 bytes (a spooled batch) as they are, plain text, or gzipped when configured', async () => {
    const fake = await fakeInflux([ok]);
    const lines = 'water,meter=m,plant=p cod=1 1\nwater,meter=m,plant=p note="é" 2';
    await createInfluxClient(connection(fake.url)).write(Buffer.from(lines));
    expect(fake.seen[0]!.body).toBe(lines);
    expect(fake.seen[0]!.headers['content-type']).toMatch(/^text\/plain/);
    expect(fake.seen[0]!.headers['content-encoding']).toBeUndefined();
    await createInfluxClient(connection(fake.url), { gzipLevel: 1 }).write(Buffer.from(lines));
    expect(fake.seen[1]!.headers['content-encoding']).toBe('gzip');
  });

  it('POSTs lines to /write with the database, ms precision and retention policy', async () => {
    const fake = await fakeInflux([ok]);
    const writer = createInfluxClient(connection(fake.url, { retentionPolicy: 'one year' }));
    await writer.write('water,meter=m,plant=p cod=1 1');
    expect(fake.seen).toHaveLength(1);
    const [req] = fake.seen;
    expect(req!.method).toBe('POST');
    const url = new URL(req!.url, fake.url);
    expect(url.pathname).toBe('/write');
    expect(Object.fromEntries(url.searchParams)).toEqual({ db: 'cleanstream', precision: 'ms', rp: 'one year' });
    expect(req!.body).toBe('water,meter=m,plant=p cod=1 1');
    expect(req!.headers.authorization).toBeUndefined();
  });

  it('authenticates with basic auth for username/password and a Token header for a token', async () => {
    const fake = await fakeInflux([ok]);
    await createInfluxClient(connection(fake.url, { username: 'ingest', password: 'p:ss' })).write('x f=1 1');
    await createInfluxClient(connection(fake.url, { token: 'tok-123' })).write('x f=1 1');
    expect(fake.seen[0]!.headers.authorization).toBe(`Basic ${Buffer.from('ingest:p:ss').toString('base64')}`);
    expect(fake.seen[1]!.headers.authorization).toBe('Token tok-123');
    expect(fake.seen.every((s) => !s.url.includes('p:ss') && !s.url.includes('tok-123'))).toBe(true);
  });

  it('retries a 503 after the Retry-After the server asked for, then succeeds', async () => {
    const fake = await fakeInflux([answer(503, '{"error":"busy"}', { 'Retry-After': '1' }), ok]);
    const writer = createInfluxClient(connection(fake.url), fast);
    await writer.write('x f=1 1');
    expect(fake.seen).toHaveLength(2);
    expect(fake.seen[1]!.at - fake.seen[0]!.at).toBeGreaterThanOrEqual(950);
    expect(fake.seen[1]!.body).toBe('x f=1 1');
  });

  it('retries 5xx, 429 and refused connections with backoff, and reports the last failure with its context', async () => {
    const fake = await fakeInflux([answer(500, '{"error":"timeout"}'), answer(429, '{"error":"slow down"}'), answer(502, 'bad gateway')]);
    const writer = createInfluxClient(connection(fake.url), { retry: { initialDelayMs: 5, maxAttempts: 4 } });
    const err = await writer.write('x f=1 1').catch((e: unknown) => e);
    expect(fake.seen).toHaveLength(4);
    expect(err).toBeInstanceOf(InfluxError);
    expect(err).toMatchObject({ kind: 'unavailable', status: 502, body: 'bad gateway', retryable: true, code: 'INFLUX_UNAVAILABLE' });
    expect((err as InfluxError).context).toMatchObject({ url: writer.writeUrl, attempts: 4 });

    fake.server.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const down = await createInfluxClient(connection(fake.url), { retry: { initialDelayMs: 5, maxAttempts: 3 } })
      .write('x f=1 1')
      .catch((e: unknown) => e);
    expect(down).toMatchObject({ kind: 'unavailable', retryable: true });
    expect((down as Error).message).toMatch(/cannot reach/);
  });

  it('does not retry a 400 and returns the server message', async () => {
    const message = 'partial write: field type conflict: input field "cod" on measurement "water" is type string, already exists as type float dropped=1';
    const fake = await fakeInflux([answer(400, JSON.stringify({ error: message }))]);
    const err = await createInfluxClient(connection(fake.url), fast).write('water cod="x" 1').catch((e: unknown) => e);
    expect(fake.seen).toHaveLength(1);
    expect(err).toMatchObject({ kind: 'rejected', status: 400, retryable: false, code: 'INFLUX_REJECTED' });
    expect((err as Error).message).toContain(message);
  });

  it('creates the database on a 404 "database not found" and writes again', async () => {
    const fake = await fakeInflux([answer(404, '{"error":"database not found: \\"cleanstream\\""}'), answer(200, '{"results":[{"statement_id":0}]}'), ok]);
    await createInfluxClient(connection(fake.url, { createDatabase: true }), fast).write('x f=1 1');
    expect(fake.seen.map((s) => new URL(s.url, fake.url).pathname)).toEqual(['/write', '/query', '/write']);
    expect(new URLSearchParams(fake.seen[1]!.body).get('q')).toBe('CREATE DATABASE "cleanstream"');
  });

  it('reports a missing database when it may not create it', async () => {
    const fake = await fakeInflux([answer(404, '{"error":"database not found: \\"cleanstream\\""}')]);
    const err = await createInfluxClient(connection(fake.url), fast).write('x f=1 1').catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'missing_database', status: 404 });
    expect(fake.seen).toHaveLength(1);
  });

  it('start() creates the database with a quoted identifier', async () => {
    const fake = await fakeInflux([answer(200, '{"results":[{"statement_id":0}]}')]);
    await createInfluxClient({ url: fake.url, database: 'plant "a"', createDatabase: true }).start();
    expect(new URLSearchParams(fake.seen[0]!.body).get('q')).toBe('CREATE DATABASE "plant \\"a\\""');
  });

  it('stops retrying when aborted', async () => {
    const fake = await fakeInflux([answer(503)]);
    const controller = new AbortController();
    const pending = createInfluxClient(connection(fake.url), { retry: { initialDelayMs: 1000, maxDelayMs: 1000, maxAttempts: 100 } }).write('x f=1 1', controller.signal);
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ kind: 'aborted' });
    expect(fake.seen.length).toBeLessThan(3);
  });
});

describe('InfluxDB v1 client: queries', () => {
  const results = (...statements: unknown[]): string => JSON.stringify({ results: statements.map((series, i) => ({ statement_id: i, ...(series ? { series } : {}) })) });

  it('GETs /query with the database, ms epochs, the retention policy and the statements, authenticated', async () => {
    const fake = await fakeInflux([answer(200, results([{ name: 'water', tags: { plant: 'p' }, columns: ['time', 'cod'], values: [[1, 52.4]] }], undefined))]);
    const client = createInfluxClient(connection(fake.url, { token: 'tok-123', retentionPolicy: 'rollup_1h' }));
    const [first, second] = await client.query(['SELECT last("cod") FROM "water" GROUP BY "plant"', 'SELECT * FROM "loads"']);
    expect(first).toEqual([{ name: 'water', tags: { plant: 'p' }, columns: ['time', 'cod'], values: [[1, 52.4]] }]);
    expect(second).toEqual([]);
    const url = new URL(fake.seen[0]!.url, fake.url);
    expect(fake.seen[0]!.method).toBe('GET');
    expect(url.pathname).toBe('/query');
    expect(Object.fromEntries(url.searchParams)).toEqual({ db: 'cleanstream', epoch: 'ms', rp: 'rollup_1h', q: 'SELECT last("cod") FROM "water" GROUP BY "plant";\nSELECT * FROM "loads"' });
    expect(fake.seen[0]!.headers.authorization).toBe('Token tok-123');
  });

  it('fails a query the server refuses, or answers with something that is not its JSON, as INFLUX_QUERY, and one that gets no answer as INFLUX_UNREACHABLE', async () => {
    const fake = await fakeInflux([answer(200, JSON.stringify({ results: [{ statement_id: 0, error: 'error parsing query: found FORM' }] })), answer(502, '<html>bad gateway</html>')]);
    const client = createInfluxClient(connection(fake.url));
    await expect(client.queryOne('SELECT * FORM water')).rejects.toMatchObject({ code: 'INFLUX_QUERY', kind: 'rejected', retryable: false, message: expect.stringContaining('found FORM') });
    await expect(client.queryOne('SELECT * FROM water')).rejects.toMatchObject({ code: 'INFLUX_QUERY', status: 502, message: expect.stringContaining('non-JSON') });
    fake.server.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(client.queryOne('SELECT * FROM water')).rejects.toMatchObject({ code: 'INFLUX_UNREACHABLE', kind: 'unavailable', retryable: true });
    expect(await client.ping(500)).toBe(false);
  });
});
