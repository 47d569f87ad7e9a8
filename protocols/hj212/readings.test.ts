import { describe, expect, it } from 'vitest';
import { acceptedUnits, QUANTITIES, QUANTITY_IDS, unitFactor, type QuantityDef } from '../../core/catalog.ts';
import { decodeBatch, encodeBatch } from '../../core/reading.ts';
import { buildPacket, parsePacket } from './codec.ts';
import { dataCp, type Hj212PollutantInput } from './cp.ts';
import { canonicalCode, HJ212_CODES, LEGACY_CODES, qualityForFlag, quantityForCode, unitForCode } from './codes.ts';
import { toReadings, type Hj212DeviceMapping } from './readings.ts';
import { parseHj212Time } from './time.ts';

const dataTime = parseHj212Time('20240501080000', 'DataTime');
const mapping: Hj212DeviceMapping = {
  plant: 'paper-01',
  meters: { w00000: 'outfall-1-flow', w01018: 'outfall-1-cod', w21003: 'outfall-1-nh3n', w01001: 'outfall-1-ph', a21026: 'stack-1-cems', a19001: 'stack-1-cems' },
};

function packet(cn: string, st: string, pollutants: Hj212PollutantInput[]) {
  return parsePacket(buildPacket({ qn: '20240501090000001', st, cn, pw: '123456', mn: 'M1', cp: dataCp(dataTime, pollutants) }));
}

describe('codes', () => {
  it('maps every catalog quantity with an HJ 212 code, in a unit core converts', () => {
    for (const id of QUANTITY_IDS) {
      const code = (QUANTITIES[id] as QuantityDef).hj212;
      if (!code) continue;
      expect(quantityForCode(code)).toBe(id);
      const unit = unitForCode(code) as string;
      expect(unitFactor(id, unit), `${code} in ${unit} for ${id}; core accepts ${acceptedUnits(id).join(', ')}`).toBeDefined();
    }
  });

  it('uses the standard units, not the canonical ones', () => {
    expect(unitForCode('w00000')).toBe('L/s');
    expect(unitForCode('w20111')).toBe('ug/L');
    expect(unitForCode('a00000')).toBe('m3/s');
    expect(unitFactor('wastewater_flow', 'L/s')).toBe(3.6);
  });

  it('resolves the 2005 codes to their 2017 successors', () => {
    expect(Object.keys(LEGACY_CODES).sort()).toEqual(['01', '011', '02', '03', '060', '101', 'B01']);
    expect(quantityForCode('B01')).toBe('wastewater_flow');
    expect(quantityForCode('011')).toBe('cod');
    expect(quantityForCode('060')).toBe('nh3n');
    expect(quantityForCode('101')).toBe('tp');
    expect(quantityForCode('01')).toBe('particulate');
    expect(quantityForCode('02')).toBe('so2');
    expect(quantityForCode('03')).toBe('nox');
    expect(canonicalCode('w01018')).toBe('w01018');
    for (const code of Object.values(LEGACY_CODES)) expect(HJ212_CODES.has(code)).toBe(true);
  });

  it('maps data flags to quality: N good; C, M, S uncertain; F, D, B, T bad', () => {
    expect(['N', 'C', 'M', 'S', 'F', 'D', 'B', 'T'].map(qualityForFlag)).toEqual(['good', 'uncertain', 'uncertain', 'uncertain', 'bad', 'bad', 'bad', 'bad']);
    expect(qualityForFlag(undefined)).toBe('good');
    expect(qualityForFlag('X')).toBe('uncertain');
  });
});

