/**
 * Golden replays: a simulator scenario's feed (simulators/feed.ts, deterministic) published through a real broker
 * into the rules service, the alert transitions it emits written as one line each (rules/test-support.ts `line`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { connectAsync } from 'mqtt';
import { pino } from 'pino';
import { encodeBatch } from '../../../core/reading.ts';
import { generateFeed, type FeedMessage } from '../../../simulators/feed.ts';
import { loadScenario, parseScenario, type Scenario } from '../../../simulators/scenario.ts';
import type { AlertTransition } from '../../../rules/alerts.ts';
import type { RulesConfigInput } from '../../../rules/config.ts';
import { startRules, type RulesService } from '../../../rules/service.ts';
import { DEMO_OVERRIDES, demoRegistry } from '../../../rules/test-support.ts';
import { until } from './support.ts';

export const SCENARIOS = path.resolve(import.meta.dirname, '../../../simulators/scenarios');

export function scenario(name: string): Scenario {
  return loadScenario(path.join(SCENARIOS, `${name}.yaml`));
}

/** A shipped scenario with more faults scripted on top. */
export function scenarioWith(name: string, extraFaults: Record<string, unknown>[]): Scenario {
  const raw = parse(readFileSync(path.join(SCENARIOS, `${name}.yaml`), 'utf8')) as { faults?: unknown[] };
  return parseScenario(`${name} + ${extraFaults.length} faults`, { ...raw, faults: [...(raw.faults ?? []), ...extraFaults] }, SCENARIOS);
}

/** A scenario given inline, plants from the demo registry. */
export function inlineScenario(raw: Record<string, unknown>): Scenario {
  return parseScenario('inline scenario', { plants: '../../deploy/demo/plants.yaml', ...raw }, SCENARIOS);
}

/** The rules the golden tables are written for: what a paper mill, a dyeing works and a steel works need watched. */
export const GOLDEN_RULES = [
  { id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: 'catalog', clear: { deadbandPct: 5 } },
  // NH3-N analysers are noisy (about ±0.5 mg/L): the clear level sits 15% under the limit so the noise does not flap it
  { id: 'nh3n-limit', kind: 'limit', severity: 'major', selector: { quantity: 'nh3n' }, limit: 'catalog', clear: { deadbandPct: 15 } },
  { id: 'ph-range', kind: 'limit', severity: 'minor', selector: { quantity: 'ph' }, limit: 'catalog', clear: { deadband: 0.2 } },
  // ultra-low emission NOx (50 mg/m3) on hourly means, as GB 13223-2011 judges flue gas
  { id: 'nox-hourly', kind: 'limit', severity: 'major', selector: { plants: ['steel-01'], quantity: 'nox' }, limit: { max: 50 }, averaging: { meanOverMs: 3_600_000, minSamples: 30 }, clear: { deadbandPct: 10 } },
  { id: 'cod-flatline', kind: 'flatline', severity: 'minor', selector: { quantity: 'cod' }, epsilon: 0.01, samples: 30 },
  { id: 'nh3n-quality', kind: 'quality', severity: 'warning', selector: { quantity: 'nh3n' }, windowMs: 900_000, maxShare: 0.2, clearBelowShare: 0.05 },
  { id: 'ph-quality', kind: 'quality', severity: 'warning', selector: { quantity: 'ph' }, windowMs: 900_000, maxShare: 0.2, clearBelowShare: 0.05 },
];

export interface GoldenRun {
  lines: string[];
  transitions: AlertTransition[];
  service: RulesService;
}

export interface ReplayOptions {
  brokerUrl: string;
  influxUrl: string;
  allowedLatenessMs?: number;
  checkpointFile?: string;
  clientId?: string;
  rules?: unknown[];
  /** Baseline files besides the shipped ones (for intensity and baseline rules). */
  baselineFiles?: string[];
  /** Judge only a partition of the plants (rules/partition.ts). */
  partition?: { index: number; count: number } | { plants: string[] };
  /** Collected lines go here (shared across a restart). */
  into?: AlertTransition[];
}

