import { describe, expect, it } from 'vitest';
import { Cadence, staleness, StreamLiveness } from './liveness.js';

const T0 = 1_700_000_000_000;

describe('a meter\'s cadence and staleness', () => {
  it('learns the interval as the median gap, so that one late or doubled reading does not move it', () => {
    const c = new Cadence();
    c.note(T0);
    c.note(T0 + 1000);
    expect(c.intervalMs).toBeNull();
    for (const dt of [2000, 3000, 3100, 5000, 6000, 7000]) c.note(T0 + dt);
    expect(c.intervalMs).toBe(1000);
    // repeated and older timestamps are not gaps
    c.note(T0 + 7000);
    c.note(T0 + 500);
    expect(c.intervalMs).toBe(1000);
  });

  it('marks a reading stale once nothing newer arrived for three of its meter\'s intervals, by the page\'s clock', () => {
    // the reading's own clock is 40 s behind the page's: it arrived 3 s ago, not 43
    expect(staleness(T0 - 40_000, T0, 1000, T0 + 3000, 300_000)).toMatchObject({ stale: false, ageMs: 3000 });
    expect(staleness(T0 - 40_000, T0, 1000, T0 + 3001, 300_000)).toMatchObject({ stale: true, ageMs: 3001, limitMs: 3000 });
    expect(staleness(T0, T0, 60_000, T0 + 120_000, 300_000).stale).toBe(false);
  });

  it('falls back to the reading\'s age against a fixed bound while the cadence is unknown or the reading came from history', () => {
    expect(staleness(T0, null, 1000, T0 + 60_000, 300_000)).toMatchObject({ stale: false, ageMs: 60_000 });
    expect(staleness(T0, T0, null, T0 + 60_000, 300_000).stale).toBe(false);
    expect(staleness(T0, null, null, T0 + 300_001, 300_000)).toMatchObject({ stale: true, limitMs: 300_000 });
  });
});

describe('the live indicator of a stream', () => {
  it('is live while every gateway keeps its cadence, and down since the last message after twice the slowest one', () => {
    const s = new StreamLiveness();
    s.reset(T0);
    expect(s.state(T0).state).toBe('connecting');
    s.opened(T0);
    // two gateways: one every second, one every 5 seconds
    for (let t = 0; t <= 20_000; t += 1000) {
      s.message('gw-fast', T0 + t + 30);
      if (t % 5000 === 0) s.message('gw-slow', T0 + t + 60);
      expect(s.state(T0 + t + 100).state).toBe('live');
    }
    expect(s.expectedIntervalMs()).toBe(5000);
    const last = T0 + 20_060;
    expect(s.state(last + 10_000).state).toBe('live');
    expect(s.state(last + 10_001)).toEqual({ state: 'down', since: last, reason: 'silent' });
    // a message brings it back
    s.message('gw-fast', last + 12_000);
    expect(s.state(last + 12_001).state).toBe('live');
  });

  it('is down from the moment the connection drops, and live again once it reopens', () => {
    const s = new StreamLiveness();
    s.reset(T0);
    s.opened(T0);
    s.dropped(T0 + 500);
    s.dropped(T0 + 2500); // a failed reconnect does not move the moment
    expect(s.state(T0 + 3000)).toEqual({ state: 'down', since: T0 + 500, reason: 'connection' });
    s.opened(T0 + 4000);
    expect(s.state(T0 + 4001).state).toBe('live');
  });

  it('follows the server\'s heartbeat on a stream without data, and the server\'s word that it lost the broker', () => {
    const s = new StreamLiveness();
    s.reset(T0);
    s.opened(T0);
    // before the first heartbeat nothing is expected: live
    expect(s.state(T0 + 60_000).state).toBe('live');
    s.heartbeat(15_000, true, T0 + 15_000);
    expect(s.state(T0 + 45_000).state).toBe('live');
    expect(s.state(T0 + 45_001)).toEqual({ state: 'down', since: T0 + 15_000, reason: 'silent' });
    s.heartbeat(15_000, false, T0 + 46_000);
    expect(s.state(T0 + 46_001)).toEqual({ state: 'down', since: T0 + 46_000, reason: 'upstream' });
    s.heartbeat(15_000, true, T0 + 61_000);
    expect(s.state(T0 + 61_001).state).toBe('live');
  });
});
