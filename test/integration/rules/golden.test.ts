/**
 * Golden replays: each fault scenario of the simulators, generated deterministically and published through a real
 * broker into the rules service, gives exactly the alert sequence below. Rows read
 * `transition rule plant/meter hh:mm(after the scenario start, event time) value [limit]`.
 *
 * The rows of the scripted faults are not only recorded: each test works them out again from the scenario's script
 * (the fault's window and magnitude), the feed's readings of that point, the limit from the standard's data file and
 * the rule's clear condition, with plain code here (golden-support.ts `expected*Rows`), and asserts them, so that a
 * table recorded from a wrong engine cannot pass for right. Rows outside the scripted faults are the simulator's own
 * normal variation (dyeing-01's NH3-N runs close to its 10 mg/L limit) and are checked against the recorded tables.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import type { AlertTransition } from '../../../rules/alerts.ts';
import type { Scenario } from '../../../simulators/scenario.ts';
import type { FeedMessage } from '../../../simulators/feed.ts';
import { topics } from '../../../bus/topics.ts';
import { freePort } from '../../harness/ports.ts';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Fault } from '../../../simulators/faults.ts';
import {
  endOfFeed,
  expectedFlatlineRows,
  expectedHourlyMeanRows,
  expectedLimitRows,
  expectedQualityRows,
  feedOf,
  goldenLine,
  inlineScenario,
  pointSamples,
  publishFeed,
  scenario,
  scenarioWith,
  startGoldenRules,
} from './golden-support.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const MINUTE = 60_000;
const HOUR = 3_600_000;

/** A limit as the standard's data file states it (rules/limits/standards), read here without the rules' catalog code. */
function standardMax(file: string, quantity: string, category: string): number {
  const doc = parse(readFileSync(path.join(ROOT, 'rules/limits/standards', file), 'utf8')) as { entries: { quantity: string; category?: string; max?: number }[] };
  const entry = doc.entries.find((e) => e.quantity === quantity && e.category === category);
  if (entry?.max === undefined) throw new Error(`no ${quantity} max for category ${category} in ${file}`);
  return entry.max;
}

/** The rows of one rule and point, in the order emitted. */
const rowsOf = (lines: string[], rule: string, plant: string, meter: string): string[] => lines.filter((l) => l.split(' ')[1] === rule && l.split(' ')[2] === `${plant}/${meter}`);

/** The event time of a row (hh:mm after the start) as ms since the epoch. */
const rowAt = (line: string, startMs: number): number => {
  const [h, m] = line.split(' ')[3]!.split(':').map(Number);
  return startMs + h! * HOUR + m! * MINUTE;
};

/** The scripted fault of a kind on a point (the scenario file's, with absolute times). */
const faultOf = (s: Scenario, match: Partial<Fault>): Fault => {
  const found = s.faults.find((f) => Object.entries(match).every(([k, v]) => (f as unknown as Record<string, unknown>)[k] === v));
  if (!found) throw new Error(`${s.name} scripts no fault ${JSON.stringify(match)}`);
  return found;
};

/** cod-upset with the rules of golden-support.ts. */
const COD_UPSET = [
  'raised nh3n-limit dyeing-01/outfall-1-nh3n 01:59 10.2 limit 10',
  'cleared nh3n-limit dyeing-01/outfall-1-nh3n 02:09 8.04',
  'raised cod-limit paper-01/outfall-1-cod 02:20 90.6 limit 90',
  'raised nh3n-limit paper-01/outfall-1-nh3n 03:32 8.59 limit 8',
  // back above 8 after dipping under it, but never under the clear level (6.8): the same alert, updated
  'updated nh3n-limit paper-01/outfall-1-nh3n 03:40 8.31 limit 8',
  'updated nh3n-limit paper-01/outfall-1-nh3n 03:50 8.27 limit 8',
  'updated nh3n-limit paper-01/outfall-1-nh3n 04:02 8.59 limit 8',
  'cleared nh3n-limit paper-01/outfall-1-nh3n 04:30 6.79',
  'updated cod-limit paper-01/outfall-1-cod 05:09 90.2 limit 90',
  'cleared cod-limit paper-01/outfall-1-cod 05:12 82.8',
  'raised nh3n-limit dyeing-01/outfall-1-nh3n 05:38 10 limit 10',
  'cleared nh3n-limit dyeing-01/outfall-1-nh3n 05:51 8.44',
];

