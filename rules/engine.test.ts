import { describe, expect, it } from 'vitest';
import { harness, line, MIN, series, T0, type Step } from './test-support.ts';
import type { EngineSnapshot } from './engine.ts';

const RULES = [
  { id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: 'catalog', clear: { below: 85 } },
  { id: 'cod-flat', kind: 'flatline', severity: 'minor', selector: { quantity: 'cod' }, epsilon: 0.01, samples: 4 },
  {
    id: 'nox-hourly',
    kind: 'limit',
    severity: 'major',
    selector: { quantity: 'nox' },
    limit: { catalog: { standard: 'GB 13223-2011' } },
    averaging: { meanOverMs: 60 * MIN },
    clear: { deadbandPct: 10 },
  },
  { id: 'meter-stale', kind: 'stale', severity: 'major', selector: { plants: ['paper-01'], meters: ['outfall-1-cod'] }, afterMs: 20 * MIN },
];

const nox = { meter: 'stack-1-cems', quantity: 'nox', unit: 'mg/m3' } as const;

/** Two hours of COD and NOx arriving partly out of order, with ticks; processing time follows event time. */
function feed(): Step[] {
  const steps: Step[] = [];
  const cod = [80, 95, 97, 88, 92, 84, 70, 70, 70, 70, 70, 72, 91, 93, 80];
  for (let i = 0; i < 24; i++) {
    const ts = T0 + i * 5 * MIN;
    steps.push({ ...nox, ts, v: i < 12 ? 90 + i * 2 : 60, now: ts + 1000 });
    if (i < cod.length) steps.push({ ts: ts + 1000, v: cod[i]!, now: ts + 2000 });
    if (i % 5 === 2) steps.push({ ...nox, ts: ts - 2 * MIN, v: 140, now: ts + 3000 }); // out of order, within lateness
    steps.push({ tick: ts + 4000 });
  }
  // silence from the COD analyser: stale raised and re-notified by ticks
  for (let m = 0; m < 60; m += 5) steps.push({ tick: T0 + 125 * MIN + m * MIN });
  return steps;
}

const opts = { allowedLatenessMs: 3 * MIN, idleFlushMs: 30 * MIN };

