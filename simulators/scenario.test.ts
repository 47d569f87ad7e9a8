import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.ts';
import { describeTimeline, loadScenario, parseDuration, parseScenario, startScenarioAt } from './scenario.ts';

const scenariosDir = new URL('./scenarios/', import.meta.url).pathname;
const demoDir = new URL('../deploy/demo/', import.meta.url).pathname;
const workDir = mkdtempSync(path.join(tmpdir(), 'cleanstream-scenario-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const base = { seed: 1, start: '2024-06-03T00:00:00+08:00', duration: '6h', step: '1m', plants: 'plants.yaml' };
const HOUR = 3_600_000;

function issuesOf(raw: unknown): { path: string; expected: string }[] {
  try {
    parseScenario('test.yaml', raw, demoDir);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected the scenario to be rejected');
}

describe('durations', () => {
  it('reads compound durations, plain ms and rejects anything else', () => {
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('7d')).toBe(7 * 24 * HOUR);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('-5m')).toBe(-300_000);
    expect(parseDuration(1500)).toBe(1500);
    expect(parseDuration('5 minutes')).toBeUndefined();
    expect(parseDuration('h')).toBeUndefined();
  });
});

describe('shipped scenarios', () => {
  const files = readdirSync(scenariosDir).filter((f) => f.endsWith('.yaml'));

  it('include the five the issue asks for, the feed faults no process scenario covers, a per-tonne excursion and the live demo', () => {
    expect(files.sort()).toEqual(['cod-upset.yaml', 'demo-live.yaml', 'feed-faults.yaml', 'meter-offline.yaml', 'normal-week.yaml', 'nox-excursion.yaml', 'steel-water-intensity.yaml', 'stuck-cod.yaml']);
  });

  it('script every fault kind a pipeline must show, across them', () => {
    const kinds = new Set(files.flatMap((file) => loadScenario(path.join(scenariosDir, file)).faults.map((f) => f.kind)));
    for (const kind of ['excursion', 'stuck', 'comm_loss', 'dropout', 'nan', 'clock_skew', 'counter_reset', 'duplicate', 'out_of_order'] as const) expect(kinds, kind).toContain(kind);
  });

  it.each(files)('%s is valid against the demo registry', (file) => {
    const s = loadScenario(path.join(scenariosDir, file));
    expect(s.registry.plants.map((p) => p.id)).toEqual(['paper-01', 'dyeing-01', 'steel-01']);
    for (const f of s.faults) {
      expect(f.fromMs).toBeGreaterThanOrEqual(s.startMs);
      expect(f.toMs).toBeLessThanOrEqual(s.startMs + s.durationMs);
    }
  });

  it('resolves fault times relative to start and keeps file order', () => {
    const s = loadScenario(path.join(scenariosDir, 'cod-upset.yaml'));
    expect(s.startMs).toBe(Date.UTC(2024, 5, 3, 16));
    expect(s.stepMs).toBe(60_000);
    expect(s.faults[0]).toMatchObject({ plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', kind: 'excursion', fromMs: s.startMs + 2 * HOUR, toMs: s.startMs + 5.5 * HOUR, peak: 150, riseMs: 45 * 60_000 });
    expect(s.protocols.get('steel-01')).toBe('modbus');
    expect(s.protocols.get('paper-01')).toBe('opcua');
  });
});

describe('bad scenarios fail naming the file, the field path and what was expected', () => {
  it('names the file in the message', () => {
    const file = path.join(workDir, 'broken.yaml');
    writeFileSync(file, 'seed: -1\nstart: yesterday\nduration: 6h\nplants: ../nowhere.yaml\n');
    expect(() => loadScenario(file)).toThrow(ConfigError);
    try {
      loadScenario(file);
    } catch (err) {
      expect((err as ConfigError).message).toContain(file);
      expect((err as ConfigError).issues.map((i) => i.path)).toEqual(expect.arrayContaining(['seed', 'start']));
    }
  });

  it('rejects fields of the wrong shape before looking at the registry', () => {
    const issues = issuesOf({
      ...base,
      duration: 'a while',
      faults: [
        { plant: 'paper-01', meter: 'outfall-1-cod', kind: 'explode', from: '1h', to: '2h' },
        { plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', kind: 'stuck', from: 'soon', to: '2h' },
        { plant: 'paper-01', meter: 'outfall-1-cod', kind: 'stuck', from: '1h', to: '2h', colour: 'red' },
      ],
    });
    const at = (p: string) => issues.find((i) => i.path === p)?.expected ?? '';
    expect(at('duration')).toContain('90s, 30m');
    expect(at('faults[0].kind')).toContain('"stuck"');
    expect(at('faults[1].from')).toContain('duration after start');
    expect(at('faults[2]')).toContain('colour');
  });

  it('rejects an unknown plant, meter and quantity at their paths', () => {
    const issues = issuesOf({
      ...base,
      faults: [
        { plant: 'paper-01', meter: 'outfall-1-cod', kind: 'stuck', from: '1h', to: '2h' },
        { plant: 'paper-99', kind: 'stuck', from: '1h', to: '2h' },
        { plant: 'paper-01', meter: 'no-such-meter', kind: 'stuck', from: '1h', to: '2h' },
        { plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'nox', kind: 'stuck', from: '1h', to: '2h' },
      ],
    });
    expect(issues.some((i) => i.path.startsWith('faults[0]'))).toBe(false);
    expect(issues.find((i) => i.path === 'faults[1].plant')?.expected).toContain('paper-01');
    expect(issues.find((i) => i.path === 'faults[2].meter')?.expected).toContain('outfall-1-cod');
    expect(issues.find((i) => i.path === 'faults[3].quantity')?.expected).toContain('cod');
  });

  it('checks each kind\'s params, window and fit', () => {
    const issues = issuesOf({
      ...base,
      protocols: { 'steel-01': 'modbus' },
      faults: [
        { plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', kind: 'drift', from: '1h', to: '2h', params: { perhour: 3 } },
        { plant: 'paper-01', meter: 'outfall-1-cod', kind: 'tampering', from: '1h', to: '2h', params: { limit: 90 } },
        { plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', kind: 'stuck', from: '3h', to: '2h' },
        { plant: 'steel-01', meter: 'outfall-1-cod', kind: 'clock_skew', from: '1h', to: '2h', params: { offset: '5m' } },
        { plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', kind: 'counter_reset', from: '1h', to: '2h' },
        { plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', kind: 'excursion', from: '1h', to: '2h', params: { peak: 150, factor: 2 } },
        { plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', kind: 'stuck', from: '7h', to: '8h' },
        { plant: 'paper-01', meter: 'outfall-1-cod', kind: 'duplicate', from: '1h', to: '2h' },
      ],
    });
    const at = (p: string) => issues.find((i) => i.path === p)?.expected ?? '';
    expect(at('faults[0].params')).toContain('perhour');
    expect(at('faults[0].params.perHour')).toContain('number');
    expect(at('faults[1].quantity')).toContain('tampering');
    expect(at('faults[2].to')).toContain('after from');
    expect(at('faults[3].kind')).toContain('Modbus');
    expect(at('faults[4].quantity')).toContain('counter');
    expect(at('faults[5].params')).toContain('exactly one of peak');
    expect(at('faults[6].from')).toContain('within the scenario');
    expect(at('faults[7].meter')).toContain('batches');
  });

  it('reports registry problems under plants with the registry file named', () => {
    const issues = issuesOf({ ...base, plants: { plants: [{ id: 'x', name: { en: 'X', zh: 'X' }, region: 'r', industry: 'mining', meters: [] }] } });
    expect(issues.some((i) => i.path.startsWith('plants.plants[0].industry'))).toBe(true);
  });

  it('accepts an inline registry', () => {
    const s = parseScenario('inline.yaml', {
      ...base,
      plants: { plants: [{ id: 'p1', name: { en: 'P', zh: 'P' }, region: 'r', industry: 'cement', stacks: [{ id: 's1' }], meters: [{ id: 'cems', location: 's1', quantities: ['nox'] }] }] },
      faults: [{ plant: 'p1', meter: 'cems', quantity: 'nox', kind: 'spike', from: '2024-06-03T02:00:00+08:00', to: '3h' }],
    });
    expect(s.faults[0]).toMatchObject({ kind: 'spike', factor: 3, add: 0, fromMs: s.startMs + 2 * HOUR, toMs: s.startMs + 3 * HOUR });
  });
});

describe('live scenarios (start: now) and repeats', () => {
  const NOW = Date.UTC(2026, 11, 7, 13, 40, 0);
  const live = { seed: 1, start: 'now', duration: '10m', step: '1s', plants: 'plants.yaml' };

  it('start when they are run, with faults at offsets written +40s or 40s', () => {
    const s = parseScenario('live.yaml', { ...live, faults: [{ plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', kind: 'stuck', from: '+40s', to: '100s' }] }, demoDir, NOW);
    expect(s.live).toBe(true);
    expect(s.startMs).toBe(NOW);
    expect(s.faults[0]).toMatchObject({ fromMs: NOW + 40_000, toMs: NOW + 100_000 });
    expect(s.repeatMs).toBeUndefined();
    expect(s.faults[0]?.everyMs).toBeUndefined();
  });

  it('take no dated fault times: a live scenario has no date', () => {
    const issues = issuesOf({ ...live, faults: [{ plant: 'paper-01', meter: 'outfall-1-cod', kind: 'stuck', from: '2024-06-03T02:00:00+08:00', to: '+1m' }] });
    expect(issues.find((i) => i.path === 'faults[0].from')?.expected).toContain('live scenario');
  });

  it('repeat their faults every period, each window inside one period', () => {
    const s = parseScenario('live.yaml', { ...live, repeat: '10m', faults: [{ plant: 'steel-01', meter: 'main-power', kind: 'comm_loss', from: '+80s', to: '+200s' }] }, demoDir, NOW);
    expect(s.repeatMs).toBe(600_000);
    expect(s.faults[0]).toMatchObject({ fromMs: NOW + 80_000, toMs: NOW + 200_000, everyMs: 600_000 });
    const issues = issuesOf({ ...live, duration: '1h', repeat: '10m', faults: [{ plant: 'steel-01', kind: 'comm_loss', from: '5m', to: '11m' }] });
    expect(issues.find((i) => i.path === 'faults[0].to')?.expected).toContain('first repeat period');
  });

  it('name `now` in the error for a start that is neither', () => {
    expect(issuesOf({ ...live, start: 'today' }).find((i) => i.path === 'start')?.expected).toContain('now');
  });

  it('move, whatever their start, to the moment a run begins (cleanstream up), their faults with them', () => {
    const dated = loadScenario(path.join(scenariosDir, 'cod-upset.yaml'));
    const moved = startScenarioAt(dated, NOW);
    expect(moved.startMs).toBe(NOW);
    expect(moved.faults.map((f) => [f.fromMs - NOW, f.toMs - NOW])).toEqual(dated.faults.map((f) => [f.fromMs - dated.startMs, f.toMs - dated.startMs]));
  });
});

describe('the line `cleanstream up` prints about a scenario', () => {
  it('says each fault\'s clock time, offset from the start, what and where, and the repeat', () => {
    const start = Date.UTC(2026, 11, 7, 13, 40, 0);
    const s = loadScenario(path.join(scenariosDir, 'demo-live.yaml'), start);
    const time = (ms: number) => new Date(ms).toISOString().slice(11, 19);
    expect(describeTimeline(s, time)).toBe(
      '13:40:40 (+40s) COD excursion at paper-01/outfall-1-cod (to 13:41:40), 13:41:00 (+1m) stuck COD analyser at dyeing-01/outfall-1-cod (to 13:43:00), ' +
        '13:41:20 (+1m20s) comm loss at steel-01/main-power (to 13:43:20); again every 10m',
    );
    const offline = startScenarioAt(loadScenario(path.join(scenariosDir, 'meter-offline.yaml')), start);
    expect(describeTimeline(offline, time)).toMatch(/^14:40:00 \(\+1h\) comm loss at steel-01, every meter \(to 15:40:00\), 16:40:00 \(\+3h\) dropout at paper-01\/outfall-1-nh3n/);
  });
});
