/**
 * Scripted faults through the real pipeline: each shipped scenario's generated feed is replayed into the embedded
 * broker, ingest writes it to a real InfluxDB 1.x, and what InfluxDB holds shows each fault exactly where the scenario
 * put it. Expectations come from the generated feed, the scenario's fault windows and the catalog, not from numbers
 * written here. normal-week runs in a short form (its first day): a week is the same code path seven times over.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantityDef, type QuantityId } from '../../../core/catalog.ts';
import type { Quality } from '../../../core/reading.ts';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { parseIngestConfig } from '../../../ingest/config.ts';
import { startIngest, type Ingest } from '../../../ingest/service.ts';
import { faultActive, faultCovers, type Fault, type FeedFault } from '../../../simulators/faults.ts';
import { generateFeed, writeFeedFile, type FeedMessage } from '../../../simulators/feed.ts';
import { INDUSTRY_PROFILES } from '../../../simulators/plants/index.ts';
import { loadScenario, scenarioSteps, type Scenario } from '../../../simulators/scenario.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { replayFixture } from '../../harness/replay.ts';
import { until } from '../../harness/wait.ts';

const DATABASE = 'sim_replay';
const scenarioFile = (name: string) => path.resolve(import.meta.dirname, `../../../simulators/scenarios/${name}.yaml`);
/** GB 3544-2008 Table 2, integrated pulp and paper mill (paper-01's category): COD 90 mg/L. */
const PAPER_MILL_COD_LIMIT = 90;
/** Ultra-low emission value for sinter machine heads (2019): NOx 50 mg/m3, steel-01's stack. */
const SINTER_NOX_LIMIT = 50;
const MS_PER_HOUR = 3_600_000;

let influx: RunningInflux;
let broker: RunningBroker;
let ingest: Ingest;
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'cleanstream-replay-'));
  [influx, broker] = await Promise.all([startInfluxd(), startBroker()]);
  ingest = await startIngest(
    parseIngestConfig('replay test', {
      mqtt: { url: broker.url, protocolVersion: 4 },
      clientId: 'replay-test-ingest',
      influx: { url: influx.url, database: DATABASE },
      batch: { maxLines: 5000, maxDelayMs: 50 },
      // the scenarios are of June 2024: history
      timestamps: { backfill: true },
    }),
    { connectTimeoutMs: 5_000 },
  );
});

