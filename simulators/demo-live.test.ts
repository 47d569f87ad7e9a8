/**
 * The demo `cleanstream up` runs by default (scenarios/demo-live.yaml), judged by the rules it runs (rules/sample.yaml):
 * within three minutes of the start a COD excursion raises cod-limit and later clears it, the stuck analyser raises
 * cod-flatline, the silent meter raises meter-stale; every alert clears by itself once its fault is over, nothing else
 * is raised, and ten minutes later the same happens again; at the third excursion cod-repeated says COD keeps touching
 * its limit. Played on a virtual clock: the feed the gateways would publish (feed.ts) into the rules engine, with
 * processing time following the feed.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AlertTransition } from '../rules/alerts.ts';
import { BUILTIN_BASELINES_DIR, loadBaselines, loadEnergyCoefficients } from '../rules/baselines.ts';
import { loadRulesConfig } from '../rules/config.ts';
import { RulesEngine } from '../rules/engine.ts';
import { BUILTIN_STANDARDS_DIR, loadLimitsCatalog } from '../rules/limits/catalog.ts';
import { generateFeed } from './feed.ts';
import { loadScenario } from './scenario.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const START = Date.UTC(2026, 11, 7, 13, 0, 0);
const SECOND = 1_000;
const MINUTE = 60 * SECOND;

interface Seen {
  at: number;
  what: string;
}

/** Every alert transition of `minutes` of the demo, as `transition rule plant/meter` with its processing time. */
function playDemo(minutes: number): Seen[] {
  const scenario = loadScenario(path.join(ROOT, 'simulators/scenarios/demo-live.yaml'), START);
  const config = loadRulesConfig(path.join(ROOT, 'rules/sample.yaml'), {});
  let now = START;
  const seen: Seen[] = [];
  const engine = new RulesEngine({
    rules: config.rules,
    limits: loadLimitsCatalog([BUILTIN_STANDARDS_DIR, ...config.limits]),
    baselines: loadBaselines([BUILTIN_BASELINES_DIR, ...config.history.baselineFiles]),
    energy: loadEnergyCoefficients(),
    registry: scenario.registry,
    allowedLatenessMs: config.eventTime.allowedLatenessMs,
    idleFlushMs: config.eventTime.idleFlushMs,
    clock: () => now,
    onTransition: (t: AlertTransition) => seen.push({ at: now - START, what: `${t.transition} ${t.alert.rule} ${t.alert.plant}/${t.alert.meter}` }),
  });
  let nextTick = START + SECOND;
  for (const message of generateFeed({ ...scenario, durationMs: minutes * MINUTE })) {
    // a batch reaches the rules 100 ms after its scan; the service ticks once a second (tickMs)
    while (nextTick <= message.t + 100) {
      now = nextTick;
      engine.tick(now);
      nextTick += SECOND;
    }
    now = message.t + 100;
    engine.ingestBatch(message.payload);
  }
  return seen;
}

const cycle = [
  'raised cod-limit paper-01/outfall-1-cod',
  'raised cod-flatline dyeing-01/outfall-1-cod',
  'cleared cod-limit paper-01/outfall-1-cod',
  'raised meter-stale steel-01/main-power',
  'cleared cod-flatline dyeing-01/outfall-1-cod',
  'cleared meter-stale steel-01/main-power',
];

describe('the live demo with the shipped rules', () => {
  const seen = playDemo(25);

  it('raises the COD excursion, the stuck analyser and the silent meter within three minutes, and clears each after its fault', () => {
    const first = seen.filter((s) => s.at < 10 * MINUTE);
    expect(first.map((s) => s.what)).toEqual(cycle);
    const at = (what: string) => (first.find((s) => s.what === what) as Seen).at;
    // COD crosses 90 mg/L a few seconds into its 10-s rise from +40 s; back under the clearing level (85.5) as it falls
    expect(at('raised cod-limit paper-01/outfall-1-cod')).toBeGreaterThanOrEqual(40 * SECOND);
    expect(at('raised cod-limit paper-01/outfall-1-cod')).toBeLessThan(60 * SECOND);
    expect(at('cleared cod-limit paper-01/outfall-1-cod')).toBeLessThan(110 * SECOND);
    // 30 equal samples from +60 s, one a second; cleared when the analyser moves again at +180 s
    expect(at('raised cod-flatline dyeing-01/outfall-1-cod')).toBeGreaterThanOrEqual(89 * SECOND);
    expect(at('raised cod-flatline dyeing-01/outfall-1-cod')).toBeLessThan(100 * SECOND);
    expect(at('cleared cod-flatline dyeing-01/outfall-1-cod')).toBeGreaterThanOrEqual(180 * SECOND);
    // no value since +80 s: a minute later the meter is stale; values again from +200 s
    expect(at('raised meter-stale steel-01/main-power')).toBeGreaterThanOrEqual(140 * SECOND);
    expect(at('raised meter-stale steel-01/main-power')).toBeLessThan(150 * SECOND);
    expect(at('cleared meter-stale steel-01/main-power')).toBeGreaterThanOrEqual(200 * SECOND);
    expect(Math.max(...first.filter((s) => s.what.startsWith('raised')).map((s) => s.at))).toBeLessThan(3 * MINUTE);
  });

  it('shows the same again ten minutes later, for whoever opens the page then', () => {
    const second = seen.filter((s) => s.at >= 10 * MINUTE && s.at < 20 * MINUTE);
    expect(second.map((s) => s.what)).toEqual(cycle);
    const firstTimes = seen.filter((s) => s.at < 10 * MINUTE).map((s) => s.at);
    second.forEach((s, i) => expect(Math.abs(s.at - 10 * MINUTE - (firstTimes[i] as number)), s.what).toBeLessThan(10 * SECOND));
  });

  it('says at the third excursion within a day that COD keeps touching its limit (cod-repeated, left open)', () => {
    const third = seen.filter((s) => s.at >= 20 * MINUTE).map((s) => s.what);
    expect(third).toEqual(['raised cod-limit paper-01/outfall-1-cod', 'raised cod-repeated paper-01/outfall-1-cod', ...cycle.slice(1)]);
  });
});
