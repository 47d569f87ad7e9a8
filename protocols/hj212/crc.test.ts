import { describe, expect, it } from 'vitest';
import { crcEquals, crcHex, hj212Crc16, modbusCrc16 } from './crc.ts';

const EXAMPLE_SEGMENT = 'QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&';

describe('HJ 212 CRC16', () => {
  it("gives 1C80 for the standard's example data segment", () => {
    expect(crcHex(EXAMPLE_SEGMENT)).toBe('1C80');
    expect(crcHex(Buffer.from(EXAMPLE_SEGMENT), 'hj212')).toBe('1C80');
  });

  it('gives 0759 for the same segment with the Modbus variant some loggers send', () => {
    expect(crcHex(EXAMPLE_SEGMENT, 'modbus')).toBe('0759');
  });

  it('covers only the given byte range, so a frame can be checked in place', () => {
    const frame = Buffer.from(`##0101${EXAMPLE_SEGMENT}1C80\r\n`);
    expect(crcHex(frame, 'hj212', 6, 6 + 101)).toBe('1C80');
  });

  it('pads to 4 upper-case hex digits', () => {
    const text = crcHex('A');
    expect(text).toMatch(/^[0-9A-F]{4}$/);
    expect(parseInt(text, 16)).toBe(hj212Crc16(Buffer.from('A')));
  });

  it('differs between the variants for almost any input', () => {
    expect(hj212Crc16(Buffer.from('ST=32'))).not.toBe(modbusCrc16(Buffer.from('ST=32')));
  });

  it('compares CRC text case-insensitively', () => {
    expect(crcEquals('1c80', '1C80')).toBe(true);
    expect(crcEquals('1C80', '1C81')).toBe(false);
    expect(crcEquals('1C8', '1C80')).toBe(false);
  });
});

describe('the table-driven CRCs', () => {
  // The definitions, bit by bit, as HJ 212-2017's CRC appendix (Appendix A) gives them (docs/hj212.md), to check the lookups against.
  function bitwise(bytes: Uint8Array, modbus: boolean): number {
    let crc = 0xffff;
    for (const b of bytes) {
      crc = modbus ? crc ^ b : (crc >> 8) ^ b;
      for (let i = 0; i < 8; i++) {
        const lsb = crc & 1;
        crc >>= 1;
        if (lsb) crc ^= 0xa001;
      }
    }
    return crc;
  }

  it('agree with the bit-by-bit definitions on every byte value and on longer inputs', () => {
    const inputs = [Buffer.from(EXAMPLE_SEGMENT), Buffer.alloc(0), ...Array.from({ length: 256 }, (_, i) => Buffer.from([i, 255 - i, i ^ 0x5a]))];
    for (const input of inputs) {
      expect(hj212Crc16(input)).toBe(bitwise(input, false));
      expect(modbusCrc16(input)).toBe(bitwise(input, true));
    }
  });
});
