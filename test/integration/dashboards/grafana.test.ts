/**
 * The Grafana dashboards (deploy/grafana) against real data: a real influxd filled by replaying the cod-upset scenario
 * through the broker and ingest (the rules stage judging the same feed, so that the alerts measurement has rows too),
 * then rules' history job (rules/jobs.ts, what the rules service schedules) run hourly through the scenario's hours,
 * writing the baselines and the monthly reductions against them as the service would.
 * Every panel's InfluxQL, with its template variables and time override applied as Grafana would, must run and return
 * rows; the baseline panels must show the plant's own baseline; and the committed JSON must be what the generator writes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { quantityDef, type QuantityId } from '../../../core/catalog.ts';
import type { BatchReading } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { interpolate, overriddenRange, panelQueries } from '../../../deploy/grafana/dashboards.ts';
import { DEMO_LIMITS, generatedFiles } from '../../../deploy/grafana/generate.ts';
import { BUILTIN_STANDARDS_DIR, loadLimitsCatalog } from '../../../rules/limits/catalog.ts';
import { parseIngestConfig } from '../../../ingest/config.ts';
import { startIngest, type Ingest } from '../../../ingest/service.ts';
import { loadBaselines } from '../../../rules/baselines.ts';
import { createInfluxClient } from '../../../influxdb/client.ts';
import { runHistoryJobs } from '../../../rules/jobs.ts';
import { startRules, type RulesService } from '../../../rules/service.ts';
import { writeFeedFile } from '../../../simulators/feed.ts';
import { loadScenario } from '../../../simulators/scenario.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { replayFixture } from '../../harness/replay.ts';
import { demoPlants } from '../../harness/plants.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const GRAFANA = path.join(ROOT, 'deploy/grafana');
const DB = 'cleanstream';
const registry = demoPlants();
const scenario = loadScenario(path.join(ROOT, 'simulators/scenarios/cod-upset.yaml'));
const baselineBook = loadBaselines();
const HOUR = 3_600_000;

let influx: RunningInflux;
let broker: RunningBroker;
let ingest: Ingest;
let rules: RulesService;
const dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-grafana-'));

const ingestConfig = () =>
  parseIngestConfig('grafana test ingest', { mqtt: { url: broker.url, protocolVersion: 4 }, influx: { url: influx.url, database: DB }, batch: { maxDelayMs: 100 }, timestamps: { backfill: true }, loads: {} });

beforeAll(async () => {
  [influx, broker] = await Promise.all([startInfluxd(), startBroker()]);
  ingest = await startIngest(ingestConfig(), { registry });
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
  // the loads the monthly reductions are summed from: the last minutes are computed when ingest stops
  await ingest.stop();
  // the same ingest (its persistent session) again, for the replay of known figures below
  ingest = await startIngest(ingestConfig(), { registry });
  // rules' history job as its service runs it (hourly by default), at each hour of the scenario's time
  const history = createInfluxClient({ url: influx.url, database: DB, createDatabase: false });
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

/**
 * Four hours of paper-01, one reading a minute of every meter, through the broker and ingest: each quantity holds a
 * constant, each counter rises at a constant rate, and ten COD readings in the middle have no value (bad quality).
 * A CST day's start, so the daily load panels give one day; a year after the cod-upset scenario, so the two replays
 * do not share a panel's time range.
 */