describe('toReadings', () => {
  it('turns 2011 real-time data into readings of Rtd, in HJ 212 units, that core accepts', () => {
    const { readings, skipped } = toReadings(
      packet('2011', '32', [
        { code: 'w00000', values: { Rtd: '12.5' }, flag: 'N' },
        { code: 'w01018', values: { Rtd: '45.2' }, flag: 'C' },
        { code: 'w21003', values: { Rtd: '1.3' }, flag: 'D' },
        { code: 'w01001', values: { Rtd: null }, flag: 'N' },
      ]),
      mapping,
    );
    expect(skipped).toEqual([]);
    expect(readings).toEqual([
      { plant: 'paper-01', meter: 'outfall-1-flow', quantity: 'wastewater_flow', value: 12.5, unit: 'L/s', ts: dataTime, quality: 'good' },
      { plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', value: 45.2, unit: 'mg/L', ts: dataTime, quality: 'uncertain', reason: 'flag_c' },
      { plant: 'paper-01', meter: 'outfall-1-nh3n', quantity: 'nh3n', value: 1.3, unit: 'mg/L', ts: dataTime, quality: 'bad', reason: 'flag_d' },
      { plant: 'paper-01', meter: 'outfall-1-ph', quantity: 'ph', value: null, unit: 'pH', ts: dataTime, quality: 'bad', reason: 'no_value' },
    ]);
    const batch = { v: 1 as const, gateway: 'gw-1', plant: 'paper-01', seq: 0, sentAt: Date.now(), readings: readings.map(({ plant: _p, ...r }) => r) };
    expect(decodeBatch(encodeBatch(batch)).readings).toHaveLength(4);
  });

  for (const cn of ['2051', '2061', '2031']) {
    it(`takes the Avg of CN ${cn} interval data`, () => {
      const { readings } = toReadings(packet(cn, '32', [{ code: 'w01018', values: { Min: '40', Avg: '45', Max: '50', Cou: '2.1' }, flag: 'N' }]), mapping);
      expect(readings.map((r) => [r.quantity, r.value, r.ts])).toEqual([['cod', 45, dataTime]]);
    });
  }

  it('uses the values converted to reference O2 when asked, the measured ones otherwise', () => {
    const p = packet('2061', '31', [
      { code: 'a21026', values: { Avg: '25', ZsAvg: '31' }, flag: 'N' },
      { code: 'a19001', values: { Avg: '8.4' }, flag: 'N' },
    ]);
    expect(toReadings(p, mapping).readings.map((r) => r.value)).toEqual([25, 8.4]);
    expect(toReadings(p, mapping, { converted: true }).readings.map((r) => r.value)).toEqual([31, 8.4]);
  });

  it('maps 2005 codes through the mapping of their 2017 code', () => {
    const { readings } = toReadings(packet('2011', '32', [{ code: '011', values: { Rtd: '30' } }]), mapping);
    expect(readings).toMatchObject([{ meter: 'outfall-1-cod', quantity: 'cod', unit: 'mg/L', value: 30, quality: 'good' }]);
  });

  it('reports the pollutants it could not turn into readings, and why', () => {
    const { readings, skipped } = toReadings(
      packet('2061', '32', [
        { code: 'w21001', values: { Avg: '5' } },
        { code: 'w01018', values: { Cou: '5' } },
      ]),
      { ...mapping, meters: { ...mapping.meters, w21001: 'outfall-1-tn', w01010: 'x' } },
    );
    expect(readings).toHaveLength(1);
    expect(skipped).toEqual([{ code: 'w01018', reason: 'no Avg value in CN=2061 data' }]);
    const unmapped = toReadings(packet('2011', '32', [{ code: 'w01010', values: { Rtd: '20' } }, { code: 'w99999', values: { Rtd: '1' } }]), {
      plant: 'paper-01',
      meters: { w01010: 'outfall-1-temp' },
    });
    expect(unmapped.skipped).toEqual([
      { code: 'w01010', reason: 'no catalog quantity for this code' },
      { code: 'w99999', reason: 'no meter mapped for this code' },
    ]);
  });

  it('refuses packets that carry no data, or data without DataTime', () => {
    const request = parsePacket(buildPacket({ qn: '20240501090000001', st: '32', cn: '1062', pw: '1', mn: 'M', cp: [[{ key: 'RtdInterval', value: '30' }]] }));
    expect(() => toReadings(request, mapping)).toThrow(/bad_field: CN=1062 carries no measurement data/);
    const noTime = packet('2011', '32', [{ code: 'w01018', values: { Rtd: '1' } }]);
    noTime.data.dataTime = undefined;
    expect(() => toReadings(noTime, mapping)).toThrow(/missing_field: CN=2011 packet from MN=M1 has no DataTime/);
  });
});
