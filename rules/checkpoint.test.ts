import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deltaFile, readCheckpoint, removeDeltas, writeCheckpointInSlices, type RulesCheckpoint } from './checkpoint.ts';
import type { EngineSnapshot, RulesEngine, SnapshotCapture } from './engine.ts';
import { harness, series, T0 } from './test-support.ts';

// a windowed rule (hourly means) keeps state per series, so every reading changes its series
const RULES = [{ id: 'cod-hourly', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: { max: 90 }, averaging: { meanOverMs: 3_600_000, minSamples: 2 } }];
const PLANTS = ['paper-01', 'dyeing-01', 'steel-01'];

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-checkpoint-'));
  file = path.join(dir, 'checkpoint.json');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function write(target: string, capture: SnapshotCapture, extra: Partial<RulesCheckpoint>): Promise<number> {
  const headJson = JSON.stringify({ ...capture.head, ...extra });
  return writeCheckpointInSlices(target, headJson, [
    { key: 'series', kind: 'array', take: capture.take },
    { key: 'plants', kind: 'array', take: capture.takePlants },
  ]);
}

function keysOf(snap: EngineSnapshot): string[] {
  return snap.series.map((s) => s.key.join('/')).sort();
}

/**
 * The state as restore() uses it: series sorted by key, meters and alerts whether whole or per plant, time of taking
 * and the count of deltas read left out.
 */
function comparable(snap: RulesCheckpoint): unknown {
  const { deltasApplied: _read, plants = [], ...state } = snap;
  const byKey = (a: { key: string[] }, b: { key: string[] }): number => a.key.join('/').localeCompare(b.key.join('/'));
  return {
    ...state,
    takenAt: 0,
    series: [...state.series].sort(byKey),
    meters: [...state.meters, ...plants.flatMap((p) => p.meters)].sort(byKey),
    alerts: [...state.alerts, ...plants.flatMap((p) => p.alerts)].map((a) => a.alert.id).sort(),
  };
}

function feedPlant(h: ReturnType<typeof harness>, plant: string, from: number, values: number[]): void {
  h.feed(series(from, 60_000, values, { plant }));
}