afterAll(async () => {
  await ingest?.stop();
  await broker?.stop();
  await influx?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

interface Point {
  plant: string;
  meter: string;
  quantity: QuantityId;
}
interface Row {
  time: number;
  value: number | null;
  quality: Quality;
}

const pointKey = (p: Point): string => `${p.plant}/${p.meter}/${p.quantity}`;
const pointsOf = (scenario: Scenario): Point[] =>
  scenario.registry.plants.flatMap((plant) => plant.meters.flatMap((m) => m.quantities.map((quantity) => ({ plant: plant.id, meter: m.id, quantity }))));

/**
 * What InfluxDB should hold for every point after the feed is written in publish order: one row per timestamp (a
 * later write of the same series and timestamp replaces the earlier one), sorted by time.
 */
function expectedRows(feed: readonly FeedMessage[]): Map<string, Row[]> {
  const byPoint = new Map<string, Map<number, Row>>();
  for (const m of feed) {
    for (const r of m.payload.readings) {
      const key = pointKey({ plant: m.payload.plant, meter: r.meter, quantity: r.quantity });
      let rows = byPoint.get(key);
      if (!rows) byPoint.set(key, (rows = new Map()));
      rows.set(r.ts, { time: r.ts, value: r.value, quality: r.quality });
    }
  }
  return new Map([...byPoint].map(([key, rows]) => [key, [...rows.values()].sort((a, b) => a.time - b.time)]));
}

async function storedRows(scenario: Scenario, p: Point): Promise<Row[]> {
  // a skewed clock may stamp readings outside the scenario's own span; scenarios replayed earlier may sit next to it
  const offsets = scenario.faults.map((f) => (f.kind === 'clock_skew' ? f.offsetMs : 0));
  const from = scenario.startMs + Math.min(0, ...offsets);
  const to = scenario.startMs + scenario.durationMs + Math.max(0, ...offsets);
  const rows = await influx.query<Record<string, unknown>>(
    `SELECT "${p.quantity}", "${p.quantity}_quality" FROM "${quantityDef(p.quantity).domain}" WHERE plant = '${p.plant}' AND meter = '${p.meter}' AND time >= ${from}ms AND time < ${to}ms`,
    DATABASE,
  );
  return rows.map((r) => ({ time: r.time as number, value: (r[p.quantity] as number | null) ?? null, quality: r[`${p.quantity}_quality`] as Quality }));
}

interface Replayed {
  scenario: Scenario;
  feed: FeedMessage[];
  /** Every point's rows in InfluxDB, by `plant/meter/quantity`. */
  stored: Map<string, Row[]>;
}

/**
 * Replay a scenario's feed (optionally cut short), wait until ingest has written all of it, read every point back,
 * and check that InfluxDB holds exactly what was generated: every reading once, value and quality as published.
 */
async function replayScenario(name: string, durationMs?: number): Promise<Replayed> {
  const loaded = loadScenario(scenarioFile(name));
  const scenario = durationMs === undefined ? loaded : { ...loaded, durationMs };
  const feed = [...generateFeed(scenario)];
  const file = path.join(workDir, `${name}.ndjson`);
  const written = await writeFeedFile(scenario, file);
  const readings = feed.reduce((n, m) => n + m.payload.readings.length, 0);
  expect(written).toMatchObject({ messages: feed.length, readings });

  const before = ingest.stats().receivedMessages;
  const rejectedBefore = ingest.stats().rejectedMessages;
  const summary = await replayFixture(broker.url, file);
  expect(summary).toMatchObject({ messages: feed.length, readings, stoppedBy: 'end' });
  const received = (): number => ingest.stats().receivedMessages - before;
  await until(() => `ingest to receive all ${feed.length} messages (received ${received()})`, () => received() >= feed.length, 30_000);
  await ingest.flush();
  expect(ingest.stats().rejectedMessages).toBe(rejectedBefore);

  const expected = expectedRows(feed);
  const stored = new Map<string, Row[]>();
  for (const p of pointsOf(scenario)) {
    const rows = await storedRows(scenario, p);
    expect(rows, pointKey(p)).toEqual(expected.get(pointKey(p)));
    stored.set(pointKey(p), rows);
  }
  return { scenario, feed, stored };
}

const rowsOf = (r: Replayed, plant: string, meter: string, quantity: QuantityId): Row[] => {
  const rows = r.stored.get(pointKey({ plant, meter, quantity }));
  if (!rows) throw new Error(`no point ${plant}/${meter}/${quantity} in ${r.scenario.name}`);
  return rows;
};
const within = (f: Pick<Fault, 'fromMs' | 'toMs'>) => (row: Row) => row.time >= f.fromMs && row.time < f.toMs;
const windowSteps = (scenario: Scenario, f: Pick<Fault, 'fromMs' | 'toMs'>): number => Math.ceil((Math.min(f.toMs, scenario.startMs + scenario.durationMs) - f.fromMs) / scenario.stepMs);
const scripted = <K extends Fault['kind']>(scenario: Scenario, kind: K): (Fault & { kind: K })[] => {
  const found = scenario.faults.filter((f): f is Fault & { kind: K } => f.kind === kind);
  if (!found.length) throw new Error(`${scenario.name} no longer scripts a ${kind} fault`);
  return found;
};

/** Readings over a limit all fall inside the fault's window and last most of it (between the lag and the recovery). */
function expectExceedanceInside(rows: Row[], limit: number, f: Fault & { kind: 'excursion' }): void {
  const over = rows.filter((r) => r.value !== null && r.value > limit).map((r) => r.time);
  expect(over.length).toBeGreaterThan(30);
  expect(over.every((t) => faultActive(f, t))).toBe(true);
  expect(Math.max(...over) - Math.min(...over)).toBeGreaterThan((f.toMs - f.fromMs) / 2);
}

/** Each duplicated batch went through ingest and InfluxDB kept one row per reading; reordered ones landed in place. */
function expectDuplicatesAndReordersAbsorbed(r: Replayed, plant: string): void {
  const duplicate = scripted(r.scenario, 'duplicate').find((f) => f.plant === plant) as FeedFault;
  const reorder = scripted(r.scenario, 'out_of_order').find((f) => f.plant === plant) as FeedFault;
  const batches = r.feed.filter((m) => m.payload.plant === plant);
  const seen = new Set<number>();
  let duplicates = 0;
  let reordered = 0;
  let highest = -1;
  for (const m of batches) {
    if (seen.has(m.payload.seq)) {
      duplicates++;
      expect(faultActive(duplicate, m.payload.sentAt)).toBe(true);
    }
    if (m.payload.seq < highest) {
      reordered++;
      expect(faultActive(reorder, m.payload.sentAt)).toBe(true);
    }
    seen.add(m.payload.seq);
    highest = Math.max(highest, m.payload.seq);
  }
  expect(duplicates).toBeGreaterThan(0);
  expect(reordered).toBeGreaterThan(0);
  expect(batches.length).toBe(scenarioSteps(r.scenario) + duplicates);
  // while batches were doubled and reordered, one row per scan for every point of the plant: nothing doubled, nothing lost
  const first = Math.min(duplicate.fromMs, reorder.fromMs);
  const last = Math.min(Math.max(duplicate.toMs, reorder.toMs), r.scenario.startMs + r.scenario.durationMs);
  const ticks = Array.from({ length: Math.ceil((last - first) / r.scenario.stepMs) }, (_, i) => first + i * r.scenario.stepMs);
  for (const p of pointsOf(r.scenario).filter((x) => x.plant === plant)) {
    const rows = rowsOf(r, p.plant, p.meter, p.quantity).filter((x) => x.time >= first && x.time < last);
    expect(rows.map((x) => x.time), pointKey(p)).toEqual(ticks);
  }
}

describe('fault scenarios replayed through broker, ingest and InfluxDB', () => {
  it('cod-upset: COD exceeds the limit inside the scripted upset and nowhere else', async () => {
    const r = await replayScenario('cod-upset');
    const upset = scripted(r.scenario, 'excursion').find((f) => f.quantity === 'cod');
    if (!upset?.meter) throw new Error('cod-upset.yaml no longer scripts a COD excursion');
    expectExceedanceInside(rowsOf(r, upset.plant, upset.meter, 'cod'), PAPER_MILL_COD_LIMIT, upset);
  });

  it('stuck-cod: COD is flat at its value from the window start for exactly the scripted window', async () => {
    const r = await replayScenario('stuck-cod');
    const [stuck] = scripted(r.scenario, 'stuck');
    if (!stuck?.meter || !stuck.quantity) throw new Error('stuck-cod.yaml no longer scripts a stuck analyser');
    const rows = rowsOf(r, stuck.plant, stuck.meter, stuck.quantity);
    const inside = rows.filter(within(stuck)).map((x) => x.value);
    const before = rows.filter((x) => x.time < stuck.fromMs).map((x) => x.value);
    const after = rows.filter((x) => x.time >= stuck.toMs).map((x) => x.value);
    expect(inside).toHaveLength(windowSteps(r.scenario, stuck));
    expect(new Set(inside).size).toBe(1);
    expect(inside[0]).toBe(rows.find((x) => x.time === stuck.fromMs)?.value);
    expect(new Set(before).size).toBeGreaterThan(before.length / 2);
    expect(new Set(after).size).toBeGreaterThan(after.length / 2);
  });

  it('meter-offline: every silent, dropped-out or NaN point is stored as a bad quality without a value for exactly its window', async () => {
    const r = await replayScenario('meter-offline');
    const gaps = r.scenario.faults.filter((f) => f.kind === 'comm_loss' || f.kind === 'dropout' || f.kind === 'nan');
    expect(new Set(gaps.map((f) => f.kind))).toEqual(new Set(['comm_loss', 'dropout', 'nan']));
    let gapPoints = 0;
    for (const p of pointsOf(r.scenario)) {
      const covering = gaps.filter((f) => faultCovers(f, p.plant, p.meter, p.quantity));
      const rows = rowsOf(r, p.plant, p.meter, p.quantity);
      const inGap = (row: Row) => covering.some((f) => faultActive(f, row.time));
      const missing = rows.filter(inGap);
      expect(missing, pointKey(p)).toHaveLength(covering.reduce((n, f) => n + windowSteps(r.scenario, f), 0));
      expect(missing.every((x) => x.value === null && x.quality === 'bad'), pointKey(p)).toBe(true);
      expect(rows.filter((x) => !inGap(x)).every((x) => x.value !== null && x.quality === 'good'), pointKey(p)).toBe(true);
      if (covering.length) gapPoints++;
    }
    // the whole silent plant, plus the one dropped-out and the one NaN point
    const silentPlant = scripted(r.scenario, 'comm_loss')[0]!.plant;
    expect(gapPoints).toBe(pointsOf(r.scenario).filter((p) => p.plant === silentPlant).length + 2);
  });

  it('nox-excursion: stack NOx exceeds the ultra-low value inside the scripted window only; duplicated and reordered batches are stored once, in place', async () => {
    const r = await replayScenario('nox-excursion');
    const excursion = scripted(r.scenario, 'excursion').find((f) => f.quantity === 'nox');
    if (!excursion?.meter || excursion.peak === undefined) throw new Error('nox-excursion.yaml no longer scripts a NOx excursion to a peak');
    const rows = rowsOf(r, excursion.plant, excursion.meter, 'nox');
    expectExceedanceInside(rows, SINTER_NOX_LIMIT, excursion);
    expect(Math.max(...rows.map((x) => x.value ?? 0))).toBeGreaterThan((excursion.peak + SINTER_NOX_LIMIT) / 2);
    expectDuplicatesAndReordersAbsorbed(r, excursion.plant);
  });

  it('feed-faults: a skewed clock, counter resets, duplicates and reordering show in InfluxDB as scripted', async () => {
    const r = await replayScenario('feed-faults');
    const { scenario } = r;
    const onGrid = (t: number) => (t - scenario.startMs) % scenario.stepMs === 0;

    // clock skew: inside the window the CEMS readings carry the source's shifted timestamps, off the scan grid
    const [skew] = scripted(scenario, 'clock_skew');
    if (!skew?.meter) throw new Error('feed-faults.yaml no longer scripts a clock skew on one meter');
    expect(skew.offsetMs % scenario.stepMs).not.toBe(0);
    const ticks = Array.from({ length: windowSteps(scenario, skew) }, (_, i) => skew.fromMs + i * scenario.stepMs);
    for (const p of pointsOf(scenario).filter((x) => x.plant === skew.plant)) {
      const offGrid = rowsOf(r, p.plant, p.meter, p.quantity)
        .map((x) => x.time)
        .filter((t) => !onGrid(t));
      expect(offGrid, pointKey(p)).toEqual(p.meter === skew.meter ? ticks.map((t) => t + skew.offsetMs) : []);
    }

    // counter reset: the counter falls exactly once, at the reset, to its start value, and counts up from there
    for (const reset of scripted(scenario, 'counter_reset')) {
      if (!reset.meter || !reset.quantity) throw new Error('a counter_reset without a meter and quantity');
      const values = rowsOf(r, reset.plant, reset.meter, reset.quantity);
      const falls = values.flatMap((x, i) => (i > 0 && x.value! < values[i - 1]!.value! ? [x] : []));
      expect(falls.map((x) => x.time)).toEqual([reset.fromMs]);
      expect(falls[0]!.value).toBeCloseTo(reset.startAt, 6);
      const after = values.filter(within(reset));
      expect(after).toHaveLength(windowSteps(scenario, reset));
      for (let i = 1; i < after.length; i++) expect(after[i]!.value!).toBeGreaterThanOrEqual(after[i - 1]!.value!);
      expect(after.at(-1)!.value!).toBeGreaterThan(reset.startAt);
    }

    expectDuplicatesAndReordersAbsorbed(r, scripted(scenario, 'duplicate')[0]!.plant);
  });

  it('normal-week (its first day): every reading good and stored as generated; the dyeing works runs lower on the night shift', async () => {
    const day = 24 * MS_PER_HOUR;
    const r = await replayScenario('normal-week', day);
    expect(r.scenario.faults).toEqual([]);
    for (const p of pointsOf(r.scenario)) {
      const rows = rowsOf(r, p.plant, p.meter, p.quantity);
      expect(rows, pointKey(p)).toHaveLength(day / r.scenario.stepMs);
      expect(rows.every((x) => x.value !== null && x.quality === 'good'), pointKey(p)).toBe(true);
    }
    // shifts in China Standard Time: night 00-08, day 08-16; the profile says how much lower the night runs
    const dyeing = r.scenario.registry.plants.find((p) => p.industry === 'textile-dyeing');
    if (!dyeing) throw new Error('the demo registry no longer has a dyeing works');
    const { night, day: dayShift } = INDUSTRY_PROFILES['textile-dyeing'].shifts;
    expect(night).toBeLessThan(dayShift * 0.9);
    const flow = rowsOf(r, dyeing.id, 'outfall-1-flow', 'wastewater_flow');
    const mean = (fromH: number, toH: number) => {
      const v = flow.filter((x) => x.time >= r.scenario.startMs + fromH * MS_PER_HOUR && x.time < r.scenario.startMs + toH * MS_PER_HOUR).map((x) => x.value!);
      return v.reduce((a, b) => a + b, 0) / v.length;
    };
    // 01-07 and 09-15: clear of the ramps at shift changes
    expect(mean(1, 7)).toBeLessThan(mean(9, 15) * (1 - (dayShift - night) / 4));
  });
});
