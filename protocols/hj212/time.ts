/**
 * HJ 212 timestamps: QN is `YYYYMMDDhhmmsszzz`, DataTime `YYYYMMDDhhmmss`. Neither carries a zone.
 *
 * The standard is written for China, whose one civil time zone is UTC+8 without daylight saving, and data loggers are
 * set to Beijing time (the platform sets their clocks with CN 1012 in local time). So times are read as UTC+8 by default;
 * the offset is a parameter for the odd logger kept on UTC.
 */
import { Hj212Error } from './errors.ts';

export const CHINA_STANDARD_TIME_OFFSET_MINUTES = 480;

const DIGITS_14_OR_17 = /^\d{14}(\d{3})?$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] as number);
}

/**
 * Milliseconds since the epoch of a 14-digit DataTime or 17-digit QN; throws Hj212Error(bad_field) naming `field`
 * when the text is not a real calendar time.
 */
export function parseHj212Time(text: string, field: string, utcOffsetMinutes = CHINA_STANDARD_TIME_OFFSET_MINUTES): number {
  if (!DIGITS_14_OR_17.test(text)) {
    throw new Hj212Error('bad_field', `${field}=${JSON.stringify(text)} must be YYYYMMDDhhmmss${field === 'QN' ? 'zzz' : ''} digits`, {
      field,
      value: text,
    });
  }
  const year = Number(text.slice(0, 4));
  const month = Number(text.slice(4, 6));
  const day = Number(text.slice(6, 8));
  const hour = Number(text.slice(8, 10));
  const minute = Number(text.slice(10, 12));
  const second = Number(text.slice(12, 14));
  const millis = text.length === 17 ? Number(text.slice(14, 17)) : 0;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    throw new Hj212Error('bad_field', `${field}=${text} is not a valid calendar time`, { field, value: text });
  }
  return Date.UTC(year, month - 1, day, hour, minute, second, millis) - utcOffsetMinutes * 60_000;
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** The 14-digit DataTime (or, with `withMillis`, the 17-digit QN) of an instant in the given zone offset. */
export function formatHj212Time(ms: number, utcOffsetMinutes = CHINA_STANDARD_TIME_OFFSET_MINUTES, withMillis = false): string {
  const d = new Date(ms + utcOffsetMinutes * 60_000);
  const text =
    pad(d.getUTCFullYear(), 4) +
    pad(d.getUTCMonth() + 1, 2) +
    pad(d.getUTCDate(), 2) +
    pad(d.getUTCHours(), 2) +
    pad(d.getUTCMinutes(), 2) +
    pad(d.getUTCSeconds(), 2);
  return withMillis ? text + pad(d.getUTCMilliseconds(), 3) : text;
}
