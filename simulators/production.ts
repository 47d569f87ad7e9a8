/**
 * A plant's production level over time: three shifts (00-08 night, 08-16 day, 16-24 evening, China Standard Time),
 * lower at night and at weekends, with a ramp at each shift change and a slow plant-wide wander.
 * 1.0 is the day-shift weekday level. Both the level and its integral are closed-form functions of time, so
 * totalising counters can be computed at any instant without stepping through history.
 */
import { createWander, type Wander } from './noise.ts';

export interface ShiftPattern {
  /** Levels relative to the weekday day shift (1.0). */
  night: number;
  day: number;
  evening: number;
  /** Multiplier applied to every shift on Saturday and Sunday. */
  weekend: number;
}

export interface Production {
  /** The level at time t (ms since the epoch). */
  at(tMs: number): number;
  /** An antiderivative of the level in level·hours, so `integral(b) - integral(a)` is the production-hours in [a, b]. */
  integral(tMs: number): number;
}

const MS_PER_HOUR = 3_600_000;
/** China Standard Time, UTC+8, no daylight saving: shifts and weekends follow local time. */
const UTC_OFFSET_H = 8;
const SHIFT_H = 8;
/** A week is 21 shift blocks; the pattern repeats with that period. */
const BLOCKS_PER_WEEK = 21;
/** Operators bring a line up or down over most of an hour, not in a step. */
const RAMP_H = 0.75;
/** Amplitude of the plant-wide wander (orders, raw material, weather) around the shift level. */
const PLANT_WANDER = 0.04;

export function createProduction(pattern: ShiftPattern, wanderKey: number): Production {
  const level = (block: number): number => {
    const r = ((block % BLOCKS_PER_WEEK) + BLOCKS_PER_WEEK) % BLOCKS_PER_WEEK;
    // 1970-01-01 (local day 0) was a Thursday (weekday 4, Sunday = 0).
    const weekday = (Math.floor(r / 3) + 4) % 7;
    const shift = r % 3;
    const base = shift === 0 ? pattern.night : shift === 1 ? pattern.day : pattern.evening;
    return weekday === 0 || weekday === 6 ? base * pattern.weekend : base;
  };
  const levels = Array.from({ length: BLOCKS_PER_WEEK }, (_, r) => level(r));
  const previous = levels.map((_, r) => levels[(r + BLOCKS_PER_WEEK - 1) % BLOCKS_PER_WEEK] as number);
  const blockIntegral = (r: number, hoursIn: number): number => {
    const from = previous[r] as number;
    const to = levels[r] as number;
    if (hoursIn <= RAMP_H) return from * hoursIn + ((to - from) * hoursIn * hoursIn) / (2 * RAMP_H);
    return from * RAMP_H + ((to - from) * RAMP_H) / 2 + to * (hoursIn - RAMP_H);
  };
  const prefix: number[] = [0];
  for (let r = 0; r < BLOCKS_PER_WEEK; r++) prefix.push((prefix[r] as number) + blockIntegral(r, SHIFT_H));
  const perWeek = prefix[BLOCKS_PER_WEEK] as number;
  const wander: Wander = createWander(wanderKey);

  const shiftLevel = (localH: number): number => {
    const block = Math.floor(localH / SHIFT_H);
    const r = ((block % BLOCKS_PER_WEEK) + BLOCKS_PER_WEEK) % BLOCKS_PER_WEEK;
    const hoursIn = localH - block * SHIFT_H;
    const to = levels[r] as number;
    if (hoursIn >= RAMP_H) return to;
    const from = previous[r] as number;
    return from + ((to - from) * hoursIn) / RAMP_H;
  };
  const shiftIntegral = (localH: number): number => {
    const block = Math.floor(localH / SHIFT_H);
    const week = Math.floor(block / BLOCKS_PER_WEEK);
    const r = block - week * BLOCKS_PER_WEEK;
    return week * perWeek + (prefix[r] as number) + blockIntegral(r, localH - block * SHIFT_H);
  };

  return {
    at(tMs) {
      const h = tMs / MS_PER_HOUR;
      return shiftLevel(h + UTC_OFFSET_H) + PLANT_WANDER * wander.at(h);
    },
    integral(tMs) {
      const h = tMs / MS_PER_HOUR;
      return shiftIntegral(h + UTC_OFFSET_H) + PLANT_WANDER * wander.integral(h);
    },
  };
}
