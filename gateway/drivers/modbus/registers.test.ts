import { describe, expect, it } from 'vitest';
import { decodeRegister, noValueSet, planRequests, registerValue, scaleValue } from './registers.ts';
import { modbusInputSchema, type RegisterType } from './config.ts';

const reg = (address: number, type: RegisterType = 'uint16', extra: { area?: 'holding' | 'input'; unitId?: number } = {}) => ({
  address,
  type,
  area: extra.area ?? ('holding' as const),
  ...(extra.unitId !== undefined ? { unitId: extra.unitId } : {}),
});

describe('planning read requests', () => {
  it('reads contiguous registers of one unit and area in one request', () => {
    const plan = planRequests([reg(10), reg(11, 'float32'), reg(13, 'int32'), reg(15)], 1, 100);
    expect(plan).toEqual([{ unitId: 1, area: 'holding', address: 10, count: 6, registers: [0, 1, 2, 3] }]);
  });

  it('splits at gaps, so one unmapped address cannot fail its neighbours', () => {
    const plan = planRequests([reg(0), reg(1), reg(5)], 1, 100);
    expect(plan.map((r) => [r.address, r.count])).toEqual([[0, 2], [5, 1]]);
  });

  it('never mixes areas or unit ids in one request', () => {
    const plan = planRequests([reg(0), reg(1, 'uint16', { area: 'input' }), reg(1, 'uint16', { unitId: 2 }), reg(1)], 1, 100);
    expect(plan.map((r) => `${r.unitId}/${r.area}/${r.address}+${r.count}:${r.registers.join(',')}`)).toEqual([
      '1/holding/0+2:0,3',
      '1/input/1+1:1',
      '2/holding/1+1:2',
    ]);
  });

  it('keeps each request within maxRegistersPerRequest without splitting a 32-bit value', () => {
    const registers = Array.from({ length: 10 }, (_, i) => reg(i * 2, 'float32'));
    const plan = planRequests(registers, 1, 5);
    expect(plan.map((r) => [r.address, r.count])).toEqual([[0, 4], [4, 4], [8, 4], [12, 4], [16, 4]]);
    for (const request of plan) expect(request.count).toBeLessThanOrEqual(5);
  });

  it('serves overlapping registers (the same address read as two types) from one request', () => {
    const plan = planRequests([reg(0, 'float32'), reg(0, 'uint16'), reg(1, 'int16')], 1, 100);
    expect(plan).toEqual([{ unitId: 1, area: 'holding', address: 0, count: 2, registers: [1, 0, 2] }]);
  });

  it('covers every configured register exactly once, whatever the config order', () => {
    const registers = [reg(40), reg(3, 'int32'), reg(41, 'float32', { area: 'input' }), reg(1), reg(2), reg(43)];
    const plan = planRequests(registers, 7, 3);
    expect(plan.flatMap((r) => r.registers).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    for (const request of plan) {
      for (const i of request.registers) {
        const r = registers[i]!;
        expect(r.address).toBeGreaterThanOrEqual(request.address);
        expect(r.address + (r.type === 'int32' || r.type === 'float32' ? 2 : 1)).toBeLessThanOrEqual(request.address + request.count);
      }
    }
  });
});

describe('decoding registers', () => {
  it('reads int16 as two’s complement and uint16 as is, except the no-value codes 0x8000 and 0xFFFF', () => {
    const value = (word: number, type: 'int16' | 'uint16'): number | null => registerValue(decodeRegister([word], 0, type), { scale: 1, offset: 0 }, noValueSet({ type }));
    expect(value(0xffff, 'int16')).toBe(-1);
    expect(value(0x8001, 'int16')).toBe(-32767);
    expect(value(0x7fff, 'int16')).toBe(32767);
    expect(value(0xfffe, 'uint16')).toBe(65534);
    expect(value(0x8000, 'int16')).toBeNull();
    expect(value(0xffff, 'uint16')).toBeNull();
  });

  it('reads 32-bit values high word first by default', () => {
    expect(decodeRegister([0x0001, 0x0002], 0, 'uint32')).toBe(65538);
    expect(decodeRegister([0xffff, 0xffff], 0, 'uint32')).toBe(4294967295);
    expect(decodeRegister([0xffff, 0xfffe], 0, 'int32')).toBe(-2);
    expect(decodeRegister([0x8000, 0x0000], 0, 'int32')).toBe(-2147483648);
    // 1.5f = 0x3FC00000
    expect(decodeRegister([0x3fc0, 0x0000], 0, 'float32')).toBe(1.5);
  });

  it('swaps the words of 32-bit values when wordOrder is little', () => {
    expect(decodeRegister([0x0002, 0x0001], 0, 'uint32', 'little')).toBe(65538);
    expect(decodeRegister([0xfffe, 0xffff], 0, 'int32', 'little')).toBe(-2);
    expect(decodeRegister([0x0000, 0x3fc0], 0, 'float32', 'little')).toBe(1.5);
  });

  it('decodes at an offset inside a longer response', () => {
    const words = [0, 0, 0x4048, 0xf5c3, 0];
    expect(decodeRegister(words, 2, 'float32')).toBeCloseTo(3.14, 5);
  });

  it('round-trips float32 values written by Buffer', () => {
    for (const value of [0, -0.5, 123.25, 1e-3, -98765.4]) {
      const bytes = Buffer.alloc(4);
      bytes.writeFloatBE(value);
      const words = [bytes.readUInt16BE(0), bytes.readUInt16BE(2)];
      expect(decodeRegister(words, 0, 'float32')).toBe(Math.fround(value));
      expect(decodeRegister([words[1]!, words[0]!], 0, 'float32', 'little')).toBe(Math.fround(value));
    }
  });

  it('gives NaN for a NaN float (the driver reports it as a bad reading)', () => {
    expect(decodeRegister([0x7fc0, 0x0000], 0, 'float32')).toBeNaN();
  });

  it('refuses a response shorter than the value', () => {
    expect(() => decodeRegister([0x0001], 0, 'uint32')).toThrow(RangeError);
  });

  it('applies scale and offset: raw * scale + offset', () => {
    expect(scaleValue(725, { scale: 0.01, offset: 0 })).toBeCloseTo(7.25, 10);
    expect(scaleValue(100, { scale: 2, offset: -40 })).toBe(160);
  });
});

describe('byte order, float64 and bits', () => {
  it('swaps the bytes inside each register when byteOrder is little', () => {
    expect(decodeRegister([0x2efb], 0, 'int16', 'big', 'little')).toBe(-1234); // -1234 = 0xFB2E
    expect(decodeRegister([0x0000, 0x4841], 0, 'float32', 'little', 'little')).toBe(12.5); // 0x41480000, both swapped
  });

  it('reads float64 from four registers in either word order', () => {
    const bytes = Buffer.alloc(8);
    bytes.writeDoubleBE(-98765.4321);
    const words = [0, 2, 4, 6].map((i) => bytes.readUInt16BE(i));
    expect(decodeRegister(words, 0, 'float64')).toBe(-98765.4321);
    expect(decodeRegister([...words].reverse(), 0, 'float64', 'little')).toBe(-98765.4321);
  });

  it('reads a bit as 1 or 0', () => {
    expect(decodeRegister([0, 1], 1, 'bool')).toBe(1);
    expect(decodeRegister([0, 1], 0, 'bool')).toBe(0);
  });
});

describe('"no valid value" codes', () => {
  const input = (extra: Record<string, unknown> = {}, register: Record<string, unknown> = {}) =>
    modbusInputSchema.parse({ type: 'modbus', host: 'h', ...extra, registers: [{ plant: 'p', meter: 'm', quantity: 'cod', unit: 'mg/L', area: 'holding', address: 0, type: 'uint16', scale: 0.1, ...register }] });
  const valueOf = (words: number[], config: ReturnType<typeof input>): number | null => {
    const r = config.registers[0]!;
    return registerValue(decodeRegister(words, 0, r.type, r.wordOrder, r.byteOrder), r, noValueSet(r, config.noValue));
  };

  it('by default: a COD fault (uint16 0xFFFF) is no value, not 6553.5 mg/L; a pH fault (int16 0x8000) not -327.68', () => {
    expect(valueOf([0xffff], input())).toBeNull();
    expect(valueOf([0xfffe], input())).toBeCloseTo(6553.4, 6);
    expect(valueOf([0x8000], input({}, { quantity: 'ph', unit: 'pH', type: 'int16', scale: 0.01 }))).toBeNull();
    expect(valueOf([0x8000, 0x0000], input({}, { type: 'int32' }))).toBeNull();
    expect(valueOf([0xffff, 0xffff], input({}, { type: 'uint32' }))).toBeNull();
    expect(valueOf([0x7fc0, 0x0000], input({}, { type: 'float32' }))).toBeNull();
  });

  it('takes the input\'s codes per type, and a register\'s own over them ([] for none)', () => {
    expect(valueOf([0xfffe], input({ noValue: { uint16: [0xfffe] } }))).toBeNull();
    expect(valueOf([0xffff], input({ noValue: { uint16: [0xfffe] } }))).toBeCloseTo(6553.5, 6);
    expect(valueOf([0xffff], input({}, { noValue: [] }))).toBeCloseTo(6553.5, 6);
    expect(valueOf([0x8000], input({}, { type: 'int16', noValue: [-32768] }))).toBeNull();
    expect(valueOf([0xc61c, 0x3c00], input({}, { type: 'float32', noValue: [-9999] }))).toBeNull();
  });

  it('refuses codes a register of that type cannot hold, naming the field', () => {
    expect(() => input({}, { noValue: [0x10000] })).toThrow(/noValue[\s\S]*0\.\.0xFFFF/);
    expect(() => input({ noValue: { int16: [1.5] } })).toThrow(/integer -32768\.\.0xFFFF/);
    expect(() => input({}, { area: 'coil', type: 'bool', noValue: [1] })).toThrow(/no noValue codes for a bool/);
  });
});
