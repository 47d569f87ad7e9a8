/**
 * Reductions on the API, checked against an independent integration of the feed they came from. A recorded feed of
 * dyeing-01's outfall (flow every second, COD every 5 s, NH3-N every 10 s) that starts and ends mid-hour and has a
 * 7-minute outage is replayed through the embedded broker into ingest (which writes the per-minute `loads`), and the
 * dashboard's /api/reductions is compared with this test's own integration of the same samples (a per-second sum, not
 * the product's code). What users rely on: a month's tonnes are what was discharged while readings came, never a
 * partial hour or minute stretched to a whole one; a month without data is no data (null), not 0 t; every figure says
 * its coverage. Also: the national progress from the rules stage's rows, CSV in the caller's scope, windows checked.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBatch, type BatchReading } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { TokenStore } from '../../../dashboards/auth.ts';
import { monthOf, monthStart, nextMonth } from '../../../dashboards/reductions.ts';
import { startDashboard, type RunningDashboard } from '../../../dashboards/server.ts';
import { startIngest } from '../../../ingest/service.ts';
import { recordLine } from '../../../simulators/recording.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { freePort } from '../../harness/ports.ts';
import { replayFixture } from '../../harness/replay.ts';
import { until } from '../../harness/wait.ts';
import type { ReductionRow } from '../../../dashboards/reductions.ts';
import { demoPlants } from '../../harness/plants.ts';

const DB = 'reductions';
const registry = demoPlants();
const tokens = new TokenStore();
const admin = tokens.generate({ name: 'admin', role: 'admin' }).token;
const paperOps = tokens.generate({ name: 'paper-ops', role: 'operator', plants: ['paper-01'] }).token;
const hebeiEpb = tokens.generate({ name: 'hebei-epb', role: 'regulator', regions: ['hebei'] }).token;
const zhejiangEpb = tokens.generate({ name: 'zhejiang-epb', role: 'regulator', regions: ['zhejiang'] }).token;

const SECOND = 1000;
const HOUR = 3_600_000;
const MAX_GAP_MS = 30_000;
const COD_BASELINE = 160;

// Last month (China Standard Time), so that the month is over and its hours are all of it.
const MONTH = monthOf(monthStart(monthOf(Date.now())) - 1);
const MONTH_BEFORE = monthOf(monthStart(MONTH) - 1);
/** 10:17:23 on the 10th: the first hour has 42.6 minutes of data, the last (12:29:41) 29.7. */
const START = monthStart(MONTH) + 9 * 24 * HOUR + 10 * HOUR + 17 * 60_000 + 23 * SECOND;
const END = START + 2 * HOUR + 12 * 60_000 + 18 * SECOND;
/** No reading at all for 7 minutes (longer than MAX_GAP_MS: not filled). */
const OUTAGE = { from: START + 41 * 60_000, to: START + 48 * 60_000 };

type Series = 'flow' | 'cod' | 'nh3n';
const EVERY: Record<Series, number> = { flow: SECOND, cod: 5 * SECOND, nh3n: 10 * SECOND };
const OFFSET: Record<Series, number> = { flow: 0, cod: 2 * SECOND, nh3n: 3 * SECOND };

function valueAt(series: Series, t: number): number {
  const k = (t - START) / SECOND;
  if (series === 'flow') return 40 + 20 * Math.sin((2 * Math.PI * k) / 600);
  if (series === 'cod') return 100 + 30 * Math.sin(k / 97);
  return 8 + 2 * Math.cos(k / 53);
}

/** Every sample of the feed, per series, in time order. */
function feedSamples(): Record<Series, [number, number][]> {
  const out = { flow: [], cod: [], nh3n: [] } as Record<Series, [number, number][]>;
  for (const series of ['flow', 'cod', 'nh3n'] as const) {
    for (let t = START + OFFSET[series]; t <= END; t += EVERY[series]) {
      if (t >= OUTAGE.from && t < OUTAGE.to) continue;
      out[series].push([t, Number(valueAt(series, t).toFixed(4))]);
    }
  }
  return out;
}

/**
 * The test's own integration: second by second, a series' value is its last sample's if the next sample comes at
 * most MAX_GAP_MS after it, else unknown. Exact for these samples, which all fall on whole seconds.
 */
