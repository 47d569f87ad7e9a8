import { describe, expect, it } from 'vitest';
import { decodeSpoolRecord, encodeSpoolRecord } from './spool-record.ts';

describe('spool records', () => {
  it('round-trips topic, reading count and the exact payload bytes', () => {
    const record = { topic: 'cleanstream/v1/readings/paper-01/gw-1', readings: 70_000, payload: Buffer.from('{"v":1,"x":"é"}') };
    expect(decodeSpoolRecord(encodeSpoolRecord(record))).toEqual(record);
  });

  it('refuses a record of another format or a truncated one', () => {
    const data = encodeSpoolRecord({ topic: 't', readings: 1, payload: Buffer.from('{}') });
    expect(() => decodeSpoolRecord(Buffer.concat([Buffer.from([9]), data.subarray(1)]))).toThrow(/format 9/);
    expect(() => decodeSpoolRecord(data.subarray(0, 5))).toThrow();
  });
});
