/**
 * The tick both servers share: values are published for t = now rounded down to the update interval, so that the
 * OPC UA and Modbus servers (and a test, or a replay) agree on which instant a value belongs to.
 */
export const DEFAULT_UPDATE_INTERVAL_MS = 1_000;

export function tickTime(nowMs: number, intervalMs: number): number {
  return Math.floor(nowMs / intervalMs) * intervalMs;
}

export function checkInterval(intervalMs: number): number {
  if (!Number.isInteger(intervalMs) || intervalMs < 10) throw new RangeError(`update interval must be an integer number of ms >= 10, got ${intervalMs}`);
  return intervalMs;
}
