import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { quantityDef } from '../core/catalog.ts';
import { decodeBatch, encodeBatch } from '../core/reading.ts';
import { topics } from '../bus/topics.ts';
import { generateFeed, writeFeedFile, type FeedMessage } from './feed.ts';
import { decodeRegisters, encodeRegisters, QUANTITY_ENCODING, simulatedQuantity } from './layout.ts';
import { createRegistryModels } from './model.ts';
import { loadScenario, parseScenario, type Scenario } from './scenario.ts';

const scenarios = new URL('./scenarios/', import.meta.url).pathname;
const demoDir = new URL('../deploy/demo/', import.meta.url).pathname;
const workDir = mkdtempSync(path.join(tmpdir(), 'cleanstream-feed-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const load = (name: string): Scenario => loadScenario(path.join(scenarios, `${name}.yaml`));
const small = (faults: unknown[] = [], extra: Record<string, unknown> = {}): Scenario =>
  parseScenario('t.yaml', { seed: 4, start: '2024-06-03T08:00:00+08:00', duration: '2h', step: '1m', plants: 'plants.yaml', protocols: { 'steel-01': 'modbus' }, faults, ...extra }, demoDir);
const reading = (m: FeedMessage, meter: string, quantity: string) => m.payload.readings.find((r) => r.meter === meter && r.quantity === quantity);
const of = (feed: FeedMessage[], plant: string) => feed.filter((m) => m.payload.plant === plant);

describe('the generated feed', () => {
  const scenario = small();
  const feed = [...generateFeed(scenario)];

  it('has one batch per plant per step, on the readings topic of the protocol gateway, in time order', () => {
    expect(feed).toHaveLength(120 * 3);
    expect(feed[0]!.topic).toBe(topics.readings('paper-01', 'sim-opcua'));
    expect(of(feed, 'steel-01')[0]!.topic).toBe(topics.readings('steel-01', 'sim-modbus'));
    for (let i = 1; i < feed.length; i++) expect(feed[i]!.t).toBeGreaterThanOrEqual(feed[i - 1]!.t);
  });

  it('carries payloads that pass the payload contract (core/reading.ts decodeBatch)', () => {
    for (const m of feed) expect(decodeBatch(encodeBatch(m.payload))).toEqual(m.payload);
  });

  it('numbers batches per gateway with no gaps', () => {
    const seqs = feed.filter((m) => m.payload.gateway === 'sim-opcua').map((m) => m.payload.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i));
  });

  it('gives OPC UA plants the model value and Modbus plants the value read back from the registers', () => {
    const models = createRegistryModels(scenario.registry, scenario.seed);
    const m = feed.find((x) => x.payload.plant === 'paper-01' && x.t === scenario.startMs + 30 * 60_000)!;
    expect(reading(m, 'outfall-1-cod', 'cod')!.value).toBe(models.get('paper-01')!.sample('outfall-1-cod', 'cod', m.t).value);
    const s = feed.find((x) => x.payload.plant === 'steel-01' && x.t === m.t)!;
    for (const r of s.payload.readings) {
      const encoding = QUANTITY_ENCODING[simulatedQuantity(r.quantity)];
      const model = models.get('steel-01')!.sample(r.meter, r.quantity, m.t).value;
      const viaRegisters = decodeRegisters(encoding, encodeRegisters(encoding, model, quantityDef(r.quantity).kind === 'counter'));
      expect(r.value).toBeCloseTo(viaRegisters, 9);
    }
  });
});

describe('faults in the feed', () => {
  it('shows dropout, NaN and comm loss as null values with bad quality, only in their windows', () => {
    const feed = [...generateFeed(small([
      { plant: 'steel-01', kind: 'comm_loss', from: '30m', to: '40m' },
      { plant: 'paper-01', meter: 'outfall-1-nh3n', kind: 'dropout', from: '10m', to: '20m' },
      { plant: 'dyeing-01', meter: 'outfall-1-ph', kind: 'nan', from: '50m', to: '55m' },
    ]))];
    const bad = (plant: string, meter: string, q: string) => of(feed, plant).filter((m) => reading(m, meter, q)!.value === null).map((m) => (m.t - feed[0]!.t) / 60_000);
    expect(bad('steel-01', 'main-power', 'active_energy')).toEqual([30, 31, 32, 33, 34, 35, 36, 37, 38, 39]);
    expect(bad('paper-01', 'outfall-1-nh3n', 'nh3n')).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(bad('dyeing-01', 'outfall-1-ph', 'ph')).toEqual([50, 51, 52, 53, 54]);
    expect(bad('paper-01', 'outfall-1-cod', 'cod')).toEqual([]);
    for (const m of feed) for (const r of m.payload.readings) expect(r.quality === 'bad').toBe(r.value === null);
  });

  it('shifts OPC UA timestamps by the clock skew', () => {
    const feed = [...generateFeed(small([{ plant: 'paper-01', meter: 'outfall-1-cod', kind: 'clock_skew', from: '1h', to: '2h', params: { offset: '-10m' } }]))];
    for (const m of of(feed, 'paper-01')) {
      const skewed = m.t >= feed[0]!.t + 3_600_000;
      expect(reading(m, 'outfall-1-cod', 'cod')!.ts).toBe(skewed ? m.t - 600_000 : m.t);
      expect(reading(m, 'outfall-1-ph', 'ph')!.ts).toBe(m.t);
    }
  });

  it('publishes duplicates with the same seq and reorders batches of one plant only in the window', () => {
    const scenario = small([
      { plant: 'steel-01', kind: 'duplicate', from: '10m', to: '20m', params: { every: 2 } },
      { plant: 'steel-01', kind: 'out_of_order', from: '1h', to: '1h10m' },
    ]);
    const steel = of([...generateFeed(scenario)], 'steel-01');
    expect(steel).toHaveLength(120 + 5);
    const seqs = steel.map((m) => m.payload.seq);
    const dupes = seqs.filter((s, i) => seqs.indexOf(s) !== i);
    expect(dupes).toHaveLength(5);
    const inversions = seqs.filter((s, i) => i > 0 && s < seqs[i - 1]!).length;
    expect(inversions).toBe(5);
    expect([...new Set(seqs)].sort((a, b) => a - b)).toEqual(Array.from({ length: 120 }, (_, i) => i));
    // other plants are untouched
    const paper = of([...generateFeed(scenario)], 'paper-01').map((m) => m.payload.seq);
    expect(paper).toEqual([...paper].sort((a, b) => a - b));
  });
});

describe('recordings of a scenario', () => {
  it('are byte-identical for the same seed and differ for another, plain or gzip', async () => {
    const scenario = load('cod-upset');
    const other: Scenario = { ...scenario, seed: scenario.seed + 1 };
    const files = ['a.ndjson', 'b.ndjson', 'c.ndjson', 'a.ndjson.gz', 'b.ndjson.gz'].map((f) => path.join(workDir, f));
    const summaries = [
      await writeFeedFile(scenario, files[0]!),
      await writeFeedFile(scenario, files[1]!),
      await writeFeedFile(other, files[2]!),
      await writeFeedFile(scenario, files[3]!),
      await writeFeedFile(scenario, files[4]!),
    ];
    const [a, b, c, agz, bgz] = files.map((f) => readFileSync(f));
    expect(summaries[0]!.messages).toBe(480 * 3);
    expect(a!.length).toBeGreaterThan(100_000);
    expect(b!.equals(a!)).toBe(true);
    expect(c!.equals(a!)).toBe(false);
    expect(agz!.equals(bgz!)).toBe(true);
    expect(gunzipSync(agz!).equals(a!)).toBe(true);
    const lines = a!.toString('utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(summaries[0]!.messages);
    expect(JSON.parse(lines[0]!)).toMatchObject({ t: scenario.startMs, qos: 1, retain: false, topic: topics.readings('paper-01', 'sim-opcua') });
  });
});
