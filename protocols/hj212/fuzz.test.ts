/**
 * Fuzz: 100,000 random and mutated frames must never crash the parser; every refusal is an Hj212Error with a known
 * reason. Seeded, so a failure reproduces: the seed and the case number are in the assertion message.
 */
import { describe, expect, it } from 'vitest';
import { buildPacket, parsePacket, type ParseOptions } from './codec.ts';
import { HJ212_ERROR_REASONS, Hj212Error } from './errors.ts';
import { Hj212StreamDecoder } from './stream.ts';
import { fuzzCase, MUTATIONS, randomInt as int } from './fuzz-cases.ts';
import { samplePacket, seededRandom, STANDARD_EXAMPLE_FRAME } from './samples.ts';

const SEED = 212;
const CASES = 100_000;
const reasons = new Set<string>(HJ212_ERROR_REASONS);
/** Why an outcome breaks the contract, or undefined when it keeps it. Plain code, not expect(), in the hot loop. */
function contractBreach(err: unknown): string | undefined {
  if (!(err instanceof Hj212Error)) return `not an Hj212Error: ${String(err)}`;
  if (!reasons.has(err.reason)) return `unknown reason ${err.reason}`;
  if (!err.message.startsWith(`${err.reason}: `) || err.message.length <= err.reason.length + 2) return `message does not explain: ${err.message}`;
  return undefined;
}

function checkRefusal(err: unknown, where: string): string {
  const breach = contractBreach(err);
  if (breach) expect.fail(`${where}: ${breach}`);
  return (err as Hj212Error).reason;
}

describe('fuzz', () => {
  it(`parses ${CASES} random and mutated frames without crashing (seed ${SEED})`, () => {
    const random = seededRandom(SEED);
    const pool = [STANDARD_EXAMPLE_FRAME, ...Array.from({ length: 2000 }, () => buildPacket(samplePacket(random)))];
    const stats = new Map<string, { ok: number; refused: Map<string, number> }>();
    const breaches: string[] = [];
    for (let i = 0; i < CASES; i++) {
      const { name, input } = fuzzCase(pool, random);
      const options: ParseOptions = { crc: 'hj212', version: random() < 0.5 ? '2017' : '2025' };
      const entry = stats.get(name) ?? { ok: 0, refused: new Map<string, number>() };
      stats.set(name, entry);
      try {
        const packet = parsePacket(input, options);
        entry.ok++;
        // Whatever is accepted can be sent again unchanged, or is refused with a typed reason (e.g. a CR inside a value).
        try {
          const again = parsePacket(buildPacket(packet, options), options);
          if (JSON.stringify(again.cp) !== JSON.stringify(packet.cp)) breaches.push(`case ${i} (${name}): CP changed on rebuild`);
        } catch (err) {
          const breach = contractBreach(err);
          if (breach) breaches.push(`rebuild of case ${i} (${name}): ${breach}`);
        }
      } catch (err) {
        const breach = contractBreach(err);
        if (breach) breaches.push(`case ${i} (${name}): ${breach}`);
        else entry.refused.set((err as Hj212Error).reason, (entry.refused.get((err as Hj212Error).reason) ?? 0) + 1);
      }
    }
    expect(breaches.slice(0, 5)).toEqual([]);
    // Each kind of input was exercised, valid frames always parse, and the deep mutations reach the field checks.
    expect(stats.get('valid')?.refused.size).toBe(0);
    expect(stats.get('valid')?.ok).toBeGreaterThan(CASES / MUTATIONS.length / 2);
    expect(stats.get('huge CP')?.refused.get('too_long')).toBeGreaterThan(0);
    expect(stats.get('wrong length')?.refused.get('length_mismatch')).toBeGreaterThan(0);
    expect(stats.get('mutated segment, recomputed length and CRC')?.refused.get('bad_field')).toBeGreaterThan(0);
    expect(stats.get('flipped bytes')?.refused.get('crc_mismatch')).toBeGreaterThan(0);
    expect(stats.get('huge numbers')?.refused.get('bad_field')).toBeGreaterThan(0);
    expect(stats.get('bad dates')?.refused.get('bad_field')).toBeGreaterThan(0);
    expect(stats.get('odd encodings')?.refused.size).toBeGreaterThan(0);
  });

  it('cuts a stream of mixed valid and mutated frames without crashing or growing its buffer', () => {
    const random = seededRandom(SEED + 1);
    const decoder = new Hj212StreamDecoder({ maxFrameBytes: 4096 });
    let frames = 0;
    let validSent = 0;
    const pool = Array.from({ length: 500 }, () => buildPacket(samplePacket(random)));
    for (let i = 0; i < 5_000; i++) {
      const { name, input } = fuzzCase(pool, random);
      if (name === 'valid') validSent++;
      const bytes = Buffer.from(input);
      for (let pos = 0; pos < bytes.length; ) {
        const size = 1 + int(random, 600);
        for (const item of decoder.push(bytes.subarray(pos, pos + size))) {
          if (item.kind === 'frame') {
            frames++;
            try {
              parsePacket(item.frame);
            } catch (err) {
              checkRefusal(err, `stream frame ${frames}`);
            }
          } else {
            checkRefusal(item.error, 'stream discard');
          }
        }
        pos += size;
        if (decoder.bufferedBytes > 4096) expect.fail(`buffer grew to ${decoder.bufferedBytes} bytes`);
      }
    }
    expect(frames).toBeGreaterThanOrEqual(validSent);
  });
});
