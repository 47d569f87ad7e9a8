/**
 * What the uplink sends, in the layout of HJ 212-2017 data uploads: a closed interval as an outbox record (its QN, CN,
 * DataTime and CP: per pollutant Min/Avg/Max/Cou and Flag), and the latest values as real-time data (2011, Rtd).
 */
import type { Quality } from '../core/reading.ts';
import { dataCp, type Hj212CpGroup, type Hj212PollutantInput } from '../protocols/hj212/cp.ts';
import { formatHj212Time } from '../protocols/hj212/time.ts';
import type { ClosedInterval, LatestValue } from './aggregate.ts';
import type { OutboxRecord } from './station-link.ts';

/** The QN of an interval: its DataTime and the last three digits of its CN, the same on every resend. */
export function intervalQn(dataTime: number, cn: string, utcOffsetMinutes: number): string {
  return formatHj212Time(dataTime, utcOffsetMinutes) + cn.slice(1);
}

/** Values are sent with at most 4 decimals: more than any analyser resolves, and short frames. */
const figure = (value: number | null | undefined): number | null | undefined => (value === null || value === undefined ? value : Number(value.toFixed(4)));

/** The CP of a closed interval in the layout of HJ 212-2017 data uploads: DataTime, then per pollutant Min/Avg/Max/Cou and Flag. */
export function intervalCp(interval: ClosedInterval, utcOffsetMinutes: number): OutboxRecord['cp'] {
  const pollutants: Hj212PollutantInput[] = interval.pollutants.map((p) => {
    const values: Hj212PollutantInput['values'] = { Min: figure(p.min) as number | null, Avg: figure(p.avg) as number | null, Max: figure(p.max) as number | null };
    if (p.cou !== undefined) values.Cou = figure(p.cou) as number;
    return { code: p.code, values, flag: p.flag };
  });
  return dataCp(interval.start, pollutants, utcOffsetMinutes);
}

export function intervalRecord(interval: ClosedInterval, utcOffsetMinutes: number): OutboxRecord {
  return { qn: intervalQn(interval.start, interval.cn, utcOffsetMinutes), cn: interval.cn, dataTime: interval.start, cp: intervalCp(interval, utcOffsetMinutes) };
}

const REALTIME_FLAG: Readonly<Record<Quality, string>> = { good: 'N', uncertain: 'M', bad: 'D' };

/** The CP of real-time data: the newest value per pollutant as Rtd, DataTime the newest reading's time. */
export function realtimeCp(latest: ReadonlyMap<string, LatestValue>, newest: number, utcOffsetMinutes: number): Hj212CpGroup[] {
  const pollutants: Hj212PollutantInput[] = [...latest].map(([code, v]) => ({ code, values: { Rtd: figure(v.value) as number | null }, flag: REALTIME_FLAG[v.quality] }));
  return dataCp(newest, pollutants, utcOffsetMinutes);
}
