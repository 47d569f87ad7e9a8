import { describe, expect, it } from 'vitest';
import { buildPacket, parsePacket, type Hj212Packet } from './codec.ts';
import { dataCp } from './cp.ts';
import { Hj212Reassembler } from './split.ts';
import { parseHj212Time } from './time.ts';

const dataTime = parseHj212Time('20240501080000', 'DataTime');

function part(pno: number, pnum: number, codes: string[], qn = '20240501090000001', mn = 'OUTFALL01'): Hj212Packet {
  const cp = dataCp(
    dataTime,
    codes.map((code) => ({ code, values: { Avg: '1.5' }, flag: 'N' })),
  );
  return parsePacket(buildPacket({ qn, st: '32', cn: '2061', pw: '123456', mn, pnum, pno, replyRequested: true, cp }));
}

describe('Hj212Reassembler (PNUM/PNO split messages)', () => {
  it('passes an unsplit packet straight through', () => {
    const packet = parsePacket(buildPacket({ st: '32', cn: '2011', pw: '1', mn: 'M', cp: [] }));
    expect(new Hj212Reassembler().add(packet)).toEqual({ complete: packet, dropped: [] });
  });

  it('combines the CP groups of all parts, whatever their order, once the last arrives', () => {
    const r = new Hj212Reassembler();
    expect(part(3, 3, ['w21011']).flag?.raw).toBe(7);
    expect(r.add(part(3, 3, ['w21011'])).complete).toBeUndefined();
    expect(r.add(part(1, 3, ['w00000', 'w01018'])).complete).toBeUndefined();
    expect(r.add(part(1, 3, ['w00000', 'w01018'])).complete).toBeUndefined(); // a resent part does not complete it
    expect(r.pendingMessages).toBe(1);
    const { complete, dropped } = r.add(part(2, 3, ['w21003']));
    expect(dropped).toEqual([]);
    expect(complete).toBeDefined();
    expect([...(complete?.data.pollutants.keys() ?? [])]).toEqual(['w00000', 'w01018', 'w21003', 'w21011']);
    expect(complete?.data.dataTime).toBe(dataTime);
    expect(complete?.pnum).toBeUndefined();
    expect(complete?.flag).toMatchObject({ raw: 5, splitPacket: false, replyRequested: true });
    expect(r.pendingMessages).toBe(0);
  });

  it('keeps messages of different devices or QNs apart', () => {
    const r = new Hj212Reassembler();
    r.add(part(1, 2, ['w01018'], '20240501090000001', 'A'));
    r.add(part(1, 2, ['w21003'], '20240501090000001', 'B'));
    r.add(part(1, 2, ['w00000'], '20240501090000002', 'A'));
    expect(r.pendingMessages).toBe(3);
    const done = r.add(part(2, 2, ['w21011'], '20240501090000001', 'B')).complete;
    expect(done?.mn).toBe('B');
    expect([...(done?.data.pollutants.keys() ?? [])]).toEqual(['w21003', 'w21011']);
  });

  it('drops a message that does not complete in time, saying which parts it had', () => {
    const r = new Hj212Reassembler({ timeoutMs: 60_000 });
    r.add(part(1, 3, ['w01018']), 0);
    r.add(part(3, 3, ['w21011']), 1000);
    expect(r.expire(59_999)).toEqual([]);
    const [err] = r.expire(60_000);
    expect(err?.reason).toBe('split_timeout');
    expect(err?.message).toContain('MN=OUTFALL01 QN=20240501090000001 (2 of 3 parts: 1,3) not complete after 60000 ms');
    expect(r.pendingMessages).toBe(0);
    // a late part starts over instead of completing a dropped message
    expect(r.add(part(2, 3, ['w21003']), 61_000).complete).toBeUndefined();
  });

  it('evicts the oldest pending message beyond the limit', () => {
    const r = new Hj212Reassembler({ maxPendingMessages: 2 });
    r.add(part(1, 2, ['w01018'], '20240501090000001'));
    r.add(part(1, 2, ['w01018'], '20240501090000002'));
    const { dropped } = r.add(part(1, 2, ['w01018'], '20240501090000003'));
    expect(dropped.map((e) => e.reason)).toEqual(['split_evicted']);
    expect(dropped[0]?.message).toContain('QN=20240501090000001');
    expect(r.pendingMessages).toBe(2);
  });

  it('bounds the CP characters held across pending messages', () => {
    const codes = Array.from({ length: 10 }, (_, i) => `w0101${i}`); // about 310 CP characters per part
    const r = new Hj212Reassembler({ maxPendingChars: 500 });
    expect(r.add(part(1, 2, codes, '20240501090000001')).dropped).toEqual([]);
    const { dropped } = r.add(part(1, 2, codes, '20240501090000002'));
    expect(dropped.map((e) => e.reason)).toEqual(['split_evicted']);
    expect(r.pendingMessages).toBe(1);
    const small = new Hj212Reassembler({ maxPendingChars: 200 });
    expect(small.add(part(1, 2, codes)).dropped.map((e) => e.reason)).toEqual(['too_long']);
    expect(small.pendingMessages).toBe(0);
  });

  it('refuses a PNUM beyond the part limit and parts that disagree', () => {
    const r = new Hj212Reassembler({ maxParts: 10 });
    expect(r.add(part(1, 11, ['w01018'])).dropped[0]?.message).toContain('PNUM=11; at most 10 parts');
    r.add(part(1, 3, ['w01018']));
    const { dropped } = r.add(part(2, 4, ['w01018']));
    expect(dropped.map((e) => e.reason)).toEqual(['split_inconsistent']);
    expect(dropped[0]?.message).toContain('PNUM=4');
  });
});
