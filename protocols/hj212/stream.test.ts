import { describe, expect, it } from 'vitest';
import { buildPacket, parsePacket } from './codec.ts';
import { Hj212StreamDecoder, type Hj212StreamItem } from './stream.ts';
import { frameOf, samplePacket, seededRandom, STANDARD_EXAMPLE_FRAME } from './samples.ts';

const frames = (items: Hj212StreamItem[]): string[] => items.flatMap((i) => (i.kind === 'frame' ? [i.frame.toString('utf8')] : []));
const discarded = (items: Hj212StreamItem[]) => items.flatMap((i) => (i.kind === 'discarded' ? [i.error] : []));

function feedInChunks(decoder: Hj212StreamDecoder, data: Buffer, sizes: () => number): Hj212StreamItem[] {
  const out: Hj212StreamItem[] = [];
  for (let pos = 0; pos < data.length; ) {
    const size = Math.max(1, sizes());
    out.push(...decoder.push(data.subarray(pos, pos + size)));
    pos += size;
  }
  return out;
}

describe('Hj212StreamDecoder', () => {
  const random = seededRandom(7);
  const sample = Array.from({ length: 5 }, () => buildPacket(samplePacket(random)));

  it('yields each frame once whatever the chunking, down to one byte at a time', () => {
    const stream = Buffer.from(sample.join(''));
    for (const size of [1, 3, 17, 1000, stream.length]) {
      const decoder = new Hj212StreamDecoder();
      const items = feedInChunks(decoder, stream, () => size);
      expect(frames(items)).toEqual(sample);
      expect(discarded(items)).toEqual([]);
      expect(decoder.bufferedBytes).toBe(0);
    }
  });

  it('resynchronises on ## after garbage and reports what it discarded', () => {
    const stream = Buffer.from(`AT+OK\r\n${sample[0]}\u0000\u0000xx${sample[1]}#junk`);
    const decoder = new Hj212StreamDecoder();
    const items = feedInChunks(decoder, stream, () => 5);
    expect(frames(items)).toEqual([sample[0], sample[1]]);
    const errors = discarded(items);
    expect(errors.every((e) => e.reason === 'garbage')).toBe(true);
    expect(errors.reduce((sum, e) => sum + (e.context.discardedBytes as number), 0)).toBe('AT+OK\r\n'.length + 4 + '#junk'.length);
    expect(errors[0]?.message).toContain('AT+OK');
  });

  it('drops a frame cut short by a logger restart and keeps the next one', () => {
    const cut = (sample[0] as string).slice(0, 40);
    const items = new Hj212StreamDecoder().push(Buffer.from(`${cut}${sample[1]}`));
    expect(frames(items)).toEqual([sample[1]]);
    expect(discarded(items).map((e) => [e.reason, e.context.discardedBytes])).toEqual([['bad_tail', 40]]);
  });

  it('ends a frame with a wrong declared length at CR LF, so the parser can say what is wrong', () => {
    const wrong = `##0999${STANDARD_EXAMPLE_FRAME.slice(6)}`;
    const items = new Hj212StreamDecoder().push(Buffer.from(wrong + STANDARD_EXAMPLE_FRAME));
    expect(frames(items)).toEqual([wrong, STANDARD_EXAMPLE_FRAME]);
    expect(() => parsePacket(wrong)).toThrow(/length_mismatch/);
  });

  it('never buffers more than maxFrameBytes from a client that never ends a frame', () => {
    const decoder = new Hj212StreamDecoder({ maxFrameBytes: 2000 });
    const items: Hj212StreamItem[] = [...decoder.push(Buffer.from('##0100'))];
    for (let i = 0; i < 500; i++) {
      items.push(...decoder.push(Buffer.alloc(1000, 'A')));
      expect(decoder.bufferedBytes).toBeLessThanOrEqual(2000);
    }
    expect(discarded(items).some((e) => e.reason === 'too_long')).toBe(true);
    items.length = 0;
    items.push(...decoder.push(Buffer.from(STANDARD_EXAMPLE_FRAME)));
    expect(frames(items)).toEqual([STANDARD_EXAMPLE_FRAME]);
  });

  it('discards a complete frame longer than the limit', () => {
    const long = frameOf(`QN=20240501083000123;ST=32;CN=2011;PW=1;MN=M;Flag=4;CP=&&Note=${'x'.repeat(300)}&&`);
    const items = new Hj212StreamDecoder({ maxFrameBytes: 200 }).push(Buffer.from(long + STANDARD_EXAMPLE_FRAME));
    expect(frames(items)).toEqual([STANDARD_EXAMPLE_FRAME]);
    expect(discarded(items)[0]?.reason).toBe('too_long');
  });

  it('handles a flood of # in linear time and reports it once', () => {
    const decoder = new Hj212StreamDecoder();
    const started = performance.now();
    const items = decoder.push(Buffer.alloc(300_000, '#'));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(items.length).toBeLessThanOrEqual(2);
    expect(decoder.bufferedBytes).toBeLessThanOrEqual(2);
    expect(frames(decoder.push(Buffer.from(STANDARD_EXAMPLE_FRAME)))).toEqual([STANDARD_EXAMPLE_FRAME]);
  });

  it('reports an incomplete frame left when the connection closes', () => {
    const decoder = new Hj212StreamDecoder();
    decoder.push(Buffer.from(STANDARD_EXAMPLE_FRAME.slice(0, 30)));
    const rest = decoder.reset();
    expect(rest.map((i) => i.kind === 'discarded' && i.error.reason)).toEqual(['bad_tail']);
    expect(decoder.bufferedBytes).toBe(0);
  });
});
