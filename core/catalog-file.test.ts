import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acceptedUnits, clearDeclaredQuantities, isQuantityId, quantityByHj212, quantityDef, quantityIds, unitFactor } from './catalog.ts';
import { loadCatalogFile } from './catalog-file.ts';
import { parseConfigText, quantityIdSchema } from './config.ts';
import { loadPlantRegistry } from './plants.ts';
import { ConfigError } from './errors.ts';
import { decodeBatch } from './reading.ts';
import { z } from 'zod';
import { buildPacket, parsePacket } from '../protocols/hj212/codec.ts';
import { dataCp } from '../protocols/hj212/cp.ts';
import { toReadings } from '../protocols/hj212/readings.ts';
import { parseHj212Time } from '../protocols/hj212/time.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'catalog-file-'));
let n = 0;
function file(text: string): string {
  const f = path.join(dir, `quantities-${n++}.yaml`);
  writeFileSync(f, text);
  return f;
}

function issuesOf(f: string): { path: string; expected: string }[] {
  try {
    loadCatalogFile(f);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain(f);
    return (err as ConfigError).issues;
  }
  throw new Error(`${f} was accepted`);
}

const TEMPERATURE = `
  - name: water_temperature
    measurement: water
    unit: degC
    units: { mdegC: 0.001 }
    range: [0, 100]
    hj212: w01010
    label: { zh: 水温, en: Water temperature }`;
const PUMP = `
  - name: pump_running
    measurement: production
    kind: state
    states: { 0: { zh: 停止, en: stopped }, 1: { zh: 运行, en: running } }
    label: { zh: 提升泵运行, en: Lift pump running }`;

afterEach(() => clearDeclaredQuantities());