const STUCK_COD = [
  // 30 samples within 0.01 mg/L: 02:00 to 02:29
  'raised cod-flatline dyeing-01/outfall-1-cod 02:29 124',
  'cleared cod-flatline dyeing-01/outfall-1-cod 05:00 96.7',
];

const METER_OFFLINE = [
  // steel-01 silent 01:00-02:00: the share of bad readings in 15 min passes 20% at the 4th bad minute
  'raised nh3n-quality steel-01/outfall-1-nh3n 01:03 25 limit 20',
  'raised ph-quality steel-01/outfall-1-ph 01:03 25 limit 20',
  // cleared once the bad minutes have left the 15-minute window
  'cleared nh3n-quality steel-01/outfall-1-nh3n 02:15 0',
  'cleared ph-quality steel-01/outfall-1-ph 02:15 0',
  'raised nh3n-quality paper-01/outfall-1-nh3n 03:03 25 limit 20',
  'cleared nh3n-quality paper-01/outfall-1-nh3n 03:45 0',
  'raised ph-quality dyeing-01/outfall-1-ph 04:03 25 limit 20',
  'cleared ph-quality dyeing-01/outfall-1-ph 04:35 0',
];

const NOX_EXCURSION = [
  // the first hourly mean over 50 mg/m3 is the 01:00-02:00 hour (excursion from 01:30), known at its end
  'raised nox-hourly steel-01/stack-1-cems 02:00 63.5 limit 50',
  'raised nh3n-limit dyeing-01/outfall-1-nh3n 02:49 10 limit 10',
  'cleared nh3n-limit dyeing-01/outfall-1-nh3n 02:55 7.73',
  // the 04:00-05:00 hour's mean is under 45 (limit less 10%)
  'cleared nox-hourly steel-01/stack-1-cems 05:00 34.8',
];

