/**
 * Water per tonne through the real pipeline: the simulator's feed of simulators/scenarios/steel-water-intensity.yaml
 * (steel-01's volume totaliser failed, its outfall flow ×1.6 from 02:00 to 04:00 with production unchanged) published
 * through a broker into the rules service, judged by an `intensity` rule on hourly windows against the plant's own
 * baseline. Then the same feed into two partitioned rules processes, which together must notify exactly what one
 * process does, each only for its own plants.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import type { AlertTransition } from '../../../rules/alerts.ts';
import { partitionOf } from '../../../rules/partition.ts';
import type { FeedMessage } from '../../../simulators/feed.ts';
import { freePort } from '../../harness/ports.ts';
import { endOfFeed, feedOf, GOLDEN_RULES, goldenLine, publishFeed, scenario, scenarioWith, startGoldenRules, type ReplayOptions } from './golden-support.ts';

/** steel-01's normal wastewater is about 600 m3/h for 470 t/h of steel: 1.28 m3/t. Its own baseline here: 1.3 m3/t. */
const BASELINE = 1.3;
const WATER_RULE = {
  id: 'water-intensity',
  kind: 'intensity',
  severity: 'major',
  selector: { plants: ['steel-01'] },
  indicator: 'water_m3_per_t',
  level: 'plant',
  windowMs: 3_600_000,
  // raised above 1.3 × 1.2 = 1.56 m3/t, cleared at or below 1.3 × 1.05 = 1.365 m3/t
  marginPct: 20,
  clearMarginPct: 5,
};

/**
 * Hourly windows, each judged when event time has passed its end. The flow rises over 02:00-02:15 and falls back over
 * 03:45-04:00 (an excursion returns before its window closes):
 *   02:00-03:00  15 min ramping up + 45 min at ×1.6: well over 1.56          → raised at 03:00
 *   03:00-04:00  45 min at ×1.6 + 15 min ramping down: still over            → no transition (the alert stays open)
 *   04:00-05:00  normal again, at or below 1.365                            → cleared at 05:00
 *   05:00-06:00  not complete when the feed ends: not judged
 */
const STEEL_WATER = [
  'raised water-intensity steel-01/production 03:00 1.98 limit 1.56',
  'cleared water-intensity steel-01/production 05:00 1.32',
];

describe('intensity rules and partitions through a broker', () => {
  let broker: RunningBroker;
  let influxUrl: string;
  let dir: string;
  let baselineFile: string;
  let runs = 0;

  beforeAll(async () => {
    broker = await startBroker();
    influxUrl = `http://127.0.0.1:${await freePort()}`; // not listening: rows wait in memory
    dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-intensity-'));
    baselineFile = path.join(dir, 'baselines.yaml');
    writeFileSync(baselineFile, `source: test\nentries:\n  - { plant: steel-01, indicator: water_m3_per_t, level: plant, value: ${BASELINE} }\n`);
  });
  afterAll(async () => {
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function run(feed: readonly FeedMessage[], opts: Partial<ReplayOptions>): Promise<AlertTransition[]> {
    const transitions: AlertTransition[] = [];
    const service = await startGoldenRules({ brokerUrl: broker.url, influxUrl, into: transitions, clientId: `intensity-${runs++}`, baselineFiles: [baselineFile], ...opts });
    try {
      const partition = opts.partition && 'count' in opts.partition ? opts.partition : undefined;
      const mine = partition ? feed.filter((m) => partitionOf(m.payload.plant, partition.count) === partition.index) : feed;
      await publishFeed(broker.url, feed, service, mine.length);
      await endOfFeed(service);
      // nothing but its own plants reached it
      expect(service.stats().receivedMessages).toBe(mine.length);
      return transitions;
    } finally {
      await service.stop();
    }
  }

  it('raises water per tonne at the end of the first hour over the margin and clears it at the end of the first normal hour', async () => {
    const s = scenario('steel-water-intensity');
    const transitions = await run(feedOf(s), { rules: [WATER_RULE] });
    expect(transitions.map((t) => goldenLine(t, s.startMs))).toEqual(STEEL_WATER);
    const raised = transitions[0]!.alert;
    expect(raised.severity).toBe('major');
    expect(raised.message.en).toMatch(/^Wastewater per tonne of product at Anshan Steel Works: 1\.976 m3\/t over 1 h is more than 20% above the plant's baseline/);
  }, 20_000);

  it('partitioned over two processes: together the same alerts as one process, each for its own plants only', async () => {
    // and a COD upset at paper-01, so that both partitions have alerts to raise
    const s = scenarioWith('steel-water-intensity', [{ plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', kind: 'excursion', from: '1h', to: '3h', params: { peak: 150, rise: '20m', fall: '30m' } }]);
    const feed = feedOf(s);
    const rules = [...GOLDEN_RULES, WATER_RULE];
    const whole = (await run(feed, { rules })).map((t) => goldenLine(t, s.startMs));
    expect(whole).toEqual(expect.arrayContaining(STEEL_WATER));
    const byPartition: string[][] = [];
    for (const index of [0, 1]) {
      const transitions = await run(feed, { rules, partition: { index, count: 2 } });
      expect(transitions.every((t) => partitionOf(t.alert.plant, 2) === index)).toBe(true);
      byPartition.push(transitions.map((t) => goldenLine(t, s.startMs)));
    }
    // by FNV-1a, steel-01 is partition 0's; paper-01 and dyeing-01 are partition 1's: both have alerts to raise
    expect(byPartition[0]!.length).toBeGreaterThan(0);
    expect(byPartition[1]!.length).toBeGreaterThan(0);
    expect([...byPartition[0]!, ...byPartition[1]!].sort()).toEqual([...whole].sort());
  }, 30_000);
});
