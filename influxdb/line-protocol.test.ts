import { Point } from '@influxdata/influxdb-client';
import { describe, expect, it } from 'vitest';
import { QUANTITIES, unitFactor, type QuantityId } from '../core/catalog.ts';
import type { Quality, ReadingBatch } from '../core/reading.ts';
import { batchToLines, readingLine } from './line-protocol.ts';
import { escapeKey, escapeMeasurement, quoteFieldString } from './schema.ts';

/** The same reading through the InfluxData client's Point, with millisecond timestamps: the escaping reference. */
function referenceLine(measurement: string, plant: string, meter: string, quantity: string, value: number | null, quality: string, ts: number): string {
  const point = new Point(measurement).tag('meter', meter).tag('plant', plant);
  if (value !== null) point.floatField(quantity, value);
  point.stringField(`${quantity}_quality`, quality).timestamp(ts);
  return point.toLineProtocol({ convertTime: (t) => String(t) }) ?? '';
}

const NASTY = [
  'plain',
  'with space',
  'comma,inside',
  'equals=sign',
  'quote"double',
  'back\\slash',
  'tab\tand\nnewline\rcr',
  ' leading and trailing ',
  '中文 名称,=',
  '\\,\\ \\=',
];

describe('line protocol escaping (InfluxDB 1.x reference, checked against @influxdata/influxdb-client Point)', () => {
  it.each(NASTY)('escapes measurement, tag values and field keys like Point: %j', (nasty) => {
    expect(readingLine(nasty, nasty, nasty, nasty, 1.5, 'good', 1_700_000_000_123)).toBe(referenceLine(nasty, nasty, nasty, nasty, 1.5, 'good', 1_700_000_000_123));
  });

  it.each(NASTY)('quotes string field values like Point: %j', (nasty) => {
    expect(readingLine('water', 'p', 'm', 'cod', null, nasty, 1)).toBe(referenceLine('water', 'p', 'm', 'cod', null, nasty, 1));
  });

  it.each([0, -0.25, 1e-7, 123456789.125, 1e21, -1e300, Number.MAX_SAFE_INTEGER])('formats float %d like Point', (value) => {
    expect(readingLine('energy', 'p', 'm', 'active_power', value, 'good', 42)).toBe(referenceLine('energy', 'p', 'm', 'active_power', value, 'good', 42));
  });

  it('escapes exactly the characters the reference lists for each element', () => {
    expect(escapeMeasurement('a,b c=d"e')).toBe('a\\,b\\ c=d"e');
    expect(escapeKey('a,b c=d"e')).toBe('a\\,b\\ c\\=d"e');
    expect(quoteFieldString('a,b c="d\\e')).toBe('"a,b c=\\"d\\\\e"');
  });
});

describe('batchToLines: the InfluxDB schema', () => {
  const batch = (readings: { meter: string; quantity: QuantityId; value: number | null; unit: string; ts: number; quality: Quality }[]): ReadingBatch => ({
    v: 1,
    gateway: 'gw-1',
    plant: 'paper-01',
    seq: 7,
    sentAt: 1_700_000_001_000,
    readings,
  });

  it('writes one line per reading: domain measurement, sorted tags, value and quality fields, ms timestamp', () => {
    const lines = batchToLines(
      batch([
        { meter: 'outfall-1-cod', quantity: 'cod', value: 85.5, unit: 'mg/L', ts: 1_700_000_000_000, quality: 'good' },
        { meter: 'main-power', quantity: 'active_power', value: 1200, unit: 'kW', ts: 1_700_000_000_000, quality: 'uncertain' },
        { meter: 'stack-1-cems', quantity: 'so2', value: 35, unit: 'mg/m3', ts: 1_700_000_000_500, quality: 'good' },
      ]),
    );
    expect(lines.split('\n')).toEqual([
      'water,meter=outfall-1-cod,plant=paper-01 cod=85.5,cod_quality="good" 1700000000000',
      'energy,meter=main-power,plant=paper-01 active_power=1200,active_power_quality="uncertain" 1700000000000',
      'emissions,meter=stack-1-cems,plant=paper-01 so2=35,so2_quality="good" 1700000000500',
    ]);
  });

  it('converts values to the canonical unit of the quantity', () => {
    const lines = batchToLines(
      batch([
        { meter: 'outfall-1-flow', quantity: 'wastewater_flow', value: 10, unit: 'L/s', ts: 1, quality: 'good' },
        { meter: 'main-power', quantity: 'active_power', value: 2.5, unit: 'MW', ts: 1, quality: 'good' },
        { meter: 'outfall-1-cod', quantity: 'cod', value: 500, unit: 'ug/L', ts: 1, quality: 'good' },
      ]),
    ).split('\n');
    expect(lines[0]).toBe(`water,meter=outfall-1-flow,plant=paper-01 wastewater_flow=${10 * unitFactor('wastewater_flow', 'L/s')!},wastewater_flow_quality="good" 1`);
    expect(lines[0]).toContain('wastewater_flow=36,');
    expect(lines[1]).toContain('active_power=2500,');
    expect(lines[2]).toContain('cod=0.5,');
  });

  it('writes a flagged reading\'s reason, and an out-of-range value only in <q>_rejected (canonical unit), never as the value', () => {
    const lines = batchToLines({
      v: 1, gateway: 'g', plant: 'p', seq: 0, sentAt: 0,
      readings: [
        { meter: 'm', quantity: 'cod', value: null, unit: 'mg/L', ts: 5, quality: 'bad', reason: 'out_of_range', rejectedValue: 1e308 },
        { meter: 'f', quantity: 'wastewater_flow', value: null, unit: 'L/s', ts: 5, quality: 'bad', reason: 'out_of_range', rejectedValue: 1e6 },
        { meter: 'm', quantity: 'ph', value: null, unit: 'pH', ts: 6, quality: 'bad', reason: 'no_value' },
      ],
    }).split('\n');
    expect(lines).toEqual([
      'water,meter=m,plant=p cod_quality="bad",cod_reason="out_of_range",cod_rejected=1e+308 5',
      'water,meter=f,plant=p wastewater_flow_quality="bad",wastewater_flow_reason="out_of_range",wastewater_flow_rejected=3600000 5',
      'water,meter=m,plant=p ph_quality="bad",ph_reason="no_value" 6',
    ]);
  });

  it('writes only the quality field when the value is null, so a gap stays visible', () => {
    expect(batchToLines(batch([{ meter: 'outfall-1-ph', quantity: 'ph', value: null, unit: 'pH', ts: 5, quality: 'bad' }]))).toBe(
      'water,meter=outfall-1-ph,plant=paper-01 ph_quality="bad" 5',
    );
  });

  it('puts every quantity of the catalog in its domain measurement', () => {
    for (const [id, def] of Object.entries(QUANTITIES)) {
      const line = batchToLines(batch([{ meter: 'm', quantity: id as QuantityId, value: 1, unit: def.unit, ts: 1, quality: 'good' }]));
      expect(line.startsWith(`${def.domain},meter=m,plant=paper-01 ${id}=1,${id}_quality="good" 1`)).toBe(true);
    }
  });

  it('returns an empty string for an empty batch', () => {
    expect(batchToLines(batch([]))).toBe('');
  });
});
