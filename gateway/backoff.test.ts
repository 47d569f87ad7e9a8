import { describe, expect, it } from 'vitest';
import { Backoff, cancellableDelay } from './backoff.ts';

describe('reconnection backoff', () => {
  it('doubles from the initial delay up to the cap, and starts over after reset', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    expect(Array.from({ length: 6 }, () => backoff.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    backoff.reset();
    expect(backoff.next()).toBe(100);
  });

  it('shortens delays by at most the jitter fraction', () => {
    const backoff = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.2 }, () => 1);
    expect(backoff.next()).toBe(800);
  });

  it('lets stop() cut a delay short', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const waiting = cancellableDelay(10_000, controller.signal);
    controller.abort();
    expect(await waiting).toBe(false);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