function integrateBySecond(samples: Record<Series, [number, number][]>, pollutant: 'cod' | 'nh3n'): { kg: number; m3: number; seconds: number } {
  const at = (series: [number, number][], i: { n: number }, t: number): number | undefined => {
    while (i.n + 1 < series.length && series[i.n + 1]![0] <= t) i.n++;
    const current = series[i.n];
    const next = series[i.n + 1];
    if (!current || current[0] > t || !next || next[0] - current[0] > MAX_GAP_MS) return undefined;
    return current[1];
  };
  const fi = { n: 0 };
  const ci = { n: 0 };
  let kg = 0;
  let m3 = 0;
  let seconds = 0;
  for (let t = START; t < END; t += SECOND) {
    const q = at(samples.flow, fi, t);
    const c = at(samples[pollutant], ci, t);
    if (q === undefined || c === undefined) continue;
    const volume = q / 3600;
    m3 += volume;
    kg += (volume * c) / 1000;
    seconds++;
  }
  return { kg, m3, seconds };
}

/** The feed as a recording (NDJSON, as `cleanstream record` writes): one batch per 10 s of readings. */
function writeRecording(file: string, samples: Record<Series, [number, number][]>): number {
  const meter: Record<Series, { id: string; quantity: BatchReading['quantity']; unit: string }> = {
    flow: { id: 'outfall-1-flow', quantity: 'wastewater_flow', unit: 'm3/h' },
    cod: { id: 'outfall-1-cod', quantity: 'cod', unit: 'mg/L' },
    nh3n: { id: 'outfall-1-nh3n', quantity: 'nh3n', unit: 'mg/L' },
  };
  const byBatch = new Map<number, BatchReading[]>();
  for (const series of ['flow', 'cod', 'nh3n'] as const) {
    for (const [ts, value] of samples[series]) {
      const batch = Math.floor((ts - START) / 10_000);
      byBatch.set(batch, [...(byBatch.get(batch) ?? []), { meter: meter[series].id, quantity: meter[series].quantity, value, unit: meter[series].unit, ts, quality: 'good' }]);
    }
  }
  const lines: string[] = [];
  let seq = 0;
  for (const [batch, readings] of [...byBatch].sort((a, b) => a[0] - b[0])) {
    const sentAt = START + (batch + 1) * 10_000;
    const payload = encodeBatch({ v: 1, gateway: 'gw-replay', plant: 'dyeing-01', seq: seq++, sentAt, readings: readings.sort((a, b) => a.ts - b.ts) });
    lines.push(recordLine(sentAt, topics.readings('dyeing-01', 'gw-replay'), Buffer.from(payload), 1, false));
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  return lines.length;
}

/** What the rules stage's history job writes for the national progress (rules/reductions.ts). */
function rulesNationalLines(): string[] {
  const year = MONTH.slice(0, 4);
  const january = monthStart(`${year}-01`);
  return [
    `reductions,month=${year}-01,pollutant=cod,scope=national discharged_t=9,baseline_t=10,reduced_t=1,covered_s=100,period_s=1000,coverage=0.1,partial=true,target_t=80000,year_to_date_t=1,progress=0.0000125 ${january}`,
    `reductions,month=${year}-02,pollutant=cod,scope=national discharged_t=9,baseline_t=11,reduced_t=2,covered_s=100,period_s=1000,coverage=0.1,partial=true,target_t=80000,year_to_date_t=3,progress=0.0000375 ${monthStart(`${year}-02`)}`,
    `reductions,month=${year}-02,pollutant=nh3n,scope=national discharged_t=1,baseline_t=1.7,reduced_t=0.7,covered_s=100,period_s=1000,coverage=0.1,partial=true,target_t=7000,year_to_date_t=0.7,progress=0.0001 ${monthStart(`${year}-02`)}`,
    `reductions,month=${Number(year) - 1}-12,pollutant=cod,scope=national discharged_t=9,baseline_t=9,reduced_t=0,covered_s=1,period_s=1,coverage=1,partial=false,target_t=80000,year_to_date_t=500,progress=0.00625 ${monthStart(`${Number(year) - 1}-12`)}`,
  ];
}

let influx: RunningInflux;
let broker: RunningBroker;
let dashboard: RunningDashboard;
let dir: string;
const samples = feedSamples();

interface Body {
  rows: ReductionRow[];
  partialBelow: number;
  national: { year: string; pollutants: { pollutant: string; month: string; targetTonnes: number; yearToDateTonnes: number; progress: number }[] } | null;
}

async function api<T = Body>(pathname: string, token?: string): Promise<{ status: number; body: T; text: string; headers: Headers }> {
  const res = await fetch(`${dashboard.url}${pathname}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  let body = {} as T;
  try {
    body = JSON.parse(text) as T;
  } catch {
    // CSV
  }
  return { status: res.status, body, text, headers: res.headers };
}

beforeAll(async () => {
  [influx, broker] = await Promise.all([startInfluxd(), startBroker()]);
  dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-reductions-'));
  const ingest = await startIngest(
    {
      mqtt: { url: broker.url, protocolVersion: 4 },
      clientId: 'reductions-ingest',
      influx: { url: influx.url, database: DB, createDatabase: true },
      batch: { maxLines: 5000, maxDelayMs: 20 },
      loads: { intervalMs: 60_000, graceMs: 0, idleCloseMs: 600_000, maxGapMs: MAX_GAP_MS },
    },
    { registry, connectTimeoutMs: 5000 },
  );
  try {
    const recording = path.join(dir, 'feed.ndjson');
    const messages = writeRecording(recording, samples);
    const replayed = await replayFixture(broker.url, recording);
    expect(replayed).toMatchObject({ messages, stoppedBy: 'end' });
    await until('ingest to receive the feed', () => ingest.stats().receivedMessages === messages, 30_000);
  } finally {
    // stop computes the minutes still open
    await ingest.stop();
  }
  const baseline = `baselines,indicator=cod,level=plant,plant=dyeing-01,source=static value=${COD_BASELINE},verified=false ${Date.now() - HOUR}`;
  const write = await fetch(`${influx.url}/write?db=${DB}&precision=ms`, { method: 'POST', body: [baseline, ...rulesNationalLines()].join('\n') });
  expect(write.status).toBe(204);
  dashboard = await startDashboard({ registry, tokens, influx: { url: influx.url, database: DB }, mqtt: { url: broker.url }, host: '127.0.0.1', port: await freePort() });
}, 90_000);

afterAll(async () => {
  await dashboard?.stop();
  await broker?.stop();
  await influx?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('reductions against an independent integration of the replayed feed', () => {
  const within = (actual: number | null, expected: number, share = 0.001) => {
    expect(actual).not.toBeNull();
    expect(Math.abs((actual as number) - expected)).toBeLessThanOrEqual(Math.abs(expected) * share);
  };

  it('reports what was discharged while readings came (partial first and last hours, an outage not filled), within 0.1 %', async () => {
    const { status, body } = await api(`/api/reductions?plant=dyeing-01&from=${MONTH_BEFORE}&to=${MONTH}`, zhejiangEpb);
    expect(status).toBe(200);
    const row = (pollutant: string, month: string) => body.rows.find((r) => r.pollutant === pollutant && r.month === month)!;
    const monthHours = (monthStart(nextMonth(MONTH)) - monthStart(MONTH)) / HOUR;
    for (const pollutant of ['cod', 'nh3n'] as const) {
      const own = integrateBySecond(samples, pollutant);
      // the feed spans 2 h 12 min 18 s; the outage and the edges of each series are not covered
      const notOut = (END - START - (OUTAGE.to - OUTAGE.from)) / SECOND;
      expect(own.seconds).toBeGreaterThan(notOut - 60);
      expect(own.seconds).toBeLessThan(notOut);
      const r = row(pollutant, MONTH);
      within(r.dischargedTonnes, own.kg / 1000);
      within(r.volumeM3, own.m3);
      within(r.coveredHours, own.seconds / 3600);
      expect(r.hours).toBe(monthHours);
      within(r.coverage, own.seconds / 3600 / monthHours);
      expect(r.partial).toBe(true);
      if (pollutant === 'cod') {
        // the baseline over exactly the volume the discharged figure covers
        within(r.baselineTonnes, (COD_BASELINE * own.m3) / 1e6);
        within(r.reductionTonnes, (COD_BASELINE * own.m3) / 1e6 - own.kg / 1000);
      } else {
        expect([r.baselineTonnes, r.reductionTonnes, r.reductionShare]).toEqual([null, null, null]);
      }
    }
    expect(body.partialBelow).toBe(0.9);
  });

  it('gives no figure for a month without data: null and coverage 0, never 0 t', async () => {
    const { body } = await api(`/api/reductions?plant=dyeing-01&from=${MONTH_BEFORE}&to=${MONTH}`, zhejiangEpb);
    for (const r of body.rows.filter((x) => x.month === MONTH_BEFORE)) {
      expect(r).toMatchObject({ dischargedTonnes: null, baselineTonnes: null, reductionTonnes: null, volumeM3: null, coveredHours: 0, coverage: 0, partial: true });
    }
    // a plant that sent nothing in a month that had data elsewhere
    const paper = await api(`/api/reductions?plant=paper-01&from=${MONTH}&to=${MONTH}`, admin);
    expect(paper.body.rows.map((r) => [r.pollutant, r.dischargedTonnes, r.coverage])).toEqual([
      ['cod', null, 0],
      ['nh3n', null, 0],
    ]);
  });

  it('answers CSV in the caller\'s scope, a missing figure as an empty cell, and sums plants into regions', async () => {
    const csv = await api(`/api/reductions?region=zhejiang&from=${MONTH_BEFORE}&to=${MONTH}&by=region&format=csv`, zhejiangEpb);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toContain('text/csv');
    expect(csv.headers.get('content-disposition')).toContain(`cleanstream-reductions-${MONTH_BEFORE}-${MONTH}.csv`);
    const lines = csv.text.trim().split('\r\n');
    expect(lines[0]).toBe('month,region,plant,pollutant,discharged_t,baseline_t,reduction_t,reduction_share,volume_m3,covered_hours,hours,coverage,partial');
    const monthHours = (monthStart(nextMonth(MONTH)) - monthStart(MONTH)) / HOUR;
    const cod = lines.find((l) => l.startsWith(`${MONTH},zhejiang,*,cod,`))!.split(',');
    expect(Number(cod[4])).toBeCloseTo(integrateBySecond(samples, 'cod').kg / 1000, 5);
    expect(cod[12]).toBe('true');
    expect(lines.find((l) => l.startsWith(`${MONTH_BEFORE},zhejiang,*,cod,`))).toMatch(new RegExp(`^${MONTH_BEFORE},zhejiang,\\*,cod,,,,,,0,\\d+,0,true$`));
    expect(Number(cod[10])).toBe(monthHours);
    expect((await api('/api/reductions?region=zhejiang&format=csv', hebeiEpb)).status).toBe(403);
  });

  it('answers an Excel workbook with the CSV\'s rows, in the caller\'s scope', async () => {
    const res = await fetch(`${dashboard.url}/api/reductions?region=zhejiang&from=${MONTH_BEFORE}&to=${MONTH}&format=xlsx`, { headers: { authorization: `Bearer ${zhejiangEpb}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    expect(res.headers.get('content-disposition')).toContain(`cleanstream-reductions-${MONTH_BEFORE}-${MONTH}.xlsx`);
    const book = Buffer.from(await res.arrayBuffer());
    expect(book.subarray(0, 4)).toEqual(Buffer.from([0x50, 0x4b, 0x03, 0x04]));
    const csv = await api(`/api/reductions?region=zhejiang&from=${MONTH_BEFORE}&to=${MONTH}&format=csv`, zhejiangEpb);
    // one row per CSV line (inline strings and numbers, deflated: count the rows in the sheet after inflating)
    const { inflateRawSync } = await import('node:zlib');
    const sheetAt = book.indexOf('xl/worksheets/sheet1.xml');
    const start = sheetAt + 'xl/worksheets/sheet1.xml'.length;
    const size = book.readUInt32LE(sheetAt - 12);
    const sheet = inflateRawSync(book.subarray(start, start + size)).toString('utf8');
    expect(sheet.match(/<row /g)).toHaveLength(csv.text.trim().split('\r\n').length);
    expect(sheet).not.toContain('paper-01');
    expect((await api('/api/reductions?region=zhejiang&format=xlsx', hebeiEpb)).status).toBe(403);
  });

  it('gives admins and regulators the national year-to-date progress from the rules stage, and operators not', async () => {
    const year = MONTH.slice(0, 4);
    if (MONTH >= `${year}-02`) {
      const regulator = await api(`/api/reductions?plant=dyeing-01&from=${year}-02&to=${year}-02`, zhejiangEpb);
      expect(regulator.body.national).toEqual({
        year,
        pollutants: [
          { pollutant: 'cod', month: `${year}-02`, targetTonnes: 80_000, yearToDateTonnes: 3, progress: 0.0000375 },
          { pollutant: 'nh3n', month: `${year}-02`, targetTonnes: 7_000, yearToDateTonnes: 0.7, progress: 0.0001 },
        ],
      });
    }
    const january = await api(`/api/reductions?from=${year}-01&to=${year}-01`, admin);
    expect(january.body.national?.pollutants).toEqual([expect.objectContaining({ pollutant: 'cod', month: `${year}-01`, yearToDateTonnes: 1 })]);
    expect((await api(`/api/reductions?from=${year}-01&to=${year}-01`, paperOps)).body.national).toBeNull();
  });

  it('keeps reductions in scope and refuses unbounded or malformed windows', async () => {
    expect((await api('/api/reductions?plant=dyeing-01', paperOps)).status).toBe(403);
    const hebei = await api(`/api/reductions?from=${MONTH}&to=${MONTH}`, hebeiEpb);
    expect([...new Set(hebei.body.rows.map((r) => r.plant))]).toEqual(['paper-01']);
    expect((await api('/api/reductions?from=2020-01&to=2024-01', admin)).status).toBe(400);
    expect((await api('/api/reductions?from=2024-13', admin)).status).toBe(400);
    expect((await api('/api/reductions?from=2024-03&to=2024-02', admin)).status).toBe(400);
  });
});