describe('rules engine', () => {
  it('is deterministic: the same feed and clock give the same alert sequence', () => {
    const a = harness(RULES, opts);
    const b = harness(RULES, opts);
    expect(a.feed(feed())).toEqual(b.feed(feed()));
    expect(a.lines().length).toBeGreaterThan(4);
  });

  it('after a restart from a snapshot taken mid-feed it produces the same alerts as without the restart', () => {
    const steps = feed();
    const reference = harness(RULES, opts).feed(steps);
    for (const cut of [7, 20, 33, 51]) {
      const first = harness(RULES, opts);
      const before = first.feed(steps.slice(0, cut));
      // through JSON, as the checkpoint file does
      const snap = JSON.parse(JSON.stringify(first.engine.snapshot())) as EngineSnapshot;
      const second = harness(RULES, { ...opts, startAt: first.clock.now }, snap);
      const after = second.feed(steps.slice(cut));
      expect([...before, ...after], `restart after step ${cut}`).toEqual(reference);
    }
    // the reference covers every part of the state: windows, buffered readings, open alerts, deadman
    expect(reference.some((l) => l.startsWith('raised nox-hourly'))).toBe(true);
    expect(reference.some((l) => l.startsWith('renotified meter-stale'))).toBe(true);
    expect(reference.some((l) => l.startsWith('updated cod-limit'))).toBe(true);
  });

  it('drops the state of a rule whose definition changed, keeps the rest', () => {
    const first = harness(RULES, opts);
    first.feed(series(T0, MIN, [95, 70, 70, 70]));
    const snap = first.engine.snapshot();
    const changed = RULES.map((r) => (r.id === 'cod-flat' ? { ...r, samples: 10 } : r));
    const second = harness(changed, opts);
    expect(second.engine.restore(snap)).toEqual({ droppedOps: 1, droppedAlerts: 0 });
    expect(second.engine.openAlerts().map((a) => a.rule)).toEqual(['cod-limit']);
  });

  it('acknowledges an alert by id, escalates one that nobody acknowledged', () => {
    const rules = [
      { id: 'cod-limit', kind: 'limit', severity: 'minor', selector: { quantity: 'cod' }, limit: { max: 90 }, escalate: { afterMs: 30 * MIN } },
      { id: 'ph-range', kind: 'limit', severity: 'minor', selector: { quantity: 'ph' }, limit: 'catalog', escalate: { afterMs: 30 * MIN, to: 'critical' } },
    ];
    const h = harness(rules);
    h.feed([
      { ts: T0, v: 95, now: T0 },
      { ts: T0, v: 4, meter: 'outfall-1-ph', quantity: 'ph', unit: 'pH', now: T0 },
    ]);
    const cod = h.engine.openAlerts().find((a) => a.rule === 'cod-limit')!;
    expect(h.feed([{ ack: cod.id, by: 'operator-li', comment: 'dosing pump restarted', now: T0 + 10 * MIN }])).toEqual([`acknowledged cod-limit outfall-1-cod 95@${T0 + 10 * MIN} limit=90`]);
    expect(h.transitions.at(-1)!.alert).toMatchObject({ state: 'acknowledged', ackedBy: 'operator-li', comment: 'dosing pump restarted' });
    expect(h.feed([{ tick: T0 + 29 * MIN }])).toEqual([]);
    expect(h.feed([{ tick: T0 + 30 * MIN }, { tick: T0 + 90 * MIN }])).toEqual([`escalated ph-range outfall-1-ph 4@${T0 + 30 * MIN} limit=6 critical`]);
    expect(h.transitions.at(-1)!.alert.escalated).toBe(true);
    // acknowledged alerts clear like any other; a second acknowledgement is refused
    expect(h.engine.acknowledge(cod.id, 'someone')).toBe(false);
    expect(h.feed([{ ts: T0 + MIN, v: 80 }])).toEqual([`cleared cod-limit outfall-1-cod 80@${T0 + MIN}`]);
  });

  it('judges only series in the registry when one is given, and counts the rest', () => {
    const h = harness([RULES[0]]);
    h.feed([{ ts: T0, v: 500, plant: 'nowhere-01' }, { ts: T0, v: 500, meter: 'no-such-meter' }]);
    expect(h.lines()).toEqual([]);
    expect(h.engine.stats().unwatched).toBe(2);
  });

  it('without a registry, judges any plant against explicit limits', () => {
    const h = harness([{ id: 'cod-100', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: { max: 100 } }], { registry: null });
    expect(h.feed([{ ts: T0, v: 120, plant: 'elsewhere-01', meter: 'm1' }])).toEqual([`raised cod-100 m1 120@${T0} limit=100`]);
  });

  it('keeps the alerts of meters apart when their rule shares one stateless operator', () => {
    const rules = [
      { id: 'cod-100', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: { max: 100 } },
      { id: 'cod-catalog', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: 'catalog' },
    ];
    const h = harness(rules, { registry: null });
    // paper-01 and another plant, two meters each; only one meter goes over
    const out = h.feed([
      { ts: T0, v: 120, meter: 'm1' },
      { ts: T0, v: 50, meter: 'm2' },
      { ts: T0, v: 50, plant: 'elsewhere-01', meter: 'm1' },
      { ts: T0 + MIN, v: 50, meter: 'm2' },
      { ts: T0 + MIN, v: 50, plant: 'elsewhere-01', meter: 'm1' },
    ]);
    expect(out).toEqual([`raised cod-100 m1 120@${T0} limit=100`]);
    expect(h.engine.openAlerts().map((a) => `${a.rule} ${a.plant}/${a.meter}`)).toEqual(['cod-100 paper-01/m1']);
    expect(h.feed([{ ts: T0 + MIN, v: 60, meter: 'm1' }])).toEqual([`cleared cod-100 m1 60@${T0 + MIN}`]);
  });

  it('hands a restored deadman alert to the meter watcher made before the restore: renotified, then cleared by data', () => {
    const stale = [{ id: 'meter-stale', kind: 'stale', severity: 'major', selector: { plants: ['paper-01'], meters: ['outfall-1-cod'] }, afterMs: 5 * MIN }];
    const first = harness(stale);
    expect(first.feed([{ tick: T0 + 5 * MIN }])).toEqual([`raised meter-stale outfall-1-cod 5@${T0 + 5 * MIN} limit=5`]);
    const snap = JSON.parse(JSON.stringify(first.engine.snapshot())) as EngineSnapshot;
    const second = harness(stale, { startAt: T0 + 5 * MIN }, snap);
    expect(second.feed([{ tick: T0 + 10 * MIN }])).toEqual([`renotified meter-stale outfall-1-cod 10@${T0 + 10 * MIN} limit=5`]);
    expect(second.feed([{ ts: T0 + 11 * MIN, v: 50, now: T0 + 11 * MIN }])).toEqual([`cleared meter-stale outfall-1-cod null@${T0 + 11 * MIN}`]);
  });

  it('takes a snapshot plant by plant while readings keep coming; restored, and fed what each plant had not judged when taken, it goes on as if it never stopped', () => {
    const plants = ['paper-01', 'dyeing-01', 'steel-01'];
    // the COD steps of feed() at every plant, plants interleaved, and the ticks between
    const steps: Step[] = feed().flatMap((s): Step[] => (!('ts' in s) || s.meter === nox.meter ? [s] : plants.map((plant) => ({ ...s, plant }))));
    const begin = 30;
    const reference = harness(RULES, opts);
    reference.feed(steps.slice(0, begin));
    const judged = new Map<string, string[]>();
    const clockAtBegin = reference.clock.now;
    const capture = reference.engine.beginSnapshot({ includedOf: (plant) => judged.get(plant) ?? [] });
    const taken: string[] = [];
    const takenPlants: string[] = [];
    let done = false;
    /** What the reference raised, cleared... after its plant was taken: what the restored engine must do again. */
    const afterTaken: string[] = [];
    // one plant per slice, with more readings (and ticks) judged in between; a reading judged for a plant not yet taken is in the snapshot
    for (let i = begin; i < steps.length; i++) {
      const step = steps[i]!;
      const plant = 'ts' in step ? (step.plant ?? 'paper-01') : undefined;
      if (plant && capture.pending(plant)) judged.set(plant, [...(judged.get(plant) ?? []), String(i)]);
      const from = reference.transitions.length;
      reference.feed([step]);
      for (const t of reference.transitions.slice(from)) if (!capture.pending(t.alert.plant)) afterTaken.push(`${t.alert.plant} ${line(t)}`);
      if (i % 3 === 0 && !done) {
        const slice = capture.take(1);
        taken.push(...slice.pieces);
        done = slice.done;
      }
    }
    while (!done) {
      const slice = capture.take(1);
      taken.push(...slice.pieces);
      done = slice.done;
    }
    for (let slice = capture.takePlants(1); slice.pieces.length; slice = capture.takePlants(1)) takenPlants.push(...slice.pieces);
    const snap = JSON.parse(JSON.stringify({ ...capture.head, series: taken.map((t) => JSON.parse(t) as unknown), plants: takenPlants.map((t) => JSON.parse(t) as unknown) })) as EngineSnapshot;
    expect(snap.plants!.map((p) => p.plant).sort()).toEqual([...plants].sort());
    expect([...judged.values()].flat().length, 'readings judged during the capture before their plant was taken').toBeGreaterThan(0);

    const restored = harness(RULES, { ...opts, startAt: clockAtBegin }, snap);
    const included = new Set(snap.plants!.flatMap((p) => p.included));
    restored.feed(steps.slice(begin).filter((_, k) => !included.has(String(begin + k))));
    expect(restored.transitions.map((t) => `${t.alert.plant} ${line(t)}`)).toEqual(afterTaken);
    expect(afterTaken.length).toBeGreaterThan(3);
    const state = (h: { engine: { snapshot(): EngineSnapshot } }): unknown => ({ ...JSON.parse(JSON.stringify(h.engine.snapshot())), takenAt: 0 });
    expect(state(restored)).toEqual(state(reference));
    // and judges what comes next alike
    const more = series(T0 + 200 * MIN, 5 * MIN, [99, 99, 50]).flatMap((s) => plants.map((plant) => ({ ...s, plant })));
    expect(restored.feed(more)).toEqual(reference.feed(more));
    expect(reference.lines().length).toBeGreaterThan(4);
  });

  describe('windows shared by rules that need the same one', () => {
    const rate = (id: string, maxPerMinute: number, windowMs = 10 * MIN) => ({ id, kind: 'rate', severity: 'warning', selector: { quantity: 'cod' }, maxPerMinute, direction: 'rise', windowMs, resolutionMs: MIN });
    const quality = (id: string, maxShare: number, count: 'bad' | 'not-good') => ({ id, kind: 'quality', severity: 'minor', selector: { quantity: 'cod' }, windowMs: 10 * MIN, resolutionMs: MIN, maxShare, count, minSamples: 3 });
    const SHARING = [rate('rise-fast', 4), rate('rise-faster', 6), rate('rise-slow', 2, 30 * MIN), quality('bad-40', 0.4, 'bad'), quality('bad-25', 0.25, 'bad'), quality('unsure-45', 0.45, 'not-good')];
    /** COD climbing and falling, with uncertain and bad stretches. */
    const steps = (): Step[] =>
      [50, 52, 60, 75, 90, 95, 96, 96, null, null, 80, 70, 60, 55, 50, 50, 50, 49, null, null, null, null, null, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50].map((v, i) => ({ ts: T0 + i * MIN, v, q: v === null ? 'bad' : i % 4 === 1 ? 'uncertain' : 'good', now: T0 + i * MIN + 1000 }));

    it('judges each rule as it would alone, and holds each window once per series in a checkpoint', () => {
      const together = harness(SHARING);
      together.feed(steps());
      for (const rule of SHARING) {
        const alone = harness([rule]).feed(steps());
        expect(together.lines().filter((l) => l.split(' ')[1] === rule.id), rule.id).toEqual(alone);
      }
      expect(new Set(together.lines().map((l) => l.split(' ')[1])).size, 'rules that raised something').toBe(SHARING.length);
      const [entry] = together.engine.snapshot().series;
      expect(Object.keys(entry!.windows!).sort()).toEqual(['oldest:value:1800000:60000', 'oldest:value:600000:60000', 'sum:bad:600000:60000', 'sum:not-good:600000:60000']);
      expect(entry!.ops, 'no rule keeps a window of its own').toEqual([]);
    });

    it('restores the windows of a checkpoint from before they were shared (one copy with each rule)', () => {
      const all = steps();
      const reference = harness(SHARING).feed(all);
      const first = harness(SHARING);
      const before = first.feed(all.slice(0, 12));
      const snap = JSON.parse(JSON.stringify(first.engine.snapshot())) as EngineSnapshot;
      const entry = snap.series[0]!;
      const keyOf = (r: (typeof SHARING)[number]): string => ('maxShare' in r ? `sum:${r.count}:${r.windowMs}:${r.resolutionMs}` : `oldest:value:${r.windowMs}:${r.resolutionMs}`);
      entry.ops = SHARING.map((r) => [r.id, entry.windows![keyOf(r)]]);
      delete entry.windows;
      const second = harness(SHARING, { startAt: first.clock.now }, snap);
      expect([...before, ...second.feed(all.slice(12))]).toEqual(reference);
    });
  });
});

