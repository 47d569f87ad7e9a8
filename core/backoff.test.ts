import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay, cancellableDelay, parseRetryAfter, retryableStatus, sleep } from './backoff.ts';

describe('backoff', () => {
  it('doubles from the initial delay up to the cap, and starts over after reset (gateway reconnections)', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    expect(Array.from({ length: 6 }, () => backoff.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    backoff.reset();
    expect(backoff.next()).toBe(100);
  });

  it('shortens delays by at most the jitter fraction', () => {
    expect(new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.2 }, () => 0).next()).toBe(800);
    expect(new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.2 }, () => 1).next()).toBe(1000);
  });

  it('with equal jitter keeps half of each step fixed and the other half random (webhooks)', () => {
    const policy = { initialMs: 1000, maxMs: 30_000, jitter: 0.5 };
    expect([1, 2, 3, 4].map((a) => backoffDelay(policy, a, () => 0))).toEqual([500, 1000, 2000, 4000]);
    expect([1, 2, 3, 4].map((a) => backoffDelay(policy, a, () => 1))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffDelay(policy, 20, () => 1)).toBe(30_000);
  });

  it('grows exponentially under full jitter, is capped, and never undercuts Retry-After (InfluxDB writes)', () => {
    const policy = { initialMs: 100, maxMs: 10_000, jitter: 1 };
    expect([1, 2, 3, 4].map((n) => backoffDelay(policy, n, () => 1))).toEqual([100, 200, 400, 800]);
    expect(backoffDelay(policy, 20, () => 1)).toBe(10_000);
    expect(backoffDelay(policy, 3, () => 0.5)).toBe(200);
    expect(backoffDelay(policy, 1, () => 0.1, 3000)).toBe(3000);
    expect(backoffDelay(policy, 1, () => 0.1, 60_000)).toBe(10_000);
  });

  it('waits what Retry-After asks but never past the cap, so a server cannot park a client for a day', () => {
    const policy = { initialMs: 1000, maxMs: 30_000, jitter: 0.5 };
    expect(backoffDelay(policy, 1, () => 0, 7000)).toBe(7000);
    expect(backoffDelay(policy, 1, () => 0, 3_600_000)).toBe(30_000);
    expect(new Backoff(policy, () => 0).next(7000)).toBe(7000);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:12 GMT', now)).toBe(12_000);
    expect(parseRetryAfter('Thu, 01 Jan 2025 00:00:12 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });

  it('retries timeouts, throttling and server errors only', () => {
    expect([408, 425, 429, 500, 503].every(retryableStatus)).toBe(true);
    expect([400, 401, 404, 422].some(retryableStatus)).toBe(false);
  });

  it('lets stop() cut a delay short', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const waiting = cancellableDelay(10_000, controller.signal);
    controller.abort();
    expect(await waiting).toBe(false);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('sleep() rejects with the abort reason', async () => {
    const controller = new AbortController();
    const waiting = sleep(10_000, controller.signal);
    controller.abort(new Error('stopping'));
    await expect(waiting).rejects.toThrow('stopping');
  });
});
