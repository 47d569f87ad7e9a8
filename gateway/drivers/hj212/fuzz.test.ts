/**
 * Fuzz: 100,000 random and mutated frames must never crash the parser; every refusal is an Hj212Error with a known
 * reason. Seeded, so a failure reproduces: the seed and the case number are in the assertion message.
 */
import { describe, expect, it } from 'vitest';
import { buildPacket, parsePacket, type ParseOptions } from './codec.ts';
import { crcHex } from './crc.ts';
import { HJ212_ERROR_REASONS, Hj212Error } from './errors.ts';
import { Hj212StreamDecoder } from './stream.ts';
import { frameOf, samplePacket, seededRandom, STANDARD_EXAMPLE_FRAME } from './samples.ts';

const SEED = 212;
const CASES = 100_000;
const reasons = new Set<string>(HJ212_ERROR_REASONS);
const SEPARATORS = [';', ',', '=', '&&', '&', '-', '\r\n', '##'];

/** 1,500 distinct pollutant items; a huge CP is a prefix of them. */
const ITEM_CHARS = 'w00000-Rtd=0.123,'.length;
const HUGE_CP = Array.from({ length: 1500 }, (_, i) => `w${String(i).padStart(5, '0')}-Rtd=0.${String(i % 1000).padStart(3, '0')}`).join(',');

type Mutation = (frame: string, random: () => number) => string | Buffer;
const int = (random: () => number, n: number): number => Math.floor(random() * n);

/** The data segment of a frame whose framing is trusted (built here). */
const segmentOf = (frame: string): string => frame.slice(6, -6);

const MUTATIONS: [name: string, mutate: Mutation][] = [
  ['valid', (f) => f],
  [
    'flipped bytes',
    (f, r) => {
      const b = Buffer.from(f);
      for (let n = 1 + int(r, 3); n > 0; n--) b[int(r, b.length)] = int(r, 256);
      return b;
    },
  ],
  ['truncated', (f, r) => f.slice(0, int(r, f.length))],
  [
    'duplicated separators',
    (f, r) => {
      const seg = segmentOf(f);
      const at = Math.max(0, seg.indexOf(SEPARATORS[int(r, 5)] as string, int(r, seg.length)));
      return frameOf(seg.slice(0, at) + seg[at] + seg.slice(at));
    },
  ],
  ['wrong length', (f, r) => `##${String(int(r, 10_000)).padStart(4, '0')}${f.slice(6)}`],
  [
    'huge CP',
    (f, r) => {
      const seg = segmentOf(f);
      const items = 200 + int(r, 1200);
      return frameOf(`${seg.slice(0, -2)};${HUGE_CP.slice(0, HUGE_CP.indexOf(',', items * ITEM_CHARS))}&&`);
    },
  ],
  [
    'mutated segment, recomputed length and CRC',
    (f, r) => {
      const seg = Buffer.from(segmentOf(f));
      const op = int(r, 4);
      const at = int(r, seg.length);
      let out: Buffer;
      if (op === 0) {
        out = Buffer.from(seg);
        out[at] = int(r, 256);
      } else if (op === 1) out = Buffer.concat([seg.subarray(0, at), seg.subarray(at + 1 + int(r, 20))]);
      else if (op === 2) out = Buffer.concat([seg.subarray(0, at), Buffer.from(SEPARATORS[int(r, SEPARATORS.length)] as string), seg.subarray(at)]);
      else out = Buffer.concat([seg.subarray(0, at), seg.subarray(at, at + int(r, 30)), seg.subarray(at)]);
      const crc = crcHex(out);
      return Buffer.concat([Buffer.from(`##${String(out.length).padStart(4, '0')}`), out, Buffer.from(`${crc}\r\n`)]);
    },
  ],
  [
    'random bytes',
    (_f, r) => {
      const b = Buffer.alloc(int(r, 300));
      for (let i = 0; i < b.length; i++) b[i] = int(r, 256);
      if (r() < 0.5) b.write('##', 0, 'latin1');
      return b;
    },
  ],
];

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
    const started = performance.now();
    for (let i = 0; i < CASES; i++) {
      const [name, mutate] = MUTATIONS[int(random, MUTATIONS.length)] as [string, Mutation];
      const input = mutate(pool[int(random, pool.length)] as string, random);
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
    const elapsed = performance.now() - started;
    expect(breaches.slice(0, 5)).toEqual([]);
    // Each kind of input was exercised, valid frames always parse, and the deep mutations reach the field checks.
    expect(stats.get('valid')?.refused.size).toBe(0);
    expect(stats.get('valid')?.ok).toBeGreaterThan(CASES / MUTATIONS.length / 2);
    expect(stats.get('huge CP')?.refused.get('too_long')).toBeGreaterThan(0);
    expect(stats.get('wrong length')?.refused.get('length_mismatch')).toBeGreaterThan(0);
    expect(stats.get('mutated segment, recomputed length and CRC')?.refused.get('bad_field')).toBeGreaterThan(0);
    expect(stats.get('flipped bytes')?.refused.get('crc_mismatch')).toBeGreaterThan(0);
    expect(elapsed).toBeLessThan(15_000);
  });

  it('cuts a stream of mixed valid and mutated frames without crashing or growing its buffer', () => {
    const random = seededRandom(SEED + 1);
    const decoder = new Hj212StreamDecoder({ maxFrameBytes: 4096 });
    let frames = 0;
    let validSent = 0;
    const pool = Array.from({ length: 500 }, () => buildPacket(samplePacket(random)));
    for (let i = 0; i < 5_000; i++) {
      const [name, mutate] = MUTATIONS[int(random, MUTATIONS.length)] as [string, Mutation];
      if (name === 'valid') validSent++;
      const bytes = Buffer.from(mutate(pool[int(random, pool.length)] as string, random));
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