const KNOWN_START = Date.parse('2025-06-04T00:00:00+08:00');
const KNOWN_HOURS = 4;
const KNOWN_MINUTES = KNOWN_HOURS * 60;
const KNOWN: Partial<Record<QuantityId, number>> = { wastewater_flow: 100, cod: 60, nh3n: 5, ph: 7.2, active_power: 500, steam_flow: 2, flue_gas_flow: 1000, o2: 8, so2: 20, nox: 30, particulate: 5, production_rate: 10 };
/** Counters: how much each adds per minute (its rate quantity's constant over 60). */
const PER_MINUTE: Partial<Record<QuantityId, number>> = { wastewater_volume: 100 / 60, active_energy: 500 / 60, production_total: 10 / 60 };
const BAD_COD_MINUTES = new Set([100, 101, 102, 103, 104, 105, 106, 107, 108, 109]);
const KNOWN_RANGE = { from: KNOWN_START, to: KNOWN_START + KNOWN_HOURS * HOUR - 1, interval: '5m', variables: { plant: 'paper-01', region: 'paper-01' } };
/** 5-minute buckets in the range, each with 5 readings: a counter's spread in one is 4 minutes of its rate. */
const BUCKETS = KNOWN_MINUTES / 5;
const COD_BUCKETS_WITHOUT_VALUE = Array.from({ length: BUCKETS }, (_, b) => [0, 1, 2, 3, 4].every((i) => BAD_COD_MINUTES.has(b * 5 + i))).filter(Boolean).length;
const COD_KG_PER_DAY = (KNOWN.cod! * KNOWN.wastewater_flow! * KNOWN_HOURS) / 1000; // mg/L × m3/h × h / 1000 = kg
const NH3N_KG_PER_DAY = (KNOWN.nh3n! * KNOWN.wastewater_flow! * KNOWN_HOURS) / 1000;

