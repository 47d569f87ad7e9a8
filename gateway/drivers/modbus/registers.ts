/**
 * Pure Modbus register logic: which read requests cover the configured registers, and how the words that come back
 * become numbers. Kept free of I/O so that both are specified by unit tests.
 */
import { REGISTER_WIDTH, type ModbusRegisterConfig, type RegisterType } from './config.ts';

export type RegisterArea = ModbusRegisterConfig['area'];

/** One Read Holding Registers (0x03) or Read Input Registers (0x04) request and the registers it serves. */
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
      Math.max(current.end, r.end) - current.address <= maxPerRequest;
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

/**
 * Decode the value of `type` starting at `words[at]`. Words are the 16-bit register values as the client returns
 * them: the bytes inside a register are big-endian by definition (Modbus Application Protocol V1.1b3 §4.2); only the
 * order of the two words of a 32-bit value varies between devices, hence `wordOrder`.
 */
export function decodeRegister(words: readonly number[], at: number, type: RegisterType, wordOrder: 'big' | 'little' = 'big'): number {
  const first = wordAt(words, at);
  if (REGISTER_WIDTH[type] === 1) {
    return type === 'int16' ? (first << 16) >> 16 : first;
  }
  const second = wordAt(words, at + 1);
  const [high, low] = wordOrder === 'big' ? [first, second] : [second, first];
  switch (type) {
    case 'uint32':
      return high * 0x10000 + low;
    case 'int32':
      return ((high << 16) | low) | 0;
    case 'float32': {
      const bytes = Buffer.alloc(4);
      bytes.writeUInt16BE(high, 0);
      bytes.writeUInt16BE(low, 2);
      return bytes.readFloatBE(0);
    }
    default:
      throw new RangeError(`unhandled register type ${type as string}`);
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