describe('golden replays of the simulator scenarios through a broker', () => {
  let broker: RunningBroker;
  let influxUrl: string;
  let dir: string;
  let runs = 0;

  beforeAll(async () => {
    broker = await startBroker();
    // not listening: alert rows wait in memory; the tables are about what is notified
    influxUrl = `http://127.0.0.1:${await freePort()}`;
    dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-golden-'));
  });
  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function replay(s: Scenario, opts: { allowedLatenessMs?: number; rules?: unknown[]; feed?: FeedMessage[] } = {}): Promise<{ lines: string[]; transitions: AlertTransition[]; late: number; duplicates: number; reordered: number }> {
    const feed = opts.feed ?? feedOf(s);
    const transitions: AlertTransition[] = [];
    const service = await startGoldenRules({ brokerUrl: broker.url, influxUrl, into: transitions, clientId: `golden-${runs++}`, ...opts });
    try {
      await publishFeed(broker.url, feed, service, feed.length);
      await endOfFeed(service);
      const stats = service.stats();
      return { lines: transitions.map((t) => goldenLine(t, s.startMs)), transitions, late: stats.engine.late, duplicates: stats.duplicateMessages, reordered: stats.reorder.reordered };
    } finally {
      await service.stop();
    }
  }

  it('cod-upset: one COD alert for the whole upset, NH3-N following it', async () => {
    const s = scenario('cod-upset');
    const run = await replay(s);
    // The scripted faults, worked out from the script: paper-01 is an integrated mill, so GB 3544-2008's integrated
    // limits (COD 90, NH3-N 8 mg/L), cleared under the limit less the rule's deadband (5 % and 15 %).
    const feed = feedOf(s);
    const codFault = faultOf(s, { plant: 'paper-01', quantity: 'cod', kind: 'excursion' });
    const nh3nFault = faultOf(s, { plant: 'paper-01', quantity: 'nh3n', kind: 'excursion' });
    const cod = pointSamples(feed, 'paper-01', 'outfall-1-cod', 'cod');
    const nh3n = pointSamples(feed, 'paper-01', 'outfall-1-nh3n', 'nh3n');
    const codMax = standardMax('gb3544-2008.yaml', 'cod', 'integrated');
    const nh3nMax = standardMax('gb3544-2008.yaml', 'nh3n', 'integrated');
    expect([codMax, nh3nMax]).toEqual([90, 8]);
    // the feed carries the script: COD under its limit outside the upset, and at its height the scripted peak (150)
    // give or take the analyser's noise; NH3-N at its height the scripted factor (1.8) times its level before
    const peakOf = (xs: typeof cod, f: Fault) => Math.max(...xs.filter((x) => x.ts >= f.fromMs && x.ts < f.toMs).map((x) => x.value!));
    expect(cod.filter((x) => x.ts < codFault.fromMs || x.ts >= codFault.toMs).every((x) => x.value! <= codMax)).toBe(true);
    expect(codFault.kind === 'excursion' && codFault.peak).toBe(150);
    expect(Math.abs(peakOf(cod, codFault) - 150)).toBeLessThan(15);
    const nh3nBefore = Math.max(...nh3n.filter((x) => x.ts < nh3nFault.fromMs && x.ts >= nh3nFault.fromMs - HOUR).map((x) => x.value!));
    expect(peakOf(nh3n, nh3nFault)).toBeGreaterThan(nh3nBefore * 1.3);
    expect(peakOf(nh3n, nh3nFault)).toBeLessThan(nh3nBefore * 1.8 * 1.3);
    const expectedCod = expectedLimitRows(cod, { rule: 'cod-limit', plant: 'paper-01', meter: 'outfall-1-cod', max: codMax, clearBelow: codMax * 0.95, startMs: s.startMs });
    const expectedNh3n = expectedLimitRows(nh3n, { rule: 'nh3n-limit', plant: 'paper-01', meter: 'outfall-1-nh3n', max: nh3nMax, clearBelow: nh3nMax * 0.85, startMs: s.startMs });
    // one alert each, raised and cleared within the fault's window
    for (const [rows, fault] of [[expectedCod, codFault], [expectedNh3n, nh3nFault]] as const) {
      expect(rows[0]).toMatch(/^raised /);
      expect(rows.at(-1)).toMatch(/^cleared /);
      expect(rows.filter((r) => r.startsWith('raised'))).toHaveLength(1);
      expect(rows.every((r) => rowAt(r, s.startMs) >= fault.fromMs && rowAt(r, s.startMs) < fault.toMs), rows.join('\n')).toBe(true);
    }
    expect(rowsOf(run.lines, 'cod-limit', 'paper-01', 'outfall-1-cod')).toEqual(expectedCod);
    expect(rowsOf(run.lines, 'nh3n-limit', 'paper-01', 'outfall-1-nh3n')).toEqual(expectedNh3n);
    expect(run.lines).toEqual(COD_UPSET);
    expect(run.late).toBe(0);
  });

  it('stuck-cod: the frozen analyser is caught by flatness alone', async () => {
    const s = scenario('stuck-cod');
    const run = await replay(s);
    // From the script: frozen from 02:00, so the 30th equal sample (epsilon 0.01) is 29 steps later; it moves at 05:00.
    const stuck = faultOf(s, { plant: 'dyeing-01', quantity: 'cod', kind: 'stuck' });
    const samples = pointSamples(feedOf(s), 'dyeing-01', 'outfall-1-cod', 'cod');
    const expected = expectedFlatlineRows(samples, { rule: 'cod-flatline', plant: 'dyeing-01', meter: 'outfall-1-cod', epsilon: 0.01, samples: 30, startMs: s.startMs });
    expect(expected).toHaveLength(2);
    expect(rowAt(expected[0]!, s.startMs)).toBe(stuck.fromMs + 29 * s.stepMs);
    expect(rowAt(expected[1]!, s.startMs)).toBe(stuck.toMs);
    expect(rowsOf(run.lines, 'cod-flatline', 'dyeing-01', 'outfall-1-cod')).toEqual(expected);
    expect(run.lines).toEqual(STUCK_COD);
  });

  it('meter-offline: comm loss, dropout and NaN raise quality alerts, cleared when the window is clean again', async () => {
    const s = scenario('meter-offline');
    const run = await replay(s);
    // From the script: each fault window makes the point's readings bad; over 15 minutes (both ends in: 16 samples)
    // the share passes 20 % at the 4th bad minute (4/16 = 25 %) and is back to 0 (at or under 5 %) 15 minutes after
    // the window closes.
    const feed = feedOf(s);
    const quality = { windowMs: 15 * MINUTE, maxPct: 20, clearPct: 5, startMs: s.startMs };
    const points = [
      { fault: faultOf(s, { plant: 'steel-01', kind: 'comm_loss' }), rule: 'nh3n-quality', meter: 'outfall-1-nh3n', quantity: 'nh3n' },
      { fault: faultOf(s, { plant: 'steel-01', kind: 'comm_loss' }), rule: 'ph-quality', meter: 'outfall-1-ph', quantity: 'ph' },
      { fault: faultOf(s, { plant: 'paper-01', kind: 'dropout' }), rule: 'nh3n-quality', meter: 'outfall-1-nh3n', quantity: 'nh3n' },
      { fault: faultOf(s, { plant: 'dyeing-01', kind: 'nan' }), rule: 'ph-quality', meter: 'outfall-1-ph', quantity: 'ph' },
    ];
    for (const { fault, rule, meter, quantity } of points) {
      const expected = expectedQualityRows(pointSamples(feed, fault.plant, meter, quantity), { ...quality, rule, plant: fault.plant, meter });
      expect(expected.map((r) => rowAt(r, s.startMs))).toEqual([fault.fromMs + 3 * s.stepMs, fault.toMs + 15 * MINUTE]);
      expect(rowsOf(run.lines, rule, fault.plant, meter)).toEqual(expected);
    }
    expect(run.lines).toEqual(METER_OFFLINE);
  });

  it('nox-excursion: duplicated sends are judged once, reordered sends are put back in order before judging', async () => {
    const s = scenario('nox-excursion');
    const run = await replay(s, { allowedLatenessMs: 0 });
    // From the script: the excursion to 110 mg/m3 from 01:30 to 04:00 puts the hourly means of the hours it covers
    // over the rule's 50; each hour is judged at its end, and the alert clears at the end of the first hour under 45.
    const excursion = faultOf(s, { plant: 'steel-01', quantity: 'nox', kind: 'excursion' });
    const nox = pointSamples(feedOf(s), 'steel-01', 'stack-1-cems', 'nox');
    const expected = expectedHourlyMeanRows(nox, { rule: 'nox-hourly', plant: 'steel-01', meter: 'stack-1-cems', max: 50, clearBelow: 45, minSamples: 30, startMs: s.startMs });
    expect(expected).toHaveLength(2);
    expect(rowAt(expected[0]!, s.startMs)).toBe(Math.ceil(excursion.fromMs / HOUR) * HOUR);
    expect(rowAt(expected[1]!, s.startMs)).toBeGreaterThan(excursion.toMs);
    expect(rowAt(expected[1]!, s.startMs)).toBeLessThanOrEqual(excursion.toMs + 2 * HOUR);
    expect(rowsOf(run.lines, 'nox-hourly', 'steel-01', 'stack-1-cems')).toEqual(expected);
    expect(run.lines).toEqual(NOX_EXCURSION);
    // 05:00-05:30: every 3rd batch of steel-01 sent twice, every 4th held back behind the next one
    expect(run.duplicates).toBe(7);
    expect(run.reordered).toBeGreaterThan(0);
    expect(run.late).toBe(0);
  });

  it('out-of-order sends across the moment of the crossing change nothing: batches are judged in their gateway\'s order', async () => {
    // paper-01's batches each held back behind the next from 02:00 to 02:40, across the 02:20 crossing
    const s = scenarioWith('cod-upset', [{ plant: 'paper-01', kind: 'out_of_order', from: '2h', to: '2h40m' }]);
    const run = await replay(s, { allowedLatenessMs: 0 });
    expect(run.lines).toEqual(COD_UPSET);
    expect(run.late).toBe(0);
  });

  it('late data: a reading older than the watermark is counted and not judged; within the allowed lateness it is judged in order', async () => {
    // At 03:00 a data logger back-fills paper-01's COD at 01:00: 200 mg/L, far over the limit.
    const s = scenario('cod-upset');
    const feed = feedOf(s);
    const at = feed.findIndex((m) => m.t >= s.startMs + 3 * 3_600_000);
    const backfill: FeedMessage = {
      t: feed[at]!.t,
      topic: topics.readings('paper-01', 'backfill'),
      qos: 1,
      retain: false,
      payload: { v: 1, gateway: 'backfill', plant: 'paper-01', seq: 0, sentAt: feed[at]!.t, readings: [{ meter: 'outfall-1-cod', quantity: 'cod', value: 200, unit: 'mg/L', ts: s.startMs + 3_600_000, quality: 'good' }] },
    };
    const withBackfill = [...feed.slice(0, at), backfill, ...feed.slice(at)];
    const strict = await replay(s, { feed: withBackfill, allowedLatenessMs: 0 });
    expect(strict.lines).toEqual(COD_UPSET);
    expect(strict.late).toBe(1);
    // allowing 3 h of lateness, the same reading is judged at its place in event time
    const tolerant = await replay(s, { feed: withBackfill, allowedLatenessMs: 3 * 3_600_000 });
    expect(tolerant.late).toBe(0);
    expect(tolerant.lines.slice(0, 2)).toEqual(['raised cod-limit paper-01/outfall-1-cod 01:00 200 limit 90', 'cleared cod-limit paper-01/outfall-1-cod 01:01 57.7']);
    expect(tolerant.lines.slice(2)).toEqual(COD_UPSET);
  });

  it('a restart in the middle of the upset gives the same alerts, none twice and none lost', async () => {
    const s = scenario('cod-upset');
    const feed = feedOf(s);
    const checkpointFile = path.join(dir, 'restart-checkpoint.json');
    const transitions: AlertTransition[] = [];
    const half = feed.findIndex((m) => m.t >= s.startMs + 3 * 3_600_000); // 03:00, inside the upset
    const first = await startGoldenRules({ brokerUrl: broker.url, influxUrl, into: transitions, clientId: 'golden-restart', checkpointFile });
    await publishFeed(broker.url, feed.slice(0, half), first, half);
    await first.stop();
    const second = await startGoldenRules({ brokerUrl: broker.url, influxUrl, into: transitions, clientId: 'golden-restart', checkpointFile });
    try {
      await publishFeed(broker.url, feed.slice(half), second, feed.length - half);
      await endOfFeed(second);
    } finally {
      await second.stop();
    }
    expect(transitions.map((t) => goldenLine(t, s.startMs))).toEqual(COD_UPSET);
  });

  it('a signal hovering at the limit for hours is one alert, not a flapping one', async () => {
    // paper-01's COD brought up to about 90 mg/L (the limit) from 01:00 to 06:00, with the analyser's noise on top
    const s = inlineScenario({
      seed: 7,
      start: '2024-06-04T00:00:00+08:00',
      duration: '8h',
      step: '1m',
      faults: [{ plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', kind: 'excursion', from: '1h', to: '6h', params: { peak: 90, rise: '30m', fall: '30m' } }],
    });
    const rule = { id: 'cod-limit', kind: 'limit', severity: 'major', selector: { plants: ['paper-01'], quantity: 'cod' }, limit: 'catalog' };
    const run = await replay(s, { rules: [{ ...rule, clear: { below: 75 } }] });
    expect(run.lines.filter((l) => !l.startsWith('updated'))).toEqual([
      'raised cod-limit paper-01/outfall-1-cod 01:22 90.3 limit 90',
      'cleared cod-limit paper-01/outfall-1-cod 05:46 73.6',
    ]);
    // each time the noise took it back over 90 the open alert was updated (its count grows), no new alert raised
    const updates = run.transitions.filter((t) => t.transition === 'updated');
    expect(updates).toHaveLength(24);
    expect(new Set(run.transitions.map((t) => t.alert.id)).size).toBe(1);
    expect(run.transitions.at(-1)!.alert.count).toBe(25);

    // the same signal without a clear condition below the limit flaps: many alerts
    const flapping = await replay(s, { rules: [rule] });
    expect(flapping.lines.filter((l) => l.startsWith('raised')).length).toBeGreaterThan(10);
  });
});
