import { describe, expect, it } from 'vitest';
import { hasCumulative, intervalCumulatives, pairedFlowCode, type CumulativeSample } from './cumulative.ts';

const START = 1_700_000_000_000;
const END = START + 60_000;

describe('Cou of an interval', () => {
  it('pairs water pollutants with w00000 and flue-gas pollutants with a00000; codes without a mass Cou with none', () => {
    expect(pairedFlowCode('w01018')).toBe('w00000');
    expect(pairedFlowCode('011')).toBe('w00000'); // the 2005 COD code
    expect(pairedFlowCode('a21026')).toBe('a00000');
    expect(pairedFlowCode('w01001')).toBeUndefined(); // pH
    expect(pairedFlowCode('a19001')).toBeUndefined(); // O2
    expect(pairedFlowCode('w00000')).toBeUndefined();
    expect(hasCumulative('w00000')).toBe(true);
    expect(hasCumulative('a01012')).toBe(false);
  });

  it('holds each flow sample until the next and weights it by the latest concentration at or before it', () => {
    // Flow (L/s): 10 from 0 s (also covering the start), 30 from 20 s, 20 from 40 s to the end:
    // 10 × 20 + 30 × 20 + 20 × 20 = 1200 L = 1.2 m3.
    const flow = [
      [START + 40_000, 20],
      [START + 5_000, 10],
      [START + 20_000, 30],
    ] as const;
    // COD (mg/L): 100 before the first flow sample, 50 from 30 s. Weights: 10 L/s × 20 s at 100, 30 × 20 at 100, 20 × 20 at 50:
    // 0.2 × 100 + 0.6 × 100 + 0.4 × 50 = 100 g = 0.1 kg.
    const cod = [
      [START + 30_000, 50],
      [START + 10_000, 100],
    ] as const;
    // Lead (ug/L): 2 throughout: 1.2 m3 × 2 mg/m3 = 2.4 mg = 0.0024 g.
    const pb = [[START, 2]] as const;
    const pollutants = new Map<string, readonly CumulativeSample[]>([
      ['w01018', cod],
      ['w20120', pb],
      ['a21026', [[START, 1]]],
    ]);
    const out = intervalCumulatives('w00000', START, END, flow, pollutants);
    expect(out.get('w00000')).toBeCloseTo(1.2, 12);
    // The first COD sample (10 s) is after the first flow sample (5 s): the interval's first concentration is used.
    expect(out.get('w01018')).toBeCloseTo(0.1, 12);
    expect(out.get('w20120')).toBeCloseTo(0.0024, 12);
    expect(out.has('a21026')).toBe(false); // flue gas is not carried by wastewater
  });

  it('converts flue-gas concentrations in mg/m3 with a flow in m3/s to kg', () => {
    const out = intervalCumulatives('a00000', START, END, [[START, 100]], new Map([['a34013', [[START, 20]] as const]]));
    // 100 m3/s × 60 s = 6000 m3; × 20 mg/m3 = 120,000 mg = 0.12 kg.
    expect(out.get('a00000')).toBeCloseTo(6000, 9);
    expect(out.get('a34013')).toBeCloseTo(0.12, 12);
  });

  it('gives nothing without a flow sample', () => {
    expect(intervalCumulatives('w00000', START, END, [], new Map([['w01018', [[START, 10]] as const]])).size).toBe(0);
  });
});
