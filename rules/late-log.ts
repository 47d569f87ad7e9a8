/** The log of readings that came too late to be judged: one line per series per 10 s, with how many were late since the last line. */
import type { Logger } from 'pino';
import type { LateReading } from './engine.ts';

export function lateLogger(log: Logger): (late: LateReading) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (late) => {
    const key = `${late.plant}/${late.meter}/${late.quantity}`;
    const now = Date.now();
    const seen = last.get(key);
    if (seen && now - seen.at < 10_000) {
      seen.suppressed++;
      return;
    }
    log.warn({ ...late, lateSinceLastLine: (seen?.suppressed ?? 0) + 1 }, `late reading for ${key}: event time ${new Date(late.ts).toISOString()} is behind the watermark ${new Date(late.watermark).toISOString()}; not judged by ${late.rules.join(', ')}`);
    last.set(key, { at: now, suppressed: 0 });
  };
}
