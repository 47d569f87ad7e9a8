import { describe, expect, it } from 'vitest';
import { QUANTITY_IDS } from '../core/catalog.ts';
import { decodeRegisters, encodeRegisters, registerCount, simulatorLayout, type ModbusEncoding } from './layout.ts';
import { demoPlants, manyPlants } from '../test/harness/plants.ts';

const registry = demoPlants();

describe('simulator layout', () => {
  const layout = simulatorLayout(registry);

  it('has one point per plant, meter and quantity, with a unique NodeId in namespace 1', () => {
    const expected = registry.plants.reduce((n, p) => n + p.meters.reduce((m, meter) => m + meter.quantities.length, 0), 0);
    expect(layout).toHaveLength(expected);
    expect(new Set(layout.map((p) => p.opcua.nodeId)).size).toBe(expected);
    expect(layout.find((p) => p.plant === 'paper-01' && p.quantity === 'cod')?.opcua.nodeId).toBe('ns=1;s=paper-01.outfall-1-cod.cod');
  });

  it('gives each plant its own unit id in registry order, with registers packed from address 0 in meter order', () => {
    registry.plants.forEach((plant, i) => {
      const own = layout.filter((p) => p.plant === plant.id);
      expect(new Set(own.map((p) => p.modbus.unitId))).toEqual(new Set([i + 1]));
      let next = 0;
      for (const p of own) {
        expect(p.modbus.address).toBe(next);
        next += registerCount(p.modbus.type);
      }
    });
  });

  it('is deterministic and exercises every register type', () => {
    expect(simulatorLayout(registry)).toEqual(layout);
    expect(new Set(layout.map((p) => p.modbus.type))).toEqual(new Set(['int16', 'uint16', 'int32', 'uint32', 'float32']));
  });

  it('refuses more plants than Modbus unit ids', () => {
    const many = manyPlants(248, { idPrefix: 'p', quantity: 'active_power' });
    expect(() => simulatorLayout(many)).toThrow(/at most 247 plants/);
  });
});

describe('register encoding', () => {
  const cases: [ModbusEncoding, number, number[]][] = [
    [{ type: 'int16', scale: 0.01 }, 7.25, [725]],
    [{ type: 'int16', scale: 0.01 }, -1.5, [0x10000 - 150]],
    [{ type: 'uint16', scale: 0.1 }, 61.26, [613]],
    // -123456 in two's complement is 0xfffe1dc0
    [{ type: 'int32', scale: 0.1 }, -12_345.6, [0xfffe, 0x1dc0]],
    [{ type: 'uint32', scale: 1 }, 541_906_167, [541_906_167 >>> 16, 541_906_167 & 0xffff]],
    [{ type: 'float32', scale: 1 }, 1.5, [0x3fc0, 0x0000]],
  ];

  it.each(cases)('encodes %o value %d high word first', (encoding, value, words) => {
    expect(encodeRegisters(encoding, value)).toEqual(words);
  });

  it('round-trips every quantity encoding to within its scale', () => {
    for (const p of simulatorLayout(registry)) {
      const value = 12.3456;
      const decoded = decodeRegisters(p.modbus, encodeRegisters(p.modbus, value));
      expect(Math.abs(decoded - value)).toBeLessThanOrEqual(p.modbus.scale / 2 + 1e-6);
    }
    expect(QUANTITY_IDS.length).toBeGreaterThan(0);
  });

  it('saturates 16-bit values and wraps uint32 counters as a meter register rolls over', () => {
    expect(encodeRegisters({ type: 'uint16', scale: 0.1 }, 10_000)).toEqual([0xffff]);
    expect(encodeRegisters({ type: 'uint16', scale: 0.1 }, -3)).toEqual([0]);
    expect(encodeRegisters({ type: 'uint32', scale: 1 }, 2 ** 32 + 5.9, true)).toEqual([0, 5]);
    expect(encodeRegisters({ type: 'uint32', scale: 0.1 }, 12.39, true)).toEqual([0, 123]);
  });
});
