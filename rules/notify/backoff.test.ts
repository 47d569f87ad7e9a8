import { describe, expect, it } from 'vitest';
import { backoffDelay, nextDelay, parseRetryAfter, retryableStatus } from './backoff.ts';

describe('webhook retry timing', () => {
  const policy = { initialDelayMs: 1000, maxDelayMs: 30_000 };

  it('doubles the step per failure up to the cap, with half of it random', () => {
    expect([1, 2, 3, 4].map((a) => backoffDelay(policy, a, () => 0))).toEqual([500, 1000, 2000, 4000]);
    expect([1, 2, 3, 4].map((a) => backoffDelay(policy, a, () => 1))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffDelay(policy, 20, () => 1)).toBe(30_000);
  });

  it('reads Retry-After as seconds or an HTTP date, and never waits past the cap', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:12 GMT', now)).toBe(12_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(nextDelay(policy, 1, 7000, () => 0)).toBe(7000);
    expect(nextDelay(policy, 1, 3_600_000, () => 0)).toBe(30_000);
  });

  it('retries timeouts, throttling and server errors only', () => {
    expect([408, 425, 429, 500, 503].every(retryableStatus)).toBe(true);
    expect([400, 401, 404, 422].some(retryableStatus)).toBe(false);
  });
});
