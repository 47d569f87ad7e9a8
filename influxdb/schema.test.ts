/**
 * The schema is the contract between the stages: whatever a stage writes must be what influxdb/schema.ts (and
 * influxdb/README.md) says, so that a reader built on the schema finds it. Each writer's lines are parsed back here.
 */
import { describe, expect, it } from 'vitest';
import { QUANTITIES } from '../core/catalog.ts';
import { loadLine } from '../ingest/loads.ts';
import { baselineLines } from '../rules/baselines.ts';
import { transitionLine } from '../rules/influx.ts';
import { reductionLines } from '../rules/reductions.ts';
import { harness, T0 } from '../rules/test-support.ts';
import { batchToLines } from './line-protocol.ts';
import {
  ALERT_FIELDS,
  ALERT_TAGS,
  ALERTS_MEASUREMENT,
  BASELINE_FIELDS,
  BASELINE_TAGS,
  BASELINES_MEASUREMENT,
  LOAD_FIELDS,
  LOAD_TAGS,
  LOADS_MEASUREMENT,
  MEASUREMENTS,
  qualityField,
  quoteIdentifier,
  quoteStringLiteral,
  READING_MEASUREMENTS,
  READING_TAGS,
  reasonField,
  REDUCTION_FIELDS,
  REDUCTION_TAGS,
  REDUCTIONS_MEASUREMENT,
  rejectedField,
  tagIn,
} from './schema.ts';

interface ParsedLine {
  measurement: string;
  tags: Record<string, string>;
  fields: string[];
}

/** Splits on `separator` outside double quotes and not after a backslash. */
function split(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') {
      current += c + (text[++i] ?? '');
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === separator && !quoted) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts;
}

function parse(line: string): ParsedLine {
  const [head, fieldSet, ts] = split(line, ' ');
  expect(ts, line).toMatch(/^\d+$/);
  const [measurement, ...tagPairs] = split(head!, ',');
  return {
    measurement: measurement!,
    tags: Object.fromEntries(tagPairs.map((pair) => split(pair, '=') as [string, string])),
    fields: split(fieldSet!, ',').map((pair) => split(pair, '=')[0]!),
  };
}

/** The line is in `measurement`, has exactly the `requiredTags`, other tags only from `tags`, fields only from `fields`. */
function expectConforms(line: string, measurement: string, tags: readonly string[], fields: readonly string[], requiredTags: readonly string[] = tags): void {
  const parsed = parse(line);
  expect(parsed.measurement, line).toBe(measurement);
  expect(MEASUREMENTS as readonly string[]).toContain(parsed.measurement);
  for (const tag of requiredTags) expect(Object.keys(parsed.tags), line).toContain(tag);
  for (const tag of Object.keys(parsed.tags)) expect(tags, line).toContain(tag);
  expect(Object.keys(parsed.tags), line).toEqual([...Object.keys(parsed.tags)].sort());
  for (const field of parsed.fields) expect(fields, line).toContain(field);
}

