/**
 * The Grafana dashboards (deploy/grafana) against real data: a real influxd filled by replaying the cod-upset scenario
 * through the broker and ingest (the rules stage judging the same feed, so that the alerts measurement has rows too),
 * then rules' history job (rules/jobs.ts, what the rules service schedules) run hourly through the scenario's hours,
 * writing the baselines and the monthly reductions against them as the service would.
 * Every panel's InfluxQL, with its template variables and time override applied as Grafana would, must run and return
 * rows; the baseline panels must show the plant's own baseline; and the committed JSON must be what the generator writes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { loadPlantRegistry } from '../../../core/plants.ts';
import { startBroker, type RunningBroker } from '../../../deploy/broker.ts';
import { interpolate, overriddenRange, panelQueries } from '../../../deploy/grafana/dashboards.ts';
import { DEMO_LIMITS, generatedFiles } from '../../../deploy/grafana/generate.ts';
import { BUILTIN_STANDARDS_DIR, loadLimitsCatalog } from '../../../rules/limits/catalog.ts';
import { parseIngestConfig } from '../../../ingest/config.ts';
import { startIngest, type Ingest } from '../../../ingest/service.ts';
import { loadBaselines } from '../../../rules/baselines.ts';
import { InfluxClient } from '../../../rules/influx.ts';
import { runHistoryJobs } from '../../../rules/jobs.ts';
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
const baselineBook = loadBaselines();
const HOUR = 3_600_000;

let influx: RunningInflux;
let broker: RunningBroker;
let ingest: Ingest;
let rules: RulesService;
const dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-grafana-'));

beforeAll(async () => {
  [influx, broker] = await Promise.all([startInfluxd(), startBroker()]);
  ingest = await startIngest(parseIngestConfig('grafana test ingest', { mqtt: { url: broker.url, protocolVersion: 4 }, influx: { url: influx.url, database: DB }, batch: { maxDelayMs: 100 }, timestamps: { backfill: true } }), { registry });
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
  // rules' history job as its service runs it (hourly by default), at each hour of the scenario's time
  const history = new InfluxClient({ url: influx.url, database: DB, createDatabase: false });
  for (let now = scenario.startMs + HOUR; now <= scenario.startMs + scenario.durationMs; now += HOUR) {
    await runHistoryJobs(history, registry, baselineBook, { reductions: true }, now);
  }
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

  it.each(['plant.json', 'region.json', 'fleet.json', 'limits-paper-01.json', 'limits-dyeing-01.json', 'limits-steel-01.json'])('%s: every panel query returns rows from the replayed scenario', async (file) => {
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
    for (const { panel, refId, query, timeFrom } of queries) {
      const sql = interpolate(query, overriddenRange(values, timeFrom));
      const rows = await influx.query(sql, DB);
      expect(rows.length, `${file} "${panel}" ${refId}: ${sql}`).toBeGreaterThan(0);
    }
  });

  it('draws each plant\'s limits as threshold lines, the same the dashboard page draws (every stack quantity included)', () => {
    const catalog = loadLimitsCatalog([BUILTIN_STANDARDS_DIR, DEMO_LIMITS]);
    const now = Date.now();
    for (const plant of registry.plants) {
      const board = committed(`limits-${plant.id}.json`) as unknown as { panels: { title: string; targets: { query: string }[]; fieldConfig: { defaults: { thresholds?: { steps: { value: number | null }[] }; custom?: { thresholdsStyle?: { mode: string } } } } }[] };
      for (const quantity of ['cod', 'nh3n', 'ph', 'so2', 'nox', 'particulate'] as const) {
        const panel = board.panels.find((p) => p.targets[0]!.query.includes(`mean("${quantity}")`));
        expect(panel, `${plant.id} ${quantity}`).toBeDefined();
        const limit = catalog.limitFor(plant, quantity, now);
        expect(limit, `${plant.id} ${quantity}: a limit in the catalog`).toBeDefined();
        const drawn = (panel!.fieldConfig.defaults.thresholds?.steps ?? []).map((step) => step.value).filter((v): v is number => v !== null);
        expect(drawn, `${plant.id} ${quantity}`).toEqual([limit!.min, limit!.max].filter((v): v is number => v !== undefined));
        expect(panel!.fieldConfig.defaults.custom?.thresholdsStyle?.mode).toBe('dashed');
        expect(panel!.title).toContain(limit!.standard);
      }
    }
  });

  it('shows the plant\'s own baselines next to its actual COD and NH3-N, and its months against the baseline load', async () => {
    const board = committed('plant.json');
    const queries = panelQueries(board);
    const values = { from: scenario.startMs, to: scenario.startMs + scenario.durationMs, interval: '5m', variables: { plant: 'paper-01' } };
    const paper = registry.plant('paper-01')!;
    for (const pollutant of ['cod', 'nh3n'] as const) {
      const own = baselineBook.lookup(paper, pollutant);
      expect(own, `a demo baseline for paper-01 ${pollutant}`).toBeDefined();
      const line = queries.find((q) => q.query.includes('FROM "baselines"') && q.query.includes(`"indicator" = '${pollutant}'`));
      expect(line, `a baseline line on the ${pollutant} panel`).toBeDefined();
      // the panel that draws it also draws the actual concentration
      expect(queries.filter((q) => q.panel === line!.panel).some((q) => q.query.includes(`mean("${pollutant}") FROM "water"`))).toBe(true);
      const rows = await influx.query<{ last: number | null }>(interpolate(line!.query, values), DB);
      const drawn = rows.map((r) => r.last).filter((v): v is number => v !== null);
      expect(drawn.length).toBeGreaterThan(0);
      // the baseline level "plant" is the plant's own value from the baselines data (the query groups by level; the
      // rows of this one-plant demo carry no other level for concentrations)
      expect(new Set(drawn)).toEqual(new Set([own!.value]));
      // the month against its baseline load: what rules counted for June 2024 (CST)
      const monthly = queries.find((q) => q.query.includes('FROM "reductions"') && q.query.includes(`"pollutant" = '${pollutant}'`));
      expect(monthly?.timeFrom).toBeDefined();
      const months = await influx.query<{ month: string; 'discharged / 排放量': number; 'baseline / 基准排放量': number }>(interpolate(monthly!.query, overriddenRange(values, monthly!.timeFrom)), DB);
      const june = months.find((m) => m.month === '2024-06');
      expect(june, JSON.stringify(months)).toBeDefined();
      expect(june!['discharged / 排放量']).toBeGreaterThan(0);
      expect(june!['baseline / 基准排放量']).toBeGreaterThan(0);
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