function knownFeed(): string {
  const paper = registry.plant('paper-01')!;
  const lines: string[] = [];
  for (let minute = 0; minute < KNOWN_MINUTES; minute++) {
    const ts = KNOWN_START + minute * 60_000;
    const readings: BatchReading[] = paper.meters.flatMap((m) =>
      m.quantities.map((quantity): BatchReading => {
        const unit = quantityDef(quantity).unit;
        if (quantity === 'cod' && BAD_COD_MINUTES.has(minute)) return { meter: m.id, quantity, value: null, unit, ts, quality: 'bad' };
        const value = PER_MINUTE[quantity] !== undefined ? 1_000 + minute * PER_MINUTE[quantity]! : KNOWN[quantity];
        if (value === undefined) throw new Error(`no known figure for ${quantity}`);
        return { meter: m.id, quantity, value, unit, ts, quality: 'good' };
      }),
    );
    const payload = { v: 1, gateway: 'gw-known', plant: 'paper-01', seq: minute, sentAt: ts, readings };
    lines.push(JSON.stringify({ t: ts, topic: topics.readings('paper-01', 'gw-known'), qos: 1, retain: false, payload }));
  }
  const file = path.join(dir, 'known.ndjson');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/**
 * What each panel must show over the known replay, by board, panel title and query: worked out from the figures
 * above, never from the query text (a changed query must not change what it is expected to show). 'no rows': nothing
 * to show (COD 60 and NH3-N 5 are under paper-01's limits, so no alert was raised); 'not here': rows written by rules'
 * history job, checked on the cod-upset replay above. Every panel query needs an entry.
 */
type Expected = { rows: number; columns: Record<string, number | string> } | 'no rows' | 'not here';
const series = (column: string, value: number, rows = BUCKETS): Expected => ({ rows, columns: { [column]: value } });
// fill(none): the 5-minute buckets holding only COD readings without a value have no row
const COD_ROWS = BUCKETS - COD_BUCKETS_WITHOUT_VALUE;
const ENERGY_PER_BUCKET = 4 * PER_MINUTE.active_energy!;
const PRODUCTION_PER_BUCKET = 4 * PER_MINUTE.production_total!;
const KNOWN_PANELS: Record<string, Record<string, Expected>> = {
  'plant.json': {
    'Wastewater flow / 废水流量 A': series('mean', KNOWN.wastewater_flow!),
    'COD / 化学需氧量 A': series('mean', KNOWN.cod!, COD_ROWS),
    'NH3-N / 氨氮 A': series('mean', KNOWN.nh3n!),
    'pH A': series('mean', KNOWN.ph!),
    'COD and NH3-N load per day (kg) / 日排放量 A': series('cod_kg', COD_KG_PER_DAY, 1),
    'COD and NH3-N load per day (kg) / 日排放量 B': series('nh3n_kg', NH3N_KG_PER_DAY, 1),
    'COD readings received / with a value / 数据完整性 A': series('count', KNOWN_MINUTES, 1),
    'COD readings received / with a value / 数据完整性 B': series('count', KNOWN_MINUTES - BAD_COD_MINUTES.size, 1),
    'COD against baselines / 化学需氧量与基准值 A': series('mean', KNOWN.cod!, COD_ROWS),
    'COD against baselines / 化学需氧量与基准值 B': 'not here',
    'NH3-N against baselines / 氨氮与基准值 A': series('mean', KNOWN.nh3n!),
    'NH3-N against baselines / 氨氮与基准值 B': 'not here',
    'COD per month against baseline (t) / 月COD排放量与基准 A': 'not here',
    'NH3-N per month against baseline (t) / 月氨氮排放量与基准 A': 'not here',
    'Baselines in force / 现行基准值 A': 'not here',
    'Active power / 有功功率 A': series('mean', KNOWN.active_power!),
    'Energy per interval / 用电量 A': series('spread', ENERGY_PER_BUCKET),
    'Production rate / 产量速率 A': series('mean', KNOWN.production_rate!),
    'Production per interval / 产量 A': series('spread', PRODUCTION_PER_BUCKET),
    'SO2 / NOx / particulate (mg/m3) A': { rows: BUCKETS, columns: { so2: KNOWN.so2!, nox: KNOWN.nox!, particulate: KNOWN.particulate! } },
    'O2 / 氧含量 A': series('mean', KNOWN.o2!),
    'Alert transitions / 报警记录 A': 'no rows',
  },
  'region.json': {
    'Last COD, NH3-N and pH per plant / 各企业最新值 A': { rows: 1, columns: { cod: KNOWN.cod!, nh3n: KNOWN.nh3n!, ph: KNOWN.ph! } },
    'COD per plant / 化学需氧量 A': series('mean', KNOWN.cod!, COD_ROWS),
    'NH3-N per plant / 氨氮 A': series('mean', KNOWN.nh3n!),
    'COD load per day and plant (kg) / 日COD排放量 A': series('cod_kg', COD_KG_PER_DAY, 1),
    'Alerts raised per plant / 报警次数 A': 'no rows',
  },
  'fleet.json': {
    'Last reading per plant / 各企业最新数据 A': { rows: 1, columns: { cod_quality: 'good', cod: KNOWN.cod! } },
    'COD load per day (kg) / 日COD排放量 A': series('cod_kg', COD_KG_PER_DAY, 1),
    'Active power per plant / 有功功率 A': series('mean', KNOWN.active_power!),
    'NOx per plant / 氮氧化物 A': series('mean', KNOWN.nox!),
    'Alerts raised / 报警次数 A': 'no rows',
  },
};

describe('Grafana dashboards over a replay whose figures are known', () => {
  beforeAll(async () => {
    const before = ingest.stats().writtenReadings;
    const file = knownFeed();
    const perMinute = registry.plant('paper-01')!.meters.reduce((n, m) => n + m.quantities.length, 0);
    const replay = await replayFixture(broker.url, file);
    expect(replay.messages).toBe(KNOWN_MINUTES);
    await ingest.flush();
    const deadline = Date.now() + 30_000;
    while (ingest.stats().writtenReadings < before + KNOWN_MINUTES * perMinute && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(ingest.stats().writtenReadings, JSON.stringify(ingest.stats())).toBe(before + KNOWN_MINUTES * perMinute);
    await rules.flush();
  }, 60_000);

  it.each(['plant.json', 'region.json', 'fleet.json'])('%s: every panel shows the figures the replay was built with', async (file) => {
    const queries = panelQueries(committed(file));
    expect(queries.map((q) => `${q.panel} ${q.refId}`).sort()).toEqual(Object.keys(KNOWN_PANELS[file]!).sort());
    for (const { panel, refId, query, timeFrom } of queries) {
      const expected = KNOWN_PANELS[file]![`${panel} ${refId}`]!;
      if (expected === 'not here') continue;
      const sql = interpolate(query, overriddenRange(KNOWN_RANGE, timeFrom));
      const rows = await influx.query<Record<string, unknown>>(sql, DB);
      const label = `${file} "${panel}" ${refId}: ${sql}`;
      if (expected === 'no rows') {
        expect(rows, label).toEqual([]);
        continue;
      }
      expect(rows, label).toHaveLength(expected.rows);
      for (const row of rows) {
        for (const [column, value] of Object.entries(expected.columns)) {
          if (typeof value === 'string') expect(row[column], `${label} ${column}`).toBe(value);
          else expect(row[column] as number, `${label} ${column}`).toBeCloseTo(value, 6);
        }
      }
    }
  });
});
