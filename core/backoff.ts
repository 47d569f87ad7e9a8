/**
 * The one backoff of the project: how long to wait before trying again, for the gateway's reconnections (drivers,
 * publisher, the HJ 212 uplink's station link), the webhooks' deliveries and InfluxDB writes.
 *
 *   step(retry) = min(maxMs, initialMs × 2^(retry - 1))          retry = 1 before the first retry
 *   delay       = step × (1 - jitter + jitter × random())        in [step × (1 - jitter), step]
 *   with Retry-After: min(maxMs, max(delay, Retry-After))        never sooner than the server asked, never past the cap
 *
 * Jitter spreads the retries of many clients (a fleet of gateways, the notifications of an alert storm, ingest's
 * concurrent writes) so that they do not hit a restarted server in lock step: `jitter: 1` is "full jitter" (any wait
 * up to the step), `0.5` "equal jitter" (half the step fixed, half random, so nothing comes back at once), `0` none.
 * The cap also bounds Retry-After, so that a server cannot park a client for a day.
 */
export interface BackoffPolicy {
  /** The step before the first retry, doubled per retry. */
  initialMs: number;
  /** The largest wait, Retry-After included. */
  maxMs: number;
  /** 0..1, the random share of each step (default 0): each delay is in [step × (1 - jitter), step]. */
  jitter?: number;
}

/** How a gateway driver reconnects to its device (OPC UA server, Modbus device) unless its config says otherwise. */
export const DEVICE_RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 10_000, jitter: 0.2 };

/**
 * The wait before retry `retry` (1-based, i.e. after `retry` failures), never less than `retryAfterMs` when the
 * server named one, never more than `policy.maxMs`.
 */
export function backoffDelay(policy: BackoffPolicy, retry: number, random: () => number = Math.random, retryAfterMs?: number): number {
  const step = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(retry, 1) - 1, 30));
  const jitter = policy.jitter ?? 0;
  const delay = Math.round(step * (1 - jitter + jitter * random()));
  return retryAfterMs === undefined ? delay : Math.min(policy.maxMs, Math.max(delay, retryAfterMs));
}

/** The same delays for a loop that keeps its own count: next() after each failure, reset() after a success. */
export class Backoff {
  private retry = 0;

  constructor(
    private readonly policy: BackoffPolicy = DEVICE_RECONNECT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; each call doubles the step up to maxMs. */
  next(retryAfterMs?: number): number {
    this.retry = Math.min(this.retry + 1, 31);
    return backoffDelay(this.policy, this.retry, this.random, retryAfterMs);
  }

  reset(): void {
    this.retry = 0;
  }
}

/** Retry-After as milliseconds from `now`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when absent or unparseable. */
export function parseRetryAfter(header: string | null | undefined, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** HTTP statuses worth retrying: timeouts, throttling and server errors. Other 4xx will not get better. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** A sleep that stop() can cut short: resolves false when cancelled. */
export function cancellableDelay(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A sleep that rejects with the signal's reason when aborted (for callers that turn an abort into their own error). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
