/**
 * Realistic HJ 212 packets from a seeded generator, for tests, the fuzz test and the parse bench: an outfall logger
 * (ST=32) or a stack CEMS (ST=31) uploading real-time, minute, hourly or daily data with the codes and value ranges
 * such devices send.
 */
import { crcHex, type CrcVariant } from './crc.ts';
import { dataCp, type Hj212PollutantInput } from './cp.ts';
import type { Hj212PacketInput } from './codec.ts';
import { formatHj212Time } from './time.ts';

/** A small, fast, seedable PRNG (mulberry32): the same seed gives the same sequence on every machine. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The standard's own example frame (HJ 212-2017; docs/hj212.md): CN 1062 set real-time interval, length 0101, CRC 1C80. */
export const STANDARD_EXAMPLE_FRAME =
  '##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80\r\n';

/** A frame around any data segment text, with a correct length and CRC (for building malformed segments). */
export function frameOf(segment: string, variant: CrcVariant = 'hj212'): string {
  return `##${String(Buffer.byteLength(segment, 'utf8')).padStart(4, '0')}${segment}${crcHex(segment, variant)}\r\n`;
}

const WATER: [code: string, low: number, high: number, decimals: number][] = [
  ['w00000', 5, 80, 2],
  ['w01001', 6, 9, 2],
  ['w01018', 10, 120, 1],
  ['w21003', 0.1, 15, 2],
  ['w21001', 1, 30, 2],
  ['w21011', 0.05, 2, 3],
  ['w20111', 0.01, 0.5, 3],
];
const GAS: [code: string, low: number, high: number, decimals: number][] = [
  ['a00000', 50, 300, 1],
  ['a19001', 6, 12, 1],
  ['a21026', 5, 80, 2],
  ['a21002', 20, 150, 2],
  ['a34013', 1, 20, 2],
  ['a01012', 80, 160, 1],
];
const FLAGS = ['N', 'N', 'N', 'N', 'N', 'N', 'C', 'M', 'S', 'F', 'D', 'T', 'B'];
const DATA_CNS = ['2011', '2051', '2061', '2031'];

export interface SamplePacketOptions {
  cn?: string;
  /** Base of the timestamps (ms); default 2024-05-01 08:00 CST. */
  baseTime?: number;
}

/** One data upload as the packet input buildPacket takes. */
export function samplePacket(random: () => number, options: SamplePacketOptions = {}): Hj212PacketInput {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const cn = options.cn ?? pick(DATA_CNS);
  const stack = random() < 0.4;
  const base = options.baseTime ?? Date.UTC(2024, 4, 1, 0, 0, 0);
  const dataTime = base + Math.floor(random() * 86_400) * 1000;
  const codes = stack ? GAS : WATER;
  const count = 1 + Math.floor(random() * codes.length);
  const pollutants: Hj212PollutantInput[] = codes.slice(0, count).map(([code, low, high, decimals]) => {
    const value = (): string => (low + random() * (high - low)).toFixed(decimals);
    const flag = pick(FLAGS);
    if (cn === '2011') return { code, values: { Rtd: value() }, flag };
    const values: Hj212PollutantInput['values'] = { Min: value(), Avg: value(), Max: value() };
    if (stack && code !== 'a00000' && code !== 'a19001' && code !== 'a01012') Object.assign(values, { ZsMin: value(), ZsAvg: value(), ZsMax: value() });
    if (code !== 'w01001' && code !== 'a19001' && code !== 'a01012') values.Cou = (random() * 1000).toFixed(3);
    return { code, values, flag };
  });
  return {
    qn: formatHj212Time(dataTime + 1234, undefined, true),
    st: stack ? '31' : '32',
    cn,
    pw: '123456',
    mn: `8888800000${String(Math.floor(random() * 1e6)).padStart(6, '0')}00000001`.slice(0, 24),
    replyRequested: cn !== '2011',
    cp: dataCp(dataTime, pollutants),
  };
}
