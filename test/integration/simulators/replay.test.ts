/**
 * Scripted faults through the real pipeline: a scenario's generated feed is replayed into the embedded broker, ingest
 * writes it to a real InfluxDB 1.x, and what InfluxDB holds shows the fault exactly where the scenario put it.
 * Expectations come from the generated feed and the scenario's fault windows, not from numbers written here.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../../deploy/broker.ts';
import { parseIngestConfig } from '../../../ingest/config.ts';
import { startIngest, type Ingest } from '../../../ingest/service.ts';
import { generateFeed, writeFeedFile } from '../../../simulators/feed.ts';
import { loadScenario, type Scenario } from '../../../simulators/scenario.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { replayFixture } from '../../harness/replay.ts';

const DATABASE = 'sim_replay';
const scenarioFile = (name: string) => path.resolve(import.meta.dirname, `../../../simulators/scenarios/${name}.yaml`);
/** GB 3544-2008 Table 2, integrated pulp and paper mill (paper-01's category): COD 90 mg/L. */
const PAPER_MILL_COD_LIMIT = 90;

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

interface Series {
  times: number[];
  values: (number | null)[];
}

/** One point's readings in the generated feed, by timestamp. */
function feedSeries(scenario: Scenario, plant: string, meter: string, quantity: string): Series {
  const series: Series = { times: [], values: [] };
  for (const m of generateFeed(scenario)) {
    if (m.payload.plant !== plant) continue;
    const r = m.payload.readings.find((x) => x.meter === meter && x.quantity === quantity);
    if (r) {
      series.times.push(r.ts);
      series.values.push(r.value);
    }
  }
  return series;
}

async function influxSeries(scenario: Scenario, measurement: string, plant: string, meter: string, quantity: string): Promise<Series> {
  const rows = await influx.query<{ time: number; [field: string]: unknown }>(
    `SELECT "${quantity}" FROM "${measurement}" WHERE plant = '${plant}' AND meter = '${meter}' AND time >= ${scenario.startMs}ms AND time < ${scenario.startMs + scenario.durationMs}ms`,
    DATABASE,
  );
  return { times: rows.map((r) => r.time), values: rows.map((r) => r[quantity] as number | null) };
}

/** Replay a scenario's feed and wait until ingest has written all of it. */
async function replayScenario(name: string): Promise<Scenario> {
  const scenario = loadScenario(scenarioFile(name));
  const file = path.join(workDir, `${name}.ndjson`);
  const written = await writeFeedFile(scenario, file);
  const before = ingest.stats().receivedMessages;
  const summary = await replayFixture(broker.url, file);
  expect(summary).toMatchObject({ messages: written.messages, readings: written.readings, stoppedBy: 'end' });
  const deadline = Date.now() + 30_000;
  while (ingest.stats().receivedMessages - before < written.messages) {
    if (Date.now() > deadline) throw new Error(`ingest received ${ingest.stats().receivedMessages - before} of ${written.messages} messages`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await ingest.flush();
  expect(ingest.stats().rejectedMessages).toBe(0);
  return scenario;
}

describe('fault scenarios replayed through broker, ingest and InfluxDB', () => {
  it('cod-upset: COD exceeds the limit inside the scripted upset and nowhere else, value for value as generated', async () => {
    const scenario = await replayScenario('cod-upset');
    const upset = scenario.faults.find((f) => f.kind === 'excursion' && f.quantity === 'cod');
    if (!upset) throw new Error('cod-upset.yaml no longer scripts a COD excursion');
    const stored = await influxSeries(scenario, 'water', 'paper-01', 'outfall-1-cod', 'cod');
    const generated = feedSeries(scenario, 'paper-01', 'outfall-1-cod', 'cod');
    expect(stored).toEqual(generated);

    const inWindow = (t: number) => t >= upset.fromMs && t < upset.toMs;
    const over = stored.times.filter((t, i) => (stored.values[i] as number) > PAPER_MILL_COD_LIMIT);
    expect(over.length).toBeGreaterThan(30);
    expect(over.every(inWindow)).toBe(true);
    // the exceedance lasts most of the upset, between the treatment plant's lag and its recovery
    expect(Math.max(...over) - Math.min(...over)).toBeGreaterThan((upset.toMs - upset.fromMs) / 2);
  });

  it('stuck-cod: COD is flat at its value from the window start for exactly the scripted window', async () => {
    const scenario = await replayScenario('stuck-cod');
    const stuck = scenario.faults.find((f) => f.kind === 'stuck');
    if (!stuck?.meter || !stuck.quantity) throw new Error('stuck-cod.yaml no longer scripts a stuck analyser');
    const stored = await influxSeries(scenario, 'water', stuck.plant, stuck.meter, stuck.quantity);
    expect(stored).toEqual(feedSeries(scenario, stuck.plant, stuck.meter, stuck.quantity));

    const inside = stored.values.filter((_, i) => stored.times[i]! >= stuck.fromMs && stored.times[i]! < stuck.toMs);
    const before = stored.values.filter((_, i) => stored.times[i]! < stuck.fromMs);
    const after = stored.values.filter((_, i) => stored.times[i]! >= stuck.toMs);
    expect(inside).toHaveLength((stuck.toMs - stuck.fromMs) / scenario.stepMs);
    expect(new Set(inside).size).toBe(1);
    expect(inside[0]).toBe(stored.values[stored.times.indexOf(stuck.fromMs)]);
    expect(new Set(before).size).toBeGreaterThan(before.length / 2);
    expect(new Set(after).size).toBeGreaterThan(after.length / 2);
  });
});
