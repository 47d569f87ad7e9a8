/**
 * HJ 212 packet checksums (HJ 212-2017 appendix A): a CRC16 over the bytes of the data segment only, sent as 4 hex digits.
 *
 * The standard's algorithm XORs each byte into the high-shifted register (`crc = (crc >> 8) ^ b`); many data loggers in the
 * field instead run the Modbus CRC16 (`crc ^= b`), which differs from the first byte on. Both are offered so a receiver
 * can be configured per device; the standard's own example gives 1C80 with the first and 0759 with the second.
 */

export type CrcVariant = 'hj212' | 'modbus';

const POLYNOMIAL_REFLECTED = 0xa001;

/**
 * Eight rounds of "shift right, XOR the polynomial if a 1 fell out" applied to each byte value: both variants below are
 * the bit-by-bit loops of their definitions, with those eight rounds looked up instead of run.
 */
const EIGHT_ROUNDS = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let v = i;
  for (let bit = 0; bit < 8; bit++) v = v & 1 ? (v >>> 1) ^ POLYNOMIAL_REFLECTED : v >>> 1;
  EIGHT_ROUNDS[i] = v;
}

/**
 * HJ 212-2017 appendix A CRC16 of `bytes[start, end)`:
 * `crc = 0xFFFF; for each byte b: crc = (crc >> 8) ^ b; 8 times: lsb = crc & 1; crc >>= 1; if lsb: crc ^= 0xA001`.
 * After `(crc >> 8) ^ b` the register holds at most 8 bits, so the eight rounds are one table lookup.
 */
export function hj212Crc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = EIGHT_ROUNDS[(crc >>> 8) ^ (bytes[i] as number)] as number;
  return crc;
}

/**
 * Modbus CRC16 of `bytes[start, end)`, the variant some field devices send instead:
 * `crc ^= b; 8 times: shift and XOR`, i.e. `crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]`.
 */
export function modbusCrc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ (EIGHT_ROUNDS[(crc ^ (bytes[i] as number)) & 0xff] as number);
  return crc;
}

/** The CRC as it is written in a frame: 4 upper-case hex digits. */
export function formatCrc(crc: number): string {
  return crc.toString(16).toUpperCase().padStart(4, '0');
}

/** The 4-hex-digit CRC of a data segment (a string is encoded as UTF-8) with the chosen variant. */
export function crcHex(segment: string | Uint8Array, variant: CrcVariant = 'hj212', start?: number, end?: number): string {
  const bytes = typeof segment === 'string' ? Buffer.from(segment, 'utf8') : segment;
  const compute = variant === 'modbus' ? modbusCrc16 : hj212Crc16;
  return formatCrc(compute(bytes, start ?? 0, end ?? bytes.length));
}

/** Implementations differ in the case of the hex digits, so CRCs are compared case-insensitively. */
export function crcEquals(a: string, b: string): boolean {
  return a.length === b.length && a.toUpperCase() === b.toUpperCase();
}
