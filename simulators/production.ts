/**
 * A plant's production level over time: three shifts (00-08 night, 08-16 day, 16-24 evening, China Standard Time),
 * lower at night and at weekends, with a ramp at each shift change and a slow plant-wide wander; optionally planned
 * maintenance stops that come round every few weeks at a plant-specific point of the cycle.
 * 1.0 is the day-shift weekday level. Both the level and its integral are closed-form functions of time, so
 * totalising counters can be computed at any instant without stepping through history.
 */
import { createWander, mix, uniform, type Wander } from './noise.ts';

/**
 * Planned stops (a kiln's refractory repair, a boiler inspection, a chemical unit's turnaround): every `everyWeeks`
 * weeks the plant runs at `level` for `shifts` eight-hour shifts, starting at a day shift. Which day of the cycle is
 * drawn from the plant's seed, so a fleet does not stop all at once.
 */
export interface MaintenanceStops {
  everyWeeks: number;
  shifts: number;
  /** Production while stopped: auxiliaries, standby, a unit kept warm. */
  level: number;
}

export interface ShiftPattern {
  /** Levels relative to the weekday day shift (1.0). */
  night: number;
  day: number;
  evening: number;
  /** Multiplier applied to every shift on Saturday and Sunday. */
  weekend: number;
  maintenance?: MaintenanceStops;
}

export interface Production {
  /** The level at time t (ms since the epoch). */
  at(tMs: number): number;
  /** An antiderivative of the level in level·hours, so `integral(b) - integral(a)` is the production-hours in [a, b]. */
  integral(tMs: number): number;
  /** Whether a maintenance stop is scheduled at t (false for a pattern without stops). */
  stopped(tMs: number): boolean;
}

const MS_PER_HOUR = 3_600_000;
/** China Standard Time, UTC+8, no daylight saving: shifts and weekends follow local time. */
const UTC_OFFSET_H = 8;
const SHIFT_H = 8;
/** A week is 21 shift blocks; the pattern repeats with that period, or with the maintenance cycle's. */
const BLOCKS_PER_WEEK = 21;
const BLOCKS_PER_DAY = 3;
/** Operators bring a line up or down over most of an hour, not in a step. */
const RAMP_H = 0.75;
/** Amplitude of the plant-wide wander (orders, raw material, weather) around the shift level. */
const PLANT_WANDER = 0.04;

export function createProduction(pattern: ShiftPattern, wanderKey: number): Production {
  const stops = pattern.maintenance;
  const cycle = BLOCKS_PER_WEEK * (stops ? Math.max(1, Math.round(stops.everyWeeks)) : 1);
  // the stop starts with a day shift (block 1 of a local day) on a seeded day of the cycle
  const stopFrom = stops ? BLOCKS_PER_DAY * Math.floor(uniform(mix(wanderKey, 0x5709), 0) * (cycle / BLOCKS_PER_DAY)) + 1 : 0;
  const stopBlocks = stops ? Math.min(cycle, Math.max(0, Math.round(stops.shifts))) : 0;
  const inStop = (r: number): boolean => (((r - stopFrom) % cycle) + cycle) % cycle < stopBlocks;
  const level = (r: number): number => {
    if (stops && inStop(r)) return stops.level;
    // 1970-01-01 (local day 0) was a Thursday (weekday 4, Sunday = 0).
    const weekday = (Math.floor(r / BLOCKS_PER_DAY) + 4) % 7;
    const shift = r % BLOCKS_PER_DAY;
    const base = shift === 0 ? pattern.night : shift === 1 ? pattern.day : pattern.evening;
    return weekday === 0 || weekday === 6 ? base * pattern.weekend : base;
  };
  const levels = Array.from({ length: cycle }, (_, r) => level(r));
  const previous = levels.map((_, r) => levels[(r + cycle - 1) % cycle] as number);
  const blockIntegral = (r: number, hoursIn: number): number => {
    const from = previous[r] as number;
    const to = levels[r] as number;
    if (hoursIn <= RAMP_H) return from * hoursIn + ((to - from) * hoursIn * hoursIn) / (2 * RAMP_H);
    return from * RAMP_H + ((to - from) * RAMP_H) / 2 + to * (hoursIn - RAMP_H);
  };
  const prefix: number[] = [0];
  for (let r = 0; r < cycle; r++) prefix.push((prefix[r] as number) + blockIntegral(r, SHIFT_H));
  const perCycle = prefix[cycle] as number;
  const blockIndex = (block: number): number => ((block % cycle) + cycle) % cycle;
  const wander: Wander = createWander(wanderKey);

  const shiftLevel = (localH: number): number => {
    const block = Math.floor(localH / SHIFT_H);
    const r = blockIndex(block);
    const hoursIn = localH - block * SHIFT_H;
    const to = levels[r] as number;
    if (hoursIn >= RAMP_H) return to;
    const from = previous[r] as number;
    return from + ((to - from) * hoursIn) / RAMP_H;
  };
  const shiftIntegral = (localH: number): number => {
    const block = Math.floor(localH / SHIFT_H);
    const cycles = Math.floor(block / cycle);
    const r = block - cycles * cycle;
    return cycles * perCycle + (prefix[r] as number) + blockIntegral(r, localH - block * SHIFT_H);
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
    stopped(tMs) {
      return stopBlocks > 0 && inStop(blockIndex(Math.floor((tMs / MS_PER_HOUR + UTC_OFFSET_H) / SHIFT_H)));
    },
  };
}