export function startGoldenRules(o: ReplayOptions): Promise<RulesService> {
  const config: RulesConfigInput = {
    mqtt: { url: o.brokerUrl, protocolVersion: 4 },
    clientId: o.clientId ?? 'rules-golden',
    influx: { url: o.influxUrl, database: 'cleanstream', createDatabase: false },
    limits: [DEMO_OVERRIDES],
    // idle flush far off: a pause in a fast replay must not release buffered readings early
    eventTime: { allowedLatenessMs: o.allowedLatenessMs ?? 0, idleFlushMs: 600_000 },
    tickMs: 100,
    ...(o.checkpointFile ? { checkpoint: { file: o.checkpointFile, intervalMs: 250 } } : {}),
    rules: (o.rules ?? GOLDEN_RULES) as RulesConfigInput['rules'],
    ...(o.baselineFiles ? { history: { baselineFiles: o.baselineFiles } } : {}),
    ...(o.partition ? { partition: o.partition } : {}),
  };
  const into = o.into ?? [];
  return startRules(config, { registry: demoRegistry(), logger: pino({ level: 'silent' }), onTransition: (t) => into.push(t) }).then((s) => s);
}

/** Publish feed messages in order at QoS 1 (a window of unacknowledged publishes), then wait until the service has them all. */
export async function publishFeed(brokerUrl: string, messages: readonly FeedMessage[], service: RulesService, expectReceived: number): Promise<void> {
  const client = await connectAsync(brokerUrl, { protocolVersion: 4, clientId: `feed-${process.pid}-${Math.random().toString(36).slice(2, 8)}` });
  try {
    const window: Promise<unknown>[] = [];
    for (const m of messages) {
      window.push(client.publishAsync(m.topic, encodeBatch(m.payload), { qos: 1 }));
      if (window.length >= 200) await Promise.all(window.splice(0));
    }
    await Promise.all(window);
  } finally {
    await client.endAsync();
  }
  await until('the rules service to receive the feed', () => (service.stats().receivedMessages >= expectReceived ? true : undefined), 30_000);
}

/** Event time is over: release what the reorder buffers hold (as an idle source would), then hand everything on. */
export async function endOfFeed(service: RulesService): Promise<void> {
  service.engine.tick(Date.now() + 3_600_000);
  await service.flush();
}

export function feedOf(s: Scenario): FeedMessage[] {
  return [...generateFeed(s)];
}

/**
 * One transition as a row of an expectation table: `raised  cod-limit  paper-01/outfall-1-cod  02:41  91.3  limit 90`,
 * the time being the transition's event time as hh:mm after the scenario's start.
 */
export function goldenLine(t: AlertTransition, startMs: number): string {
  const a = t.alert;
  const at = t.transition === 'cleared' ? a.clearedAt! : t.transition === 'raised' ? a.raisedAt : a.updatedAt;
  const mins = Math.round((at - startMs) / 60_000);
  const hhmm = `${String(Math.floor(mins / 60)).padStart(2, '0')}:${String(mins % 60).padStart(2, '0')}`;
  const v = a.value === null ? '-' : String(Number(a.value.toPrecision(3)));
  return `${t.transition} ${a.rule} ${a.plant}/${a.meter} ${hhmm} ${v}${a.limit !== null && t.transition !== 'cleared' ? ` limit ${a.limit}` : ''}`;
}

/**
 * Expected rows for a scenario's scripted faults, worked out here from the feed's readings and the rule's own
 * figures with the plainest code that does the job, not with the rules engine (which is what the golden tables
 * test). Each returns rows in goldenLine's format.
 */
export interface PointSample {
  ts: number;
  value: number | null;
  quality: string;
}

/** One point's readings in the feed, once per timestamp (a duplicated send counted once), in time order. */
export function pointSamples(feed: readonly FeedMessage[], plant: string, meter: string, quantity: string): PointSample[] {
  const byTs = new Map<number, PointSample>();
  for (const m of feed) {
    if (m.payload.plant !== plant) continue;
    for (const r of m.payload.readings) if (r.meter === meter && r.quantity === quantity && !byTs.has(r.ts)) byTs.set(r.ts, { ts: r.ts, value: r.value, quality: r.quality });
  }
  return [...byTs.values()].sort((a, b) => a.ts - b.ts);
}

function hhmm(at: number, startMs: number): string {
  const mins = Math.round((at - startMs) / 60_000);
  return `${String(Math.floor(mins / 60)).padStart(2, '0')}:${String(mins % 60).padStart(2, '0')}`;
}
const fig = (v: number): string => String(Number(v.toPrecision(3)));

/**
 * A limit: raised at the first value over `max`; while open, each return over `max` after a value at or under it
 * is the same alert updated; cleared at the first value under `clearBelow`.
 */
