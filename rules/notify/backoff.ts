/**
 * When to try a failed delivery again: exponential backoff with jitter ("equal jitter": half the step fixed, half
 * random, so retries of many notifications spread out but none comes back immediately), and the server's own
 * Retry-After (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) when it gives one.
 */

export interface BackoffPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
}

/** Delay before attempt `attempt + 1`, after `attempt` failures (attempt >= 1). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const step = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(step / 2 + (step / 2) * random());
}

/** Retry-After as milliseconds from `now`, or undefined when absent or unparseable. */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * The wait before the next attempt: the server's Retry-After when it names one (it knows its own load), else the
 * backoff step; never more than maxDelayMs, so a server cannot park a notification for a day.
 */
export function nextDelay(policy: BackoffPolicy, attempt: number, retryAfterMs: number | undefined, random: () => number = Math.random): number {
  const delay = retryAfterMs ?? backoffDelay(policy, attempt, random);
  return Math.min(policy.maxDelayMs, delay);
}

/** HTTP statuses worth retrying: timeouts, throttling and server errors. Other 4xx will not get better. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}