describe('the InfluxDB schema: what each stage writes is what schema.ts declares', () => {
  it('readings: the domain as measurement, meter and plant tags, the quantity and its quality, reason and rejected fields', () => {
    const lines = batchToLines({
      v: 1,
      gateway: 'gw-1',
      plant: 'paper-01',
      seq: 1,
      sentAt: T0,
      readings: [
        { meter: 'outfall-1-cod', quantity: 'cod', value: 52.4, unit: 'mg/L', ts: T0, quality: 'good' },
        { meter: 'outfall-1-ph', quantity: 'ph', value: null, unit: 'pH', ts: T0, quality: 'bad', reason: 'out_of_range', rejectedValue: 15 },
        { meter: 'stack-1-cems', quantity: 'so2', value: null, unit: 'mg/m3', ts: T0, quality: 'bad', reason: 'no_value' },
      ],
    }).split('\n');
    const quantities = ['cod', 'ph', 'so2'] as const;
    lines.forEach((line, i) => {
      const q = quantities[i]!;
      expect(READING_MEASUREMENTS as readonly string[]).toContain(QUANTITIES[q].domain);
      expectConforms(line, QUANTITIES[q].domain, READING_TAGS, [q, qualityField(q), reasonField(q), rejectedField(q)]);
    });
    expect(parse(lines[1]!).fields).toEqual([qualityField('ph'), reasonField('ph'), rejectedField('ph')]);
  });

  it('loads: outfall and plant tags, the volume, flow time and per-pollutant fields', () => {
    const line = loadLine({ plant: 'paper-01', outfall: 'outfall-1', start: T0, volumeM3: 12.5, flowSeconds: 60, pollutants: { cod: { kg: 0.6, volumeM3: 12.5, seconds: 60 }, nh3n: { kg: 0.05, volumeM3: 12.5, seconds: 60 } } });
    expectConforms(line, LOADS_MEASUREMENT, LOAD_TAGS, LOAD_FIELDS);
    expect(parse(line).fields).toEqual([...LOAD_FIELDS]);
  });

  it('alerts: a raise and an acknowledgement with who and comment', () => {
    const h = harness([{ id: 'ph-range', kind: 'limit', severity: 'major', selector: { quantity: 'ph' }, limit: 'catalog' }]);
    h.feed([{ meter: 'outfall-1-ph', quantity: 'ph', unit: 'pH', ts: T0, v: 5.5, now: T0 + 500 }]);
    const id = h.transitions[0]!.alert.id;
    h.feed([{ ack: id, by: 'paper-ops', comment: 'dosing', now: T0 + 60_000 }]);
    expect(h.transitions.map((t) => t.transition)).toEqual(['raised', 'acknowledged']);
    for (const t of h.transitions) expectConforms(transitionLine(t), ALERTS_MEASUREMENT, ALERT_TAGS, ALERT_FIELDS);
    expect(parse(transitionLine(h.transitions[1]!)).fields).toEqual(expect.arrayContaining(['by', 'comment']));
  });

  it('baselines and reductions: their tags and fields', () => {
    const [baseline] = baselineLines([{ plant: 'paper-01', indicator: 'cod', level: 'plant', value: 80, source: 'static', verified: true }], T0);
    expectConforms(baseline!, BASELINES_MEASUREMENT, BASELINE_TAGS, BASELINE_FIELDS);
    const figures = { dischargedT: 1.2, baselineT: 1.5, reducedT: 0.3, coveredSeconds: 86_400, periodSeconds: 86_400, coverage: 1, partial: false };
    const lines = reductionLines(
      [{ scope: 'plant', month: '2024-06', plant: 'paper-01', region: 'hebei', pollutant: 'cod', hasBaseline: true, ...figures }],
      [
        { scope: 'region', month: '2024-06', region: 'hebei', pollutant: 'cod', ...figures },
        { scope: 'national', month: '2024-06', region: null, pollutant: 'cod', ...figures, targetT: 100, yearToDateT: 2, progress: 0.02 },
      ],
    );
    expectConforms(lines[0]!, REDUCTIONS_MEASUREMENT, REDUCTION_TAGS, REDUCTION_FIELDS, ['month', 'plant', 'pollutant', 'region', 'scope']);
    expectConforms(lines[1]!, REDUCTIONS_MEASUREMENT, REDUCTION_TAGS, REDUCTION_FIELDS, ['month', 'pollutant', 'region', 'scope']);
    expectConforms(lines[2]!, REDUCTIONS_MEASUREMENT, REDUCTION_TAGS, REDUCTION_FIELDS, ['month', 'pollutant', 'scope']);
  });
});

describe('InfluxQL quoting', () => {
  it('quotes identifiers and string literals so that parameters cannot end them', () => {
    expect(quoteIdentifier('plant "a" \\')).toBe('"plant \\"a\\" \\\\"');
    expect(quoteStringLiteral("it's \\")).toBe("'it\\'s \\\\'");
    expect(tagIn('plant', ['a', "b'"])).toBe(`("plant" = 'a' OR "plant" = 'b\\'')`);
    expect(() => tagIn('plant', [])).toThrow(/at least one/);
  });
});
