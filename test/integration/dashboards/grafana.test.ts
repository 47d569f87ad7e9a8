/**
 * The Grafana dashboards (deploy/grafana) against real data: a real influxd filled by replaying the cod-upset scenario
 * through the broker and ingest (the rules stage judging the same feed, so that the alerts measurement has rows too).
 * Every panel's InfluxQL, with its template variables substituted as Grafana would, must run and return rows; and
 * the committed JSON must be what the generator writes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { loadPlantRegistry } from '../../../core/plants.ts';
import { startBroker, type RunningBroker } from '../../../deploy/broker.ts';
import { interpolate, panelQueries } from '../../../deploy/grafana/dashboards.ts';
import { generatedFiles } from '../../../deploy/grafana/generate.ts';
import { parseIngestConfig } from '../../../ingest/config.ts';
import { startIngest, type Ingest } from '../../../ingest/service.ts';
import { startRules, type RulesService } from '../../../rules/service.ts';
import { writeFeedFile } from '../../../simulators/feed.ts';
import { loadScenario } from '../../../simulators/scenario.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { replayFixture } from '../../harness/replay.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const GRAFANA = path.join(ROOT, 'deploy/grafana');
const DB = 'cleanstream';
const registry = loadPlantRegistry(path.join(ROOT, 'deploy/demo/plants.yaml'));
const scenario = loadScenario(path.join(ROOT, 'simulators/scenarios/cod-upset.yaml'));

let influx: RunningInflux;
let broker: RunningBroker;
let ingest: Ingest;
let rules: RulesService;
const dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-grafana-'));

beforeAll(async () => {
  [influx, broker] = await Promise.all([startInfluxd(), startBroker()]);
  ingest = await startIngest(parseIngestConfig('grafana test ingest', { mqtt: { url: broker.url, protocolVersion: 4 }, influx: { url: influx.url, database: DB }, batch: { maxDelayMs: 100 } }), { registry });
  rules = await startRules(
    {
      mqtt: { url: broker.url, protocolVersion: 4 },
      influx: { url: influx.url, database: DB },
      rules: [{ id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: 'catalog', clear: { deadbandPct: 5 } }],
    },
    { registry, logger: pino({ level: 'silent' }) },
  );
  const feed = path.join(dir, 'cod-upset.ndjson');
  const written = await writeFeedFile(scenario, feed);
  const replay = await replayFixture(broker.url, feed);
  expect(replay.messages).toBe(written.messages);
  await ingest.flush();
  // ingest acknowledges after the write; wait until InfluxDB holds every reading the feed carried
  const deadline = Date.now() + 30_000;
  while (ingest.stats().writtenReadings < written.readings && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(ingest.stats().writtenReadings).toBe(written.readings);
  await rules.flush();
}, 90_000);

afterAll(async () => {
  await rules?.stop();
  await ingest?.stop();
  await broker?.stop();
  await influx?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const committed = (file: string) => JSON.parse(readFileSync(path.join(GRAFANA, 'dashboards', file), 'utf8')) as { uid: string; panels: unknown[]; templating?: { list: { name: string }[] } };

describe('Grafana dashboards', () => {
  it('are committed as the generator writes them, with provisioning for an InfluxQL datasource', () => {
    for (const [relative, content] of generatedFiles(registry)) expect(readFileSync(path.join(GRAFANA, relative), 'utf8'), relative).toBe(content);
    const datasource = readFileSync(path.join(GRAFANA, 'provisioning/datasources/cleanstream.yaml'), 'utf8');
    expect(datasource).toMatch(/type: influxdb/);
    expect(datasource).toMatch(/dbName: /);
  });

  it.each(['plant.json', 'region.json', 'fleet.json'])('%s: every panel query returns rows from the replayed scenario', async (file) => {
    const board = committed(file);
    const queries = panelQueries(board);
    expect(queries.length).toBeGreaterThan(2);
    const values = {
      from: scenario.startMs,
      to: scenario.startMs + scenario.durationMs,
      interval: '5m',
      // paper-01 had the COD upset; hebei is its region (the region variable's value is a regex of plant ids)
      variables: { plant: 'paper-01', region: 'paper-01' },
    };
    for (const { panel, refId, query } of queries) {
      const sql = interpolate(query, values);
      const rows = await influx.query(sql, DB);
      expect(rows.length, `${file} "${panel}" ${refId}: ${sql}`).toBeGreaterThan(0);
    }
  });

  it('computes the same daily COD load as the API\'s method would from the same hours', async () => {
    const board = committed('plant.json');
    const load = panelQueries(board).find((q) => q.query.includes('"cod_kg"'));
    expect(load).toBeDefined();
    const sql = interpolate(load!.query, { from: scenario.startMs, to: scenario.startMs + scenario.durationMs, interval: '5m', variables: { plant: 'paper-01' } });
    const [day] = await influx.query<{ cod_kg: number }>(sql, DB);
    const hourly = await influx.query<{ c: number | null; f: number | null }>(
      `SELECT mean("cod") AS "c", mean("wastewater_flow") AS "f" FROM "water" WHERE "plant" = 'paper-01' AND time >= ${scenario.startMs}ms AND time <= ${scenario.startMs + scenario.durationMs}ms GROUP BY time(1h)`,
      DB,
    );
    const expected = hourly.reduce((sum, h) => sum + (h.c !== null && h.f !== null ? (h.c * h.f) / 1000 : 0), 0);
    expect(day?.cod_kg).toBeCloseTo(expected, 6);
    expect(expected).toBeGreaterThan(0);
  });
});