export function expectedLimitRows(samples: readonly PointSample[], o: { rule: string; plant: string; meter: string; max: number; clearBelow: number; startMs: number }): string[] {
  const rows: string[] = [];
  let open = false;
  let wasOver = false;
  const key = `${o.rule} ${o.plant}/${o.meter}`;
  for (const s of samples) {
    if (s.value === null || s.quality !== 'good') continue;
    const over = s.value > o.max;
    if (!open && over) {
      rows.push(`raised ${key} ${hhmm(s.ts, o.startMs)} ${fig(s.value)} limit ${o.max}`);
      open = true;
    } else if (open && over && !wasOver) rows.push(`updated ${key} ${hhmm(s.ts, o.startMs)} ${fig(s.value)} limit ${o.max}`);
    else if (open && s.value < o.clearBelow) {
      rows.push(`cleared ${key} ${hhmm(s.ts, o.startMs)} ${fig(s.value)}`);
      open = false;
    }
    wasOver = over;
  }
  return rows;
}

/** A flatline: raised at the `samples`-th value in a row within `epsilon` of the first; cleared at the first that moves away. */
export function expectedFlatlineRows(samples: readonly PointSample[], o: { rule: string; plant: string; meter: string; epsilon: number; samples: number; startMs: number }): string[] {
  const rows: string[] = [];
  const key = `${o.rule} ${o.plant}/${o.meter}`;
  let runStart = 0;
  let open = false;
  samples.forEach((s, i) => {
    const first = samples[runStart]!;
    if (Math.abs(s.value! - first.value!) > o.epsilon) {
      if (open) rows.push(`cleared ${key} ${hhmm(s.ts, o.startMs)} ${fig(s.value!)}`);
      open = false;
      runStart = i;
    } else if (!open && i - runStart + 1 >= o.samples) {
      rows.push(`raised ${key} ${hhmm(s.ts, o.startMs)} ${fig(s.value!)}`);
      open = true;
    }
  });
  return rows;
}

/** A quality share: the share (%) of bad readings among those of the last `windowMs` (both ends in); raised over `maxPct`, cleared at or under `clearPct`. */
export function expectedQualityRows(samples: readonly PointSample[], o: { rule: string; plant: string; meter: string; windowMs: number; maxPct: number; clearPct: number; startMs: number }): string[] {
  const rows: string[] = [];
  const key = `${o.rule} ${o.plant}/${o.meter}`;
  let open = false;
  for (const s of samples) {
    const inWindow = samples.filter((x) => x.ts >= s.ts - o.windowMs && x.ts <= s.ts);
    const pct = (100 * inWindow.filter((x) => x.quality === 'bad').length) / inWindow.length;
    if (!open && pct > o.maxPct) {
      rows.push(`raised ${key} ${hhmm(s.ts, o.startMs)} ${fig(pct)} limit ${o.maxPct}`);
      open = true;
    } else if (open && pct <= o.clearPct) {
      rows.push(`cleared ${key} ${hhmm(s.ts, o.startMs)} ${fig(pct)}`);
      open = false;
    }
  }
  return rows;
}

/** A limit on hourly means (clock hours), judged when each hour ends: raised over `max`, cleared under `clearBelow`. */
export function expectedHourlyMeanRows(samples: readonly PointSample[], o: { rule: string; plant: string; meter: string; max: number; clearBelow: number; minSamples: number; startMs: number }): string[] {
  const HOUR = 3_600_000;
  const rows: string[] = [];
  const key = `${o.rule} ${o.plant}/${o.meter}`;
  const hours = new Map<number, number[]>();
  for (const s of samples) if (s.value !== null && s.quality === 'good') hours.set(Math.floor(s.ts / HOUR) * HOUR, [...(hours.get(Math.floor(s.ts / HOUR) * HOUR) ?? []), s.value]);
  let open = false;
  for (const [hour, values] of [...hours].sort((a, b) => a[0] - b[0])) {
    if (values.length < o.minSamples) continue;
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    if (!open && mean > o.max) {
      rows.push(`raised ${key} ${hhmm(hour + HOUR, o.startMs)} ${fig(mean)} limit ${o.max}`);
      open = true;
    } else if (open && mean < o.clearBelow) {
      rows.push(`cleared ${key} ${hhmm(hour + HOUR, o.startMs)} ${fig(mean)}`);
      open = false;
    }
  }
  return rows;
}
