import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { TransportError } from '../core/errors.ts';
import { AlertWriter } from './influx.ts';
import { harness, T0 } from './test-support.ts';

const PH_FLOOR = [{ id: 'ph-range', kind: 'limit', severity: 'major', selector: { quantity: 'ph' }, limit: 'catalog' }];

/** A raise and a clear of paper-01's effluent pH, as the engine makes them. */
function transitions() {
  const h = harness(PH_FLOOR);
  h.feed([
    { meter: 'outfall-1-ph', quantity: 'ph', unit: 'pH', ts: T0, v: 5.5, now: T0 + 500 },
    { meter: 'outfall-1-ph', quantity: 'ph', unit: 'pH', ts: T0 + 10_000, v: 7, now: T0 + 10_500 },
  ]);
  expect(h.transitions.map((t) => t.transition)).toEqual(['raised', 'cleared']);
  return h.transitions;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** InfluxDB's /write answering from a script (the last answer repeats), recording each body. */
async function fakeWrite(answers: [number, string][]): Promise<{ url: string; bodies: string[] }> {
  const bodies: string[] = [];
  const server = createServer((req, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      bodies.push(body);
      const [status, text] = answers[Math.min(bodies.length, answers.length) - 1]!;
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies };
}

describe('alert rows to InfluxDB', () => {
  it('keeps the rows while InfluxDB fails, backs off its periodic flushes, and writes them all once it answers', async () => {
    const fake = await fakeWrite([[503, '{"error":"busy"}'], [204, '']]);
    const errors: TransportError[] = [];
    const aMinute = { initialMs: 60_000, maxMs: 60_000 };
    const writer = new AlertWriter({ url: fake.url, database: 'cleanstream', createDatabase: false }, (err) => errors.push(err), 100_000, aMinute);
    for (const t of transitions()) writer.push(t);

    await writer.flush();
    expect(writer.stats).toMatchObject({ written: 0, pending: 2, dropped: 0, errors: 1 });
    expect(errors.map((e) => e.code)).toEqual(['INFLUX_UNAVAILABLE']);
    await writer.flush(); // backing off: no request until a minute has passed, or a forced flush (at stop)
    expect(fake.bodies).toHaveLength(1);

    await writer.flush(true);
    expect(writer.stats).toMatchObject({ written: 2, pending: 0, dropped: 0, errors: 1 });
    expect(fake.bodies[1]!.split('\n')).toHaveLength(2);
    expect(fake.bodies[1]).toMatch(/^alerts,meter=outfall-1-ph,plant=paper-01,rule=ph-range,severity=major state="raised",transition="raised",id="ph-range.paper-01.outfall-1-ph.\d+",count=1i,value=5.5,limit=6/);
  });

  it('drops and counts rows InfluxDB refuses (400), which no retry can fix', async () => {
    const fake = await fakeWrite([[400, '{"error":"partial write: field type conflict dropped=2"}']]);
    const errors: TransportError[] = [];
    const writer = new AlertWriter({ url: fake.url, database: 'cleanstream', createDatabase: false }, (err) => errors.push(err));
    for (const t of transitions()) writer.push(t);
    await writer.flush();
    expect(writer.stats).toMatchObject({ written: 0, pending: 0, dropped: 2, errors: 1 });
    expect(errors[0]).toMatchObject({ code: 'INFLUX_REJECTED', message: expect.stringContaining('field type conflict') });
  });

  it('keeps the rows when the database is missing and may not be created', async () => {
    const fake = await fakeWrite([[404, '{"error":"database not found: \\"cleanstream\\""}']]);
    const errors: TransportError[] = [];
    const writer = new AlertWriter({ url: fake.url, database: 'cleanstream', createDatabase: false }, (err) => errors.push(err));
    for (const t of transitions()) writer.push(t);
    await writer.flush();
    expect(writer.stats).toMatchObject({ written: 0, pending: 2, dropped: 0, errors: 1 });
    expect(errors[0]).toMatchObject({ code: 'INFLUX_MISSING_DATABASE' });
  });
});
