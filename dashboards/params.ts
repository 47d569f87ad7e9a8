/**
 * The ranges every query parameter of the API must fall in, checked before anything reaches InfluxDB: a number that
 * parses but makes no sense (a time in year 292,277,026, a bucket of 2.7 million years) is the caller's mistake and
 * answers 400 naming the parameter, not a database error.
 */
import type { ErrorCode } from '../core/errors.ts';
import { HttpError } from './auth.ts';

/** No plant reported before 2000: an earlier time is a unit mistake (seconds for ms) or a probe. */
export const EARLIEST_MS = Date.UTC(2000, 0, 1);
/** How far past now a time may lie: clocks ahead of ours, and a window's end rounded up to the next bucket or day. */
export const FUTURE_SLACK_MS = 86_400_000;
/** The narrowest `every` bucket /series accepts: readings arrive at most about once a second. */
export const MIN_EVERY_MS = 1000;

/** A 400 that says which parameter was wrong; the response carries it as `field`. */
export function badParameter(field: string, message: string, code: ErrorCode = 'BAD_PARAMETER'): HttpError {
  return new HttpError(400, code, message, { field });
}

/** The latest instant a time parameter may name (now + a day). */
export function latestAccepted(now: number): number {
  return now + FUTURE_SLACK_MS;
}

/** Throws 400 naming `field` unless `value` (ms since the epoch) lies between 2000-01-01 and a day from now. */
export function checkInstant(field: string, value: number | undefined, now: number): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value) || value < EARLIEST_MS || value > latestAccepted(now)) {
    throw badParameter(field, `${field} must be a time in ms since the epoch between ${new Date(EARLIEST_MS).toISOString()} and a day from now, got ${value}`);
  }
}

/** A time window's defaults resolved and both ends checked; 400 naming the field when inverted. */
export function checkedWindow(query: { from?: number | undefined; to?: number | undefined }, now: number, defaultSpanMs: number): { from: number; to: number } {
  checkInstant('from', query.from, now);
  checkInstant('to', query.to, now);
  const to = query.to ?? now;
  const from = query.from ?? Math.max(EARLIEST_MS, to - defaultSpanMs);
  if (from >= to) throw badParameter(query.from === undefined ? 'to' : 'from', `from (${from}) must be before to (${to})`, 'BAD_WINDOW');
  return { from, to };
}

/** JSON-schema for a time parameter: the static half of the range (the upper end moves with the clock: checkInstant). */
export function instantSchema(description: string): { type: 'integer'; minimum: number; description: string } {
  return { type: 'integer', minimum: EARLIEST_MS, description: `${description}; from 2000-01-01 to a day from now` };
}
