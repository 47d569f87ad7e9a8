/**
 * Seeded fuzz inputs for HJ 212: random bytes and valid frames mutated the ways a broken logger, a noisy line or an
 * attacker would (flipped bytes, cuts, wrong lengths, huge CPs, huge numbers, impossible dates, odd encodings, fields
 * broken under a recomputed length and CRC). Used by the parser fuzz (fuzz.test.ts), the receiver fuzz over TCP
 * (test/integration/hj212/fuzz.test.ts) and bench/fuzz.ts, so the figures in SECURITY.md come from the same cases the
 * tests run.
 */
import { crcHex } from './crc.ts';
import { frameOf } from './samples.ts';

export type Mutation = (frame: string, random: () => number) => string | Buffer;

export const randomInt = (random: () => number, n: number): number => Math.floor(random() * n);

const SEPARATORS = [';', ',', '=', '&&', '&', '-', '\r\n', '##'];

/** 1,500 distinct pollutant items; a huge CP is a prefix of them. */
const ITEM_CHARS = 'w00000-Rtd=0.123,'.length;
const HUGE_CP = Array.from({ length: 1500 }, (_, i) => `w${String(i).padStart(5, '0')}-Rtd=0.${String(i % 1000).padStart(3, '0')}`).join(',');

const HUGE_NUMBERS = ['1e309', '-1e309', '99999999999999999999999999', '0x1F', 'NaN', 'Infinity', '-0', '1e-400', '.', '--1', '1.2.3', ' 5', '１２'];
const BAD_DATES = ['20241399256199', '00000000000000', '99991231235959', '2024050108300', '202405010830001', '2024-05-01 08:30', '20240230120000', '19691231235959'];
/** Text a logger with the wrong code page or a damaged line would send: GBK bytes, invalid UTF-8, NUL, BOM, CJK. */
const ODD_BYTES = [Buffer.from([0xca, 0xfd, 0xb2, 0xc9]), Buffer.from([0xff, 0xfe]), Buffer.from([0x00]), Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('数采仪', 'utf8'), Buffer.from([0xc3, 0x28])];

/** The data segment of a frame whose framing is trusted (built by the caller). */
const segmentOf = (frame: string): string => frame.slice(6, -6);

/** A frame with a correct length and CRC around any bytes. */
function frameOfBytes(segment: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`##${String(segment.length).padStart(4, '0')}`), segment, Buffer.from(`${crcHex(segment)}\r\n`)]);
}

/** Replaces the value of the n-th `key=value` whose key matches, keeping the length and CRC right. */
function replaceValue(frame: string, random: () => number, keyPattern: RegExp, values: readonly string[]): string {
  const seg = segmentOf(frame);
  const matches = [...seg.matchAll(new RegExp(`(${keyPattern.source})=([^;,&]*)`, 'g'))];
  if (matches.length === 0) return frame;
  const m = matches[randomInt(random, matches.length)] as RegExpMatchArray;
  const at = (m.index ?? 0) + (m[1] as string).length + 1;
  return frameOf(seg.slice(0, at) + (values[randomInt(random, values.length)] as string) + seg.slice(at + (m[2] as string).length));
}

export const MUTATIONS: readonly [name: string, mutate: Mutation][] = [
  ['valid', (f) => f],
  [
    'flipped bytes',
    (f, r) => {
      const b = Buffer.from(f);
      for (let n = 1 + randomInt(r, 3); n > 0; n--) b[randomInt(r, b.length)] = randomInt(r, 256);
      return b;
    },
  ],
  ['truncated', (f, r) => f.slice(0, randomInt(r, f.length))],
  [
    'duplicated separators',
    (f, r) => {
      const seg = segmentOf(f);
      const at = Math.max(0, seg.indexOf(SEPARATORS[randomInt(r, 5)] as string, randomInt(r, seg.length)));
      return frameOf(seg.slice(0, at) + seg[at] + seg.slice(at));
    },
  ],
  ['wrong length', (f, r) => `##${String(randomInt(r, 10_000)).padStart(4, '0')}${f.slice(6)}`],
  [
    'huge CP',
    (f, r) => {
      const seg = segmentOf(f);
      const items = 200 + randomInt(r, 1200);
      return frameOf(`${seg.slice(0, -2)};${HUGE_CP.slice(0, HUGE_CP.indexOf(',', items * ITEM_CHARS))}&&`);
    },
  ],
  ['huge numbers', (f, r) => replaceValue(f, r, /[a-z]\d{5}-(?:Rtd|Avg|Min|Max|Cou|ZsRtd|ZsAvg)/, HUGE_NUMBERS)],
  ['bad dates', (f, r) => replaceValue(f, r, /DataTime|QN/, BAD_DATES)],
  [
    'odd encodings',
    (f, r) => {
      const seg = Buffer.from(segmentOf(f), 'latin1');
      const at = randomInt(r, seg.length);
      return frameOfBytes(Buffer.concat([seg.subarray(0, at), ODD_BYTES[randomInt(r, ODD_BYTES.length)] as Buffer, seg.subarray(at)]));
    },
  ],
  [
    'mutated segment, recomputed length and CRC',
    (f, r) => {
      const seg = Buffer.from(segmentOf(f));
      const op = randomInt(r, 4);
      const at = randomInt(r, seg.length);
      let out: Buffer;
      if (op === 0) {
        out = Buffer.from(seg);
        out[at] = randomInt(r, 256);
      } else if (op === 1) out = Buffer.concat([seg.subarray(0, at), seg.subarray(at + 1 + randomInt(r, 20))]);
      else if (op === 2) out = Buffer.concat([seg.subarray(0, at), Buffer.from(SEPARATORS[randomInt(r, SEPARATORS.length)] as string), seg.subarray(at)]);
      else out = Buffer.concat([seg.subarray(0, at), seg.subarray(at, at + randomInt(r, 30)), seg.subarray(at)]);
      return frameOfBytes(out);
    },
  ],
  [
    'random bytes',
    (_f, r) => {
      const b = Buffer.alloc(randomInt(r, 300));
      for (let i = 0; i < b.length; i++) b[i] = randomInt(r, 256);
      if (r() < 0.5) b.write('##', 0, 'latin1');
      return b;
    },
  ],
];

/** One fuzz case: a mutation of a frame from the pool, by name. */
export function fuzzCase(pool: readonly string[], random: () => number): { name: string; input: string | Buffer } {
  const [name, mutate] = MUTATIONS[randomInt(random, MUTATIONS.length)] as [string, Mutation];
  return { name, input: mutate(pool[randomInt(random, pool.length)] as string, random) };
}