describe('incremental checkpoints', () => {
  it('write only the series changed since the last checkpoint, and read back as the whole state', async () => {
    const h = harness(RULES);
    const engine: RulesEngine = h.engine;
    for (const plant of PLANTS) feedPlant(h, plant, T0, [50, 60, 70]);
    const base = engine.beginSnapshot();
    await write(file, base, { baseId: 'b1' });

    // only steel-01 changes before the delta
    feedPlant(h, 'steel-01', T0 + 3 * 60_000, [80, 85]);
    const delta = engine.beginSnapshot({ changedSince: base.generation + 1 });
    const deltaBytes = await write(deltaFile(file, 1), delta, { delta: { base: 'b1', seq: 1 } });
    const written = JSON.parse(readFileSync(deltaFile(file, 1), 'utf8')) as RulesCheckpoint;
    expect(keysOf(written)).toEqual(['steel-01/outfall-1-cod/cod']);
    expect(deltaBytes).toBeLessThan(readFileSync(file, 'utf8').length);

    const read = readCheckpoint(file)!;
    expect(read.deltasApplied).toBe(1);
    expect(comparable(read)).toEqual(comparable({ ...engine.snapshot(), baseId: 'b1' } as RulesCheckpoint));
  });

  it('restore the same judgement as an engine that never stopped', async () => {
    const h = harness(RULES);
    for (const plant of PLANTS) feedPlant(h, plant, T0, [80, 85]);
    const base = h.engine.beginSnapshot();
    await write(file, base, { baseId: 'b1' });
    feedPlant(h, 'paper-01', T0 + 2 * 60_000, [95]);
    const delta = h.engine.beginSnapshot({ changedSince: base.generation + 1 });
    await write(deltaFile(file, 1), delta, { delta: { base: 'b1', seq: 1 } });

    const restored = harness(RULES, {}, readCheckpoint(file)!);
    // the hour 00:00-01:00 of paper-01 now has 80, 85, 95 and 130: mean 97.5 > 90, known when the next hour begins
    const tail = series(T0 + 3 * 60_000, 60_000, [130]).concat(series(T0 + 3_600_000, 60_000, [50]));
    expect(restored.feed(tail.map((s) => ({ ...s, plant: 'paper-01' })))).toEqual(h.feed(tail.map((s) => ({ ...s, plant: 'paper-01' }))));
    expect(restored.lines()).toHaveLength(1);
  });

  it('take a plant that changes while a delta is being written as it is when its turn comes, listing what it judged since the delta began', async () => {
    const h = harness(RULES);
    for (const plant of PLANTS) feedPlant(h, plant, T0, [50]);
    const base = h.engine.beginSnapshot();
    await write(file, base, { baseId: 'b1' });
    feedPlant(h, 'paper-01', T0 + 60_000, [60]);
    const judged = new Map<string, string[]>();
    const delta = h.engine.beginSnapshot({ changedSince: base.generation + 1, includedOf: (plant) => judged.get(plant) ?? [] });
    // both change after the delta began, before their turn: paper-01 changed before it too, dyeing-01 only now
    for (const plant of ['paper-01', 'dyeing-01']) {
      expect(delta.pending(plant)).toBe(true);
      feedPlant(h, plant, T0 + 2 * 60_000, [70]);
      judged.set(plant, [`gw-test|${plant}`]);
    }
    const expected = comparable({ ...h.engine.snapshot(), baseId: 'b1' } as RulesCheckpoint);
    await write(deltaFile(file, 1), delta, { delta: { base: 'b1', seq: 1 } });
    expect(delta.pending('paper-01')).toBe(false);
    const read = readCheckpoint(file)!;
    expect(comparable(read)).toEqual(expected);
    expect(Object.fromEntries((read.plants ?? []).map((p) => [p.plant, p.included]))).toEqual({ 'paper-01': ['gw-test|paper-01'], 'dyeing-01': ['gw-test|dyeing-01'], 'steel-01': [] });
    // and the next delta has both
    const next = h.engine.beginSnapshot({ changedSince: delta.generation + 1 });
    await write(deltaFile(file, 2), next, { delta: { base: 'b1', seq: 2 } });
    expect(keysOf(JSON.parse(readFileSync(deltaFile(file, 2), 'utf8')) as RulesCheckpoint)).toEqual(['dyeing-01/outfall-1-cod/cod', 'paper-01/outfall-1-cod/cod']);
    expect(comparable(readCheckpoint(file)!)).toEqual(comparable({ ...h.engine.snapshot(), baseId: 'b1' } as RulesCheckpoint));
  });

  it('ignore deltas of another base (a crash after a new base was renamed in, before the old deltas were removed)', async () => {
    const h = harness(RULES);
    feedPlant(h, 'paper-01', T0, [50]);
    const old = h.engine.beginSnapshot();
    await write(file, old, { baseId: 'b1' });
    feedPlant(h, 'paper-01', T0 + 60_000, [99]);
    await write(deltaFile(file, 1), h.engine.beginSnapshot({ changedSince: old.generation + 1 }), { delta: { base: 'b1', seq: 1 } });
    const fresh = h.engine.beginSnapshot();
    await write(file, fresh, { baseId: 'b2' });
    const expected = comparable({ ...h.engine.snapshot(), baseId: 'b2' } as RulesCheckpoint);
    feedPlant(h, 'paper-01', T0 + 2 * 60_000, [10]); // not in any file
    expect(comparable(readCheckpoint(file)!)).toEqual(expected);
    removeDeltas(file);
    expect(existsSync(deltaFile(file, 1))).toBe(false);
    expect(existsSync(file)).toBe(true);
  });

  it('refuse a delta that is there but unreadable rather than restore an older state', async () => {
    const h = harness(RULES);
    feedPlant(h, 'paper-01', T0, [50]);
    await write(file, h.engine.beginSnapshot(), { baseId: 'b1' });
    writeFileSync(deltaFile(file, 1), '{"version":1,');
    expect(() => readCheckpoint(file)).toThrow(/not JSON/);
  });
});
