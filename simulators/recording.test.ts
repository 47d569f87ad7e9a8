import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createProgress, renderBar } from './progress.ts';
import { openLineWriter, parseRecordLine, payloadBytes, readRecording, recordLine, RecordingError } from './recording.ts';

const workDir = mkdtempSync(path.join(tmpdir(), 'cleanstream-rec-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe('recording lines', () => {
  it('keep JSON object payloads as JSON and give back equivalent bytes', () => {
    const payload = Buffer.from('{"v":1,"readings":[{"value":1.5}]}');
    const line = recordLine(1000, 'a/b', payload, 1, false);
    expect(JSON.parse(line)).toEqual({ t: 1000, topic: 'a/b', payload: { v: 1, readings: [{ value: 1.5 }] }, qos: 1, retain: false });
    expect(payloadBytes(parseRecordLine('f', 1, line)).equals(payload)).toBe(true);
  });

  it('keep anything else as base64, byte for byte', () => {
    for (const raw of [Buffer.from('online'), Buffer.from('"quoted"'), Buffer.from([0xff, 0x00, 0x7b]), Buffer.from('{not json')]) {
      const m = parseRecordLine('f', 1, recordLine(5, 'x', raw, 0, true));
      expect(m.encoding).toBe('base64');
      expect(m.retain).toBe(true);
      expect(payloadBytes(m).equals(raw)).toBe(true);
    }
  });

  it('name the file and line of a bad line', () => {
    expect(() => parseRecordLine('rec.ndjson', 7, '{"topic":"a","payload":{}}')).toThrow(RecordingError);
    expect(() => parseRecordLine('rec.ndjson', 7, 'nope')).toThrow(/rec\.ndjson:7/);
  });

  it('round-trip through a gzip file in order', async () => {
    const file = path.join(workDir, 'r.ndjson.gz');
    const writer = openLineWriter(file);
    for (let i = 0; i < 5000; i++) await writer.write(recordLine(i, `t/${i % 7}`, Buffer.from(JSON.stringify({ i })), 1, false));
    expect(await writer.close()).toBeGreaterThan(0);
    const seen: number[] = [];
    let lastBytes = 0;
    for await (const { message, bytesRead } of readRecording(file)) {
      seen.push((message.payload as { i: number }).i);
      expect(bytesRead).toBeGreaterThanOrEqual(lastBytes);
      lastBytes = bytesRead;
    }
    expect(seen).toEqual(Array.from({ length: 5000 }, (_, i) => i));
  });
});

describe('progress', () => {
  it('draws a bar of the fraction done', () => {
    expect(renderBar(0.5, 10)).toBe('[#####.....]  50%');
    expect(renderBar(2, 4)).toBe('[####] 100%');
  });

  it('writes periodic plain lines when the stream is not a terminal', () => {
    const out: string[] = [];
    let now = 0;
    const stream = { isTTY: false, write: (s: string) => out.push(s) > 0 } as unknown as NodeJS.WritableStream;
    const p = createProgress({ stream, lineEveryMs: 1000, now: () => now });
    for (now = 0; now < 3500; now += 100) p.update(now / 3500, 'x');
    p.done();
    expect(out).toHaveLength(4);
    expect(out.every((l) => l.endsWith('x\n') && !l.includes('\r'))).toBe(true);
  });
});
