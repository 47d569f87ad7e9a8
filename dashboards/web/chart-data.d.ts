// Types of chart-data.js (plain JS served to the browser as is), for its unit tests.
export type BucketPoint = [bucket: number, mean: number, readings: number];

export class BucketSeries {
  constructor(options: { everyMs: number; windowMs: number; maxPoints: number });
  readonly everyMs: number;
  readonly windowMs: number;
  readonly maxPoints: number;
  points: BucketPoint[];
  readonly length: number;
  bucketOf(ts: number): number;
  addReading(ts: number, value: number | null, now?: number): void;
  addHistory(points: readonly (readonly [number, number])[], now: number): void;
  trim(now: number): void;
  aligned(gapBuckets?: number): [number[], (number | null)[]];
}

export function limitValues(limit: { min?: number; max?: number } | undefined): number[];

export const NEAR_FACTOR: number;

export function valueRange(values: Iterable<number | null>, limits?: readonly number[]): { min: number; max: number; shown: number[]; hidden: number[] };

export class CounterSeries {
  constructor(options: { everyMs: number; windowMs: number; maxPoints: number });
  readonly everyMs: number;
  readonly windowMs: number;
  readonly maxPoints: number;
  points: [bucket: number, amount: number][];
  last: { ts: number; value: number; bucket: number } | null;
  readonly length: number;
  bucketOf(ts: number): number;
  addReading(ts: number, value: number | null, now?: number): void;
  addHistory(points: readonly (readonly [number, number])[], now: number, last?: readonly [number, number]): void;
  trim(now: number): void;
  aligned(): [number[], (number | null)[]];
}

export const EVERY_STEPS_MS: number[];
export const TARGET_BUCKETS: number;
export const COUNTER_BARS: number;
export function chooseEvery(spanMs: number, buckets?: number): number;
export function chartEvery(spanMs: number, counter: boolean): number;
export const RANGE_PRESETS: { id: string; ms: number }[];
export function everyParam(ms: number): string;