describe('declaring plant-specific quantities', () => {
  it('makes a declared gauge and state known, converted and range-checked like the built-in ones', () => {
    loadCatalogFile(file(`quantities:${TEMPERATURE}${PUMP}`));
    expect(isQuantityId('water_temperature')).toBe(true);
    expect(quantityIds()).toEqual(expect.arrayContaining(['cod', 'water_temperature', 'pump_running']));
    expect(unitFactor('water_temperature', 'mdegC')).toBe(0.001);
    expect(unitFactor('water_temperature', 'mg/L')).toBeUndefined();
    expect(acceptedUnits('pump_running')).toEqual(['state']);
    expect(quantityByHj212('w01010')).toBe('water_temperature');
    expect(quantityDef('pump_running')).toMatchObject({ kind: 'state', range: [0, 1], unit: 'state', states: { 1: { zh: '运行', en: 'running' } } });

    const batch = decodeBatch(
      JSON.stringify({
        v: 1, gateway: 'gw', plant: 'p', seq: 0, sentAt: 1,
        readings: [
          { meter: 'm', quantity: 'water_temperature', value: 150, unit: 'degC', ts: 1_700_000_000_000, quality: 'good' },
          { meter: 'm', quantity: 'water_temperature', value: 21_500, unit: 'mdegC', ts: 1_700_000_000_000, quality: 'good' },
          { meter: 'm', quantity: 'pump_running', value: 2, unit: 'state', ts: 1_700_000_000_000, quality: 'good' },
          { meter: 'm', quantity: 'pump_running', value: 1, unit: 'state', ts: 1_700_000_000_000, quality: 'good' },
        ],
      }),
    );
    expect(batch.readings.map((r) => [r.value, r.quality, r.reason])).toEqual([
      [null, 'bad', 'out_of_range'],
      [21_500, 'good', undefined],
      [null, 'bad', 'out_of_range'],
      [1, 'good', undefined],
    ]);
  });

  it('gives a canonical unit the built-in catalog knows its conversions (mg/L accepts ug/L)', () => {
    loadCatalogFile(file(`quantities:
  - { name: dissolved_oxygen, measurement: water, unit: mg/L, range: [0, 50], label: { zh: 溶解氧, en: Dissolved oxygen } }`));
    expect(unitFactor('dissolved_oxygen', 'ug/L')).toBe(0.001);
  });

  it('without a declaration, a config naming a plant quantity fails and says where to declare one', () => {
    const schema = z.strictObject({ catalog: z.string().optional(), quantity: quantityIdSchema });
    expect(() => parseConfigText('gateway.yaml', 'quantity: water_temperature\n', schema)).toThrow(/quantity: expected a quantity id, one of .*cod.*catalog: field/);
    const catalog = file(`quantities:${TEMPERATURE}`);
    expect(parseConfigText('gateway.yaml', `catalog: ${path.basename(catalog)}\nquantity: water_temperature\n`, schema, {}, dir).quantity).toBe('water_temperature');
  });

  it('refuses a name that is a built-in quantity with another definition, and accepts the same definition', () => {
    expect(issuesOf(file(`quantities:
  - { name: cod, measurement: water, unit: mg/L, range: [0, 1000], label: { zh: 化学需氧量, en: COD } }`))).toEqual([
      { path: 'quantities[0].name', expected: expect.stringContaining('not a built-in quantity with another definition') },
    ]);
    loadCatalogFile(file(`quantities:
  - { name: cod, measurement: water, unit: mg/L, range: [0, 20000], hj212: w01018, label: { zh: 化学需氧量, en: COD } }`));
  });

  it('refuses a malformed or taken HJ 212 code', () => {
    expect(issuesOf(file(`quantities:
  - { name: turbidity, measurement: water, unit: NTU, range: [0, 4000], hj212: W1003, label: { zh: 浊度, en: Turbidity } }`))[0]).toMatchObject({
      path: 'quantities[0].hj212',
      expected: expect.stringContaining('HJ 212 pollutant code'),
    });
    expect(issuesOf(file(`quantities:
  - { name: turbidity, measurement: water, unit: NTU, range: [0, 4000], hj212: w01018, label: { zh: 浊度, en: Turbidity } }`))).toEqual([
      { path: 'quantities[0].hj212', expected: "expected a code no other quantity has (w01018 is cod's)" },
    ]);
    expect(issuesOf(file(`quantities:${TEMPERATURE}${TEMPERATURE.replace('water_temperature', 'inlet_temperature')}`))).toEqual([
      { path: 'quantities[1].hj212', expected: 'expected a code no other quantity has (quantities[0] has w01010)' },
    ]);
  });

  it('refuses a bad range, an unknown measurement, a state without meanings, a name that is not snake_case', () => {
    const issues = issuesOf(file(`quantities:
  - { name: level, measurement: water, unit: m, range: [5, 1], label: { zh: 液位, en: Level } }
  - { name: level2, measurement: air, unit: m, range: [0, 1], label: { zh: 液位, en: Level } }
  - { name: pump, measurement: production, kind: state, label: { zh: 泵, en: Pump } }
  - { name: Tank-Level, measurement: water, unit: m, range: [0, 1], label: { zh: 液位, en: Level } }
  - { name: flow2, measurement: water, range: [0, 1], label: { zh: 流量, en: Flow } }`));
    expect(issues).toEqual([
      { path: 'quantities[0].range', expected: 'expected min below max, got [5, 1]' },
      { path: 'quantities[1].measurement', expected: 'expected one of "water", "energy", "emissions", "production"' },
      { path: 'quantities[2].states', expected: expect.stringContaining('the meaning of 0 and 1') },
      { path: 'quantities[3].name', expected: expect.stringContaining('snake_case') },
      { path: 'quantities[4].unit', expected: expect.stringContaining('canonical unit') },
    ]);
    expect(isQuantityId('level')).toBe(false);
  });

  it('lets two stages of one process name the same file, and refuses a second file redefining a name', () => {
    const f = file(`quantities:${TEMPERATURE}`);
    loadCatalogFile(f);
    loadCatalogFile(f);
    expect(issuesOf(file(`quantities:${TEMPERATURE.replace('[0, 100]', '[0, 80]')}`))[0]).toMatchObject({
      path: 'quantities[0].name',
      expected: expect.stringContaining('not a quantity declared already with another definition'),
    });
  });

  it('lets the HJ 212 receiver map a declared code, one of the code table or one it lacks', () => {
    loadCatalogFile(file(`quantities:${TEMPERATURE}
  - { name: turbidity, measurement: water, unit: NTU, range: [0, 4000], hj212: w01003, label: { zh: 浊度, en: Turbidity } }`));
    const packet = parsePacket(
      buildPacket({
        qn: '20240501090000001', st: '32', cn: '2011', pw: '123456', mn: 'M1',
        cp: dataCp(parseHj212Time('20240501080000', 'DataTime'), [{ code: 'w01010', values: { Rtd: '21.5' } }, { code: 'w01003', values: { Rtd: '3.2' } }]),
      }),
    );
    const { readings, skipped } = toReadings(packet, { plant: 'paper-01', meters: { w01010: 'outfall-1-temp', w01003: 'outfall-1-turbidity' } });
    expect(skipped).toEqual([]);
    expect(readings.map((r) => [r.meter, r.quantity, r.value, r.unit])).toEqual([
      ['outfall-1-temp', 'water_temperature', 21.5, 'degC'],
      ['outfall-1-turbidity', 'turbidity', 3.2, 'NTU'],
    ]);
  });

  it('loads the shipped sample, and a plant registry naming it lets its meters measure the declared quantities', () => {
    const sample = path.join(import.meta.dirname, '..', 'deploy', 'demo', 'plant-quantities.yaml');
    expect(loadCatalogFile(sample).map((q) => q.id)).toEqual(['water_temperature', 'conductivity', 'dissolved_oxygen', 'turbidity', 'tank_level', 'pump_running']);
    clearDeclaredQuantities();
    const registry = file(`catalog: ${sample}
plants:
  - id: dyeing-01
    name: { en: Dyeing works, zh: 印染厂 }
    region: zhejiang
    industry: textile-dyeing
    meters: [{ id: lift-pump, location: site, quantities: [pump_running, conductivity] }]
`);
    expect(loadPlantRegistry(registry).knows('dyeing-01', 'lift-pump', 'pump_running')).toBe(true);
    expect(unitFactor('conductivity', 'mS/cm')).toBe(1000);
  });
});
