import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deadLetterFor } from './topics.ts';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('dead letters', () => {
  it('keep a payload within the cap whole, with its length and SHA-256', () => {
    const payload = Buffer.from('{"v":1,"readings":[]}');
    expect(deadLetterFor('ingest', 't', payload, 'bad_envelope', 'x')).toMatchObject({
      payload: payload.toString(),
      payloadEncoding: 'utf8',
      payloadBytes: payload.length,
      payloadSha256: sha256(payload),
      payloadTruncated: false,
    });
  });

  it('keep only the first 64 KiB of a 10 MB payload, with the full length and hash of all of it', () => {
    const payload = Buffer.alloc(10 * 1024 * 1024, 'a');
    const letter = deadLetterFor('ingest', 't', payload, 'not_json', 'x');
    expect(letter.payload.length).toBe(64 * 1024);
    expect(letter).toMatchObject({ payloadEncoding: 'utf8', payloadBytes: 10 * 1024 * 1024, payloadSha256: sha256(payload), payloadTruncated: true });
    expect(JSON.stringify(letter).length).toBeLessThan(64 * 1024 + 1024);
  });

  it('cut UTF-8 between characters, so that the kept part is still text', () => {
    const payload = Buffer.from('化学需氧量'.repeat(100)); // 3 bytes a character
    const letter = deadLetterFor('ingest', 't', payload, 'not_json', 'x', 256);
    expect(letter.payloadEncoding).toBe('utf8');
    expect(letter.payload).toBe('化学需氧量'.repeat(100).slice(0, 85));
  });

  it('keep a binary payload as base64 within the cap', () => {
    const payload = Buffer.alloc(100_000, 0xff);
    const letter = deadLetterFor('ingest', 't', payload, 'not_json', 'x', 4096);
    expect(letter.payloadEncoding).toBe('base64');
    expect(letter.payload.length).toBeLessThanOrEqual(4096);
    expect(Buffer.from(letter.payload, 'base64').equals(payload.subarray(0, 3072))).toBe(true);
  });

  it('bound the detail and the topic they carry', () => {
    const letter = deadLetterFor('ingest', 'x'.repeat(65_535), Buffer.from('{}'), 'bad_topic', 'y'.repeat(1_000_000));
    expect(letter.detail.length).toBeLessThanOrEqual(1025);
    expect(letter.topic.length).toBeLessThanOrEqual(1025);
  });
});
