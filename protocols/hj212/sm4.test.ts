/**
 * HJ 212-2025 SM4 of the CP area: the cipher is SM4-ECB as public implementations use it (vectors below), and a
 * station's packets round-trip through build and parse with its key while a wrong key is a clear refusal.
 */
import { describe, expect, it } from 'vitest';
import { createCipheriv } from 'node:crypto';
import { buildPacket, parsePacket } from './codec.ts';
import { buildHeartbeat, buildNoticeAnswer } from './replies.ts';
import { decryptCp, encryptCp, isEncryptedCommand, sm4Available, sm4KeyFromHex, type Hj212Sm4 } from './sm4.ts';

const KEY = sm4KeyFromHex('0123456789abcdeffedcba9876543210') as Buffer;

describe('SM4 as public implementations compute it', () => {
  it('is available in this Node/OpenSSL', () => {
    expect(sm4Available()).toBe(true);
  });

  it('GB/T 32907-2016 appendix A example: one block, key = plaintext', () => {
    const cipher = createCipheriv('sm4-ecb', KEY, null).setAutoPadding(false);
    expect(Buffer.concat([cipher.update(KEY), cipher.final()]).toString('hex')).toBe('681edf34d206965e86b3e94f536e4246');
  });

  it('the ECB vector of nfjBill/rust-gmsm (src/sm4.rs sm4_ecb_test: PKCS7, upper-case hex)', () => {
    const sm4: Hj212Sm4 = { key: sm4KeyFromHex('8A3F8665AAEE6F7A0CB8F40B971E3373') as Buffer, padding: 'pkcs7' };
    const hex = '9AA0BCBF487682AEAF7C640230568083452F4EDE1B8E265CC07A2F8CE07FC2E7';
    expect(encryptCp('hello world, this is sm4 test!', sm4)).toBe(hex);
    expect(decryptCp(hex, sm4, 'test')).toBe('hello world, this is sm4 test!');
  });

  it('zero padding fills to the block and strips on decryption; an empty CP is one block', () => {
    const sm4: Hj212Sm4 = { key: KEY, padding: 'zero' };
    expect(encryptCp('DataTime=20240501080000', sm4)).toHaveLength(64);
    expect(decryptCp(encryptCp('DataTime=20240501080000', sm4), sm4, 'test')).toBe('DataTime=20240501080000');
    expect(decryptCp(encryptCp('', sm4), sm4, 'test')).toBe('');
  });

  it('encrypts data uploads, 1014 and 3020 only', () => {
    expect(['2011', '2051', '2061', '2031', '1014', '3020'].every(isEncryptedCommand)).toBe(true);
    expect(['9014', '9015', '1011', '3021'].some(isEncryptedCommand)).toBe(false);
  });
});

describe('a station with an SM4 key', () => {
  const sm4: Hj212Sm4 = { key: KEY, padding: 'zero' };
  const packet = {
    qn: '20240501080000123',
    st: '32',
    cn: '2051',
    pw: '123456',
    mn: 'DYEING01WATER00000000001',
    replyRequested: true,
    cp: [[{ key: 'DataTime', value: '20240501080000' }], [{ key: 'w01018-Avg', value: '35.2' }, { key: 'w01018-Flag', value: 'N' }]],
  };

  it('sends its data CP as hex and the platform with the same key reads it back', () => {
    const frame = buildPacket(packet, { version: '2025', sm4 });
    expect(frame).toMatch(/CP=&&(?:[0-9A-F]{32})+&&/);
    expect(frame).toContain('Flag=9;');
    const parsed = parsePacket(frame, { sm4 });
    expect(parsed.encrypted).toBe(true);
    expect(parsed.data.pollutants.get('w01018')?.values).toMatchObject({ Avg: 35.2 });
  });

  it('is refused with decrypt_failed, not misread, by a platform holding another key or none', () => {
    const frame = buildPacket(packet, { version: '2025', sm4 });
    const other: Hj212Sm4 = { key: sm4KeyFromHex('00112233445566778899aabbccddeeff') as Buffer, padding: 'zero' };
    expect(() => parsePacket(frame, { sm4: other })).toThrow(/decrypt_failed/);
    expect(() => parsePacket(buildPacket(packet, { version: '2025' }), { sm4 })).toThrow(/decrypt_failed/);
    // Without a key the hex is not CP text.
    expect(() => parsePacket(frame)).toThrow(/bad_field/);
  });

  it('leaves answers and heartbeats in clear text', () => {
    const heartbeat = buildHeartbeat({ qn: packet.qn, pw: packet.pw, mn: packet.mn, replyRequested: true }, { version: '2025', sm4 });
    expect(heartbeat).toContain('ST=91;CN=9015;PW=123456;MN=DYEING01WATER00000000001;Flag=9;CP=&&&&');
    const answer = parsePacket(buildNoticeAnswer(parsePacket(heartbeat, { sm4 }), { version: '2025', sm4 }), { sm4 });
    expect(answer).toMatchObject({ cn: '9013', st: '91', qn: packet.qn, flag: { raw: 8 } });
    expect(answer.cp).toEqual([]);
  });
});
