/**
 * Pure Modbus register logic: which read requests cover the configured registers, and how the words that come back
 * become numbers. Kept free of I/O so that both are specified by unit tests.
 */
import { BIT_AREAS, DEFAULT_NO_VALUE, MAX_BITS_PER_READ, REGISTER_WIDTH, type ModbusInputConfig, type ModbusRegisterConfig, type NoValueType, type RegisterType } from './config.ts';

import type { RegisterArea } from './config.ts';
export type { RegisterArea };
export type WordOrder = 'big' | 'little';

/** One read request (function code 0x01-0x04 by area) and the registers it serves. */
export interface ReadRequest {
  unitId: number;
  area: RegisterArea;
  address: number;
  count: number;
  /** Indexes into the register list given to planRequests. */
  registers: number[];
}

type Plannable = Pick<ModbusRegisterConfig, 'area' | 'address' | 'type'> & { unitId?: number | undefined };

/**
 * Group registers of the same unit id and area whose address ranges touch or overlap into one request of at most
 * `maxPerRequest` registers. Registers separated by a gap are read separately: devices commonly answer a read that
 * spans unmapped addresses with exception 02 (Illegal Data Address), which would fail the good registers too.
 */
export function planRequests(registers: readonly Plannable[], defaultUnitId: number, maxPerRequest: number): ReadRequest[] {
  const order = registers
    .map((r, index) => ({ index, unitId: r.unitId ?? defaultUnitId, area: r.area, start: r.address, end: r.address + REGISTER_WIDTH[r.type] }))
    .sort((a, b) => a.unitId - b.unitId || a.area.localeCompare(b.area) || a.start - b.start || a.end - b.end);

  const requests: ReadRequest[] = [];
  let current: (ReadRequest & { end: number }) | undefined;
  for (const r of order) {
    const joins =
      current !== undefined &&
      current.unitId === r.unitId &&
      current.area === r.area &&
      r.start <= current.end &&
      Math.max(current.end, r.end) - current.address <= (BIT_AREAS.has(r.area) ? Math.max(maxPerRequest, Math.min(MAX_BITS_PER_READ, maxPerRequest * 16)) : maxPerRequest);
    if (joins && current) {
      current.end = Math.max(current.end, r.end);
      current.count = current.end - current.address;
      current.registers.push(r.index);
    } else {
      if (current) requests.push(stripEnd(current));
      current = { unitId: r.unitId, area: r.area, address: r.start, count: r.end - r.start, end: r.end, registers: [r.index] };
    }
  }
  if (current) requests.push(stripEnd(current));
  return requests;
}

function stripEnd(request: ReadRequest & { end: number }): ReadRequest {
  const { end: _end, ...rest } = request;
  return rest;
}

/** Room for the widest type (4 registers); decodeRegister is synchronous, so sharing it is safe. */
const scratch = Buffer.alloc(8);

/**
 * Decode the value of `type` starting at `words[at]`. Words are the register values as the client returns them
 * (for the bit areas, 0 or 1 per bit). Registers are big-endian by definition (Modbus Application Protocol V1.1b3
 * §4.2), but devices differ: `byteOrder` little swaps the two bytes of each register, and `wordOrder` little puts
 * the least significant register of a 32/64-bit value first.
 */
export function decodeRegister(words: readonly number[], at: number, type: RegisterType, wordOrder: WordOrder = 'big', byteOrder: WordOrder = 'big'): number {
  if (type === 'bool') return wordAt(words, at) ? 1 : 0;
  const width = REGISTER_WIDTH[type];
  // One scratch buffer for every call: a poll decodes thousands of registers a second and must not allocate for each.
  const bytes = scratch;
  for (let i = 0; i < width; i++) {
    const word = wordAt(words, at + (wordOrder === 'big' ? i : width - 1 - i));
    if (byteOrder === 'big') bytes.writeUInt16BE(word, i * 2);
    else bytes.writeUInt16LE(word, i * 2);
  }
  switch (type) {
    case 'int16':
      return bytes.readInt16BE(0);
    case 'uint16':
      return bytes.readUInt16BE(0);
    case 'int32':
      return bytes.readInt32BE(0);
    case 'uint32':
      return bytes.readUInt32BE(0);
    case 'float32':
      return bytes.readFloatBE(0);
    case 'float64':
      return bytes.readDoubleBE(0);
  }
}

function wordAt(words: readonly number[], index: number): number {
  const word = words[index];
  if (word === undefined || !Number.isInteger(word) || word < 0 || word > 0xffff) {
    throw new RangeError(`register word ${index} is ${String(word)}, expected an integer 0..65535 (response shorter than requested?)`);
  }
  return word;
}

/** The engineering value of a register: raw * scale + offset. */
export function scaleValue(raw: number, register: Pick<ModbusRegisterConfig, 'scale' | 'offset'>): number {
  return raw * register.scale + register.offset;
}

/**
 * The decoded raw values (what decodeRegister gives) that mean "no valid value" for a register: its own codes, else
 * the input's for its type, else DEFAULT_NO_VALUE. A signed type's code given as its bit pattern (0x8000) is the
 * negative number decodeRegister reads (-32768).
 */
export function noValueSet(register: Pick<ModbusRegisterConfig, 'type' | 'noValue'>, inputCodes: ModbusInputConfig['noValue'] = {}): ReadonlySet<number> {
  if (register.type === 'bool') return new Set();
  const type = register.type as NoValueType;
  const codes = register.noValue ?? inputCodes[type] ?? DEFAULT_NO_VALUE[type];
  return new Set(codes.map((code) => asDecoded(type, code)));
}

function asDecoded(type: NoValueType, code: number): number {
  switch (type) {
    case 'int16':
      return code >= 0x8000 ? code - 0x10000 : code;
    case 'int32':
      return code >= 0x80000000 ? code - 0x100000000 : code;
    case 'float32':
      return Math.fround(code);
    default:
      return code;
  }
}

/**
 * The engineering value of a register (raw * scale + offset), or null when the device said it has none: a no-value
 * code or a NaN float.
 */
export function registerValue(raw: number, register: Pick<ModbusRegisterConfig, 'scale' | 'offset'>, noValue: ReadonlySet<number>): number | null {
  if (Number.isNaN(raw) || noValue.has(raw)) return null;
  return scaleValue(raw, register);
}
