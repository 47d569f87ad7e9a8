// Types of liveness.js (plain JS served to the browser as is), for its unit tests.
export const CADENCE_GAPS: number;
export const STALE_INTERVALS: number;
export const SILENT_INTERVALS: number;
export const MIN_STREAM_INTERVAL_MS: number;

export class Cadence {
  constructor(maxGaps?: number);
  note(ts: number): void;
  readonly intervalMs: number | null;
}

export function staleness(readingTs: number, arrivedAt: number | null, intervalMs: number | null, now: number, fallbackMs: number): { stale: boolean; ageMs: number; limitMs: number };

export interface StreamState {
  state: 'connecting' | 'live' | 'down';
  since: number | null;
  reason: null | 'connection' | 'upstream' | 'silent';
}

export class StreamLiveness {
  reset(now: number): void;
  opened(now: number): void;
  dropped(now: number): void;
  message(source: string, now: number): void;
  heartbeat(everyMs: number, brokerConnected: boolean, now: number): void;
  expectedIntervalMs(): number | null;
  state(now: number): StreamState;
}
