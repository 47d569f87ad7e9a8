import { describe, expect, it } from 'vitest';
import { parsePacket } from './codec.ts';
import { buildDataAnswer, buildExecutionResult, buildRequestAnswer, EXE_RTN, needsDataAnswer, QN_RTN, qnRtnFor } from './replies.ts';
import { frameOf, STANDARD_EXAMPLE_FRAME } from './samples.ts';

const original = parsePacket(STANDARD_EXAMPLE_FRAME);

describe('answers (ST=91)', () => {
  it('9014 data answer carries the original QN in the header and in CP, and asks for no answer', () => {
    const frame = buildDataAnswer(original);
    expect(frame).toBe(frameOf('QN=20160801085857223;ST=91;CN=9014;PW=100000;MN=010000A8900016F000169DC0;Flag=4;CP=&&QN=20160801085857223&&'));
    const answer = parsePacket(frame);
    expect(answer).toMatchObject({ st: '91', cn: '9014', qn: original.qn, mn: original.mn, pw: original.pw });
    expect(answer.flag?.replyRequested).toBe(false);
    expect(answer.data.fields.get('QN')).toBe(original.qn);
  });

  it('9011 request answer carries QnRtn', () => {
    const answer = parsePacket(buildRequestAnswer(original, QN_RTN.crcError));
    expect(answer.cn).toBe('9011');
    expect(answer.cp).toEqual([[{ key: 'QnRtn', value: '9' }]]);
  });

  it('9012 execution result carries ExeRtn', () => {
    const answer = parsePacket(buildExecutionResult(original, EXE_RTN.ok));
    expect(answer.cn).toBe('9012');
    expect(answer.data.fields.get('ExeRtn')).toBe('1');
  });

  it('uses the Modbus CRC and the 2025 version bits when the device needs them', () => {
    const frame = buildDataAnswer(original, { crc: 'modbus', version: '2025' });
    expect(parsePacket(frame, { crc: 'modbus', version: '2025' }).flag?.raw).toBe(8);
  });

  it('cannot answer a packet without QN', () => {
    expect(() => buildDataAnswer({ pw: '1', mn: 'M' })).toThrow(/missing_field: cannot build a 9014 answer: the original packet from MN=M has no QN/);
  });

  it('answers data uploads whose Flag asks for it', () => {
    const upload = parsePacket(frameOf('QN=20240501090000001;ST=32;CN=2061;PW=1;MN=M;Flag=5;CP=&&&&'));
    expect(needsDataAnswer(upload)).toBe(true);
    expect(needsDataAnswer({ ...upload, flag: { ...upload.flag!, replyRequested: false } })).toBe(false);
    expect(needsDataAnswer(original)).toBe(false); // CN 1062 is a request: it gets 9011, not 9014
  });

  it('maps refusal reasons to QnRtn', () => {
    expect(qnRtnFor('crc_mismatch')).toBe(9);
    expect(qnRtnFor('bad_field', 'MN')).toBe(4);
    expect(qnRtnFor('unsupported_version', 'Flag')).toBe(6);
    expect(qnRtnFor('length_mismatch')).toBe(100);
  });
});
