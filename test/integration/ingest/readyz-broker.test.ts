/**
 * Ingest's /readyz as a supervisor probes it: 503 saying so while the broker is away (ingest is alive, /healthz stays
 * 200, but it receives nothing), without the broker's address; ready again once it has reconnected by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { startIngest, type Ingest } from '../../../ingest/service.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { freePort } from '../../harness/ports.ts';
import { until } from '../../harness/wait.ts';
import { demoPlants } from '../../harness/plants.ts';

const registry = demoPlants();

describe('ingest /readyz and the broker', () => {
  let influx: RunningInflux;
  let broker: RunningBroker;
  let brokerPort: number;
  let ingest: Ingest;

  beforeAll(async () => {
    brokerPort = await freePort();
    [influx, broker] = await Promise.all([startInfluxd(), startBroker({ port: brokerPort })]);
    ingest = await startIngest({ mqtt: { url: broker.url, protocolVersion: 4 }, clientId: 'ingest-readyz', influx: { url: influx.url, database: 'readyz' }, http: { port: 0 } }, { registry, connectTimeoutMs: 5000 });
  }, 60_000);
  afterAll(async () => {
    await ingest?.stop();
    await broker?.stop();
    await influx?.stop();
  });

  async function probe(pathname: string): Promise<{ status: number; text: string }> {
    const res = await fetch(`${ingest.httpUrl}${pathname}`);
    return { status: res.status, text: await res.text() };
  }

  it('answers 503 while the broker is down and 200 once ingest has reconnected', async () => {
    expect(await probe('/readyz')).toMatchObject({ status: 200 });
    await broker.stop();
    let down = { status: 0, text: '' };
    await until('503 with the broker down', async () => (down = await probe('/readyz')).status === 503, 10_000, 100);
    expect(JSON.parse(down.text)).toEqual({ status: 'not ready', problems: ['not connected to the broker'] });
    expect(down.text).not.toContain(String(brokerPort));
    expect((await probe('/healthz')).status).toBe(200);
    broker = await startBroker({ port: brokerPort });
    await until('ready again', async () => (await probe('/readyz')).status === 200, 15_000, 100);
  }, 40_000);
});
