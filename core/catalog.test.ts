import { describe, expect, it } from 'vitest';
import { QUANTITIES, QUANTITY_IDS, acceptedUnits, quantityByHj212, unitFactor } from './catalog.ts';

describe('the quantity catalog', () => {
  it('covers water, energy, emissions and production, each with a canonical unit it accepts', () => {
    expect(new Set(QUANTITY_IDS.map((id) => QUANTITIES[id].domain))).toEqual(new Set(['water', 'energy', 'emissions', 'production']));
    for (const id of QUANTITY_IDS) expect(unitFactor(id, QUANTITIES[id].unit)).toBe(1);
  });

  it('converts field units to canonical ones, and refuses units of another dimension', () => {
    expect(unitFactor('wastewater_flow', 'L/s')).toBe(3.6);
    expect(unitFactor('hg', 'ug/L')).toBe(0.001);
    expect(unitFactor('cod', 'L/s')).toBeUndefined();
    expect(acceptedUnits('active_energy')).toContain('MWh');
    expect(unitFactor('production_total', 'kg')).toBe(0.001);
    expect(unitFactor('production_rate', 'kg/h')).toBe(0.001);
    expect(unitFactor('production_total', 't/h')).toBeUndefined();
    expect(unitFactor('cod', 'constructor')).toBeUndefined();
    expect(unitFactor('cod', 'toString')).toBeUndefined();
  });

  it('maps HJ 212-2017 pollutant codes to quantities', () => {
    expect(quantityByHj212('w01018')).toBe('cod');
    expect(quantityByHj212('w21003')).toBe('nh3n');
    expect(quantityByHj212('a21026')).toBe('so2');
    expect(quantityByHj212('x99999')).toBeUndefined();
  });
});
