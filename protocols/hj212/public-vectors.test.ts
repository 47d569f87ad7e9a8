/**
 * Frames and CRCs published by others, not produced by this codec: the standard's own example, and packets shown in
 * the documentation and tests of public implementations (liruoyu2008/HJ212Interpreter, C#, README; xiaoyao9184/
 * hj-t212-parser, Java, DataDeserializerTest). Each CRC is also recomputed by test/harness/hj212-frames.ts, written
 * from the standard's text, so a wrong vector or a wrong codec cannot agree by accident.
 */
import { describe, expect, it } from 'vitest';
import { crcFromTheStandard, frameProblem } from '../../test/harness/hj212-frames.ts';
import { hj212Crc16, parsePacket } from './index.ts';

const PUBLIC_FRAMES = [
  { source: 'HJ 212-2017, its own example (CN 1062)', crc: '1C80', frame: '##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80\r\n' },
  { source: 'liruoyu2008/HJ212Interpreter README (CN 2011)', crc: 'F441', frame: '##0162QN=20231008123340461;ST=22;CN=2011;PW=123456;MN=010000A8900016F000169DC0;Flag=5;CP=&&DataTime=20231008123340;w01008-SampleTime=20231008123340,w01008-Rtd=123.456&&F441\r\n' },
  { source: 'liruoyu2008/HJ212Interpreter README (CN 2011, second)', crc: '2800', frame: '##0162QN=20231008132300648;ST=22;CN=2011;PW=123456;MN=010000A8900016F000169DC0;Flag=5;CP=&&DataTime=20231008132300;w01008-SampleTime=20231008132300,w01008-Rtd=123.456&&2800\r\n' },
  { source: 'liruoyu2008/HJ212Interpreter README (CN 9011 answer)', crc: 'CC01', frame: '##0094QN=20231008125115215;ST=22;CN=9011;PW=123456;MN=010000A8900016F000169DC0;Flag=4;CP=&&QnRtn=1&&CC01\r\n' },
  { source: 'liruoyu2008/HJ212Interpreter README (CN 2081)', crc: '3AC0', frame: '##0137QN=20231008130452757;ST=22;CN=2081;PW=123456;MN=010000A8900016F000169DC0;Flag=5;CP=&&DataTime=20231008130452;RestartTime=20231007130452&&3AC0\r\n' },
  { source: 'xiaoyao9184/hj-t212-parser DataDeserializerTest (2005-style codes, no QN or Flag)', crc: '4980', frame: '##0139ST=32;CN=2011;PW=123456;MN=LD130133000015;CP=&&DataTime=20160824003817000;B01-Rtd=36.91;011-Rtd=231.0,011-Flag=N;060-Rtd=1.803,060-Flag=N&&4980\r\n' },
] as const;

describe('HJ 212 frames published by others', () => {
  it.each(PUBLIC_FRAMES)('$source: the published CRC is what the standard computes and what our CRC computes', ({ frame, crc }) => {
    expect(frameProblem(frame)).toBeUndefined();
    const segment = Buffer.from(frame.slice(6, -6), 'latin1');
    expect(crcFromTheStandard(segment).toString(16).toUpperCase().padStart(4, '0')).toBe(crc);
    expect(hj212Crc16(segment)).toBe(parseInt(crc, 16));
  });

  it.each(PUBLIC_FRAMES.filter((f) => f.frame.includes('QN=')))('$source: our parser accepts it and reads its header', ({ frame, crc }) => {
    const packet = parsePacket(frame);
    expect(packet.frame).toEqual({ declaredLength: Number(frame.slice(2, 6)), crc });
    const qn = /QN=(\d+)/.exec(frame)![1];
    expect(packet.qn).toBe(qn);
    expect(packet.mn).toBe(/MN=([^;]*)/.exec(frame)![1]);
  });

  it('a frame with one byte changed is refused by the standard\'s algorithm and by ours', () => {
    const frame = PUBLIC_FRAMES[1].frame.replace('Rtd=123.456', 'Rtd=123.457');
    expect(frameProblem(frame)).toMatch(/CRC F441 where the standard's algorithm gives/);
    expect(() => parsePacket(frame)).toThrow(/crc/i);
  });
});
