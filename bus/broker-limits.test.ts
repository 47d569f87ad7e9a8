import { describe, expect, it } from 'vitest';
import { ConnectionRateLimiter, PacketSizeGuard } from './broker-limits.ts';

describe('packet size guard', () => {
  it('judges each packet by the length in its fixed header, across chunk boundaries, and skips bodies', () => {
    const guard = new PacketSizeGuard(() => 200);
    // PINGREQ (2 bytes), a PUBLISH of 1 + 1 + 127 bytes, a PUBLISH of 1 + 2 + 200 bytes
    const stream = Buffer.concat([Buffer.from([0xc0, 0x00]), Buffer.from([0x30, 127]), Buffer.alloc(127, 0xc0), Buffer.from([0x30, 0xc8, 0x01]), Buffer.alloc(10)]);
    const sizes: (number | undefined)[] = [];
    for (let i = 0; i < stream.length; i += 3) sizes.push(guard.feed(stream.subarray(i, i + 3)));
    expect(sizes.filter((s) => s !== undefined)).toEqual([203]);
  });

  it('applies the limit of the moment (before and after login)', () => {
    let limit = 10;
    const guard = new PacketSizeGuard(() => limit);
    expect(guard.feed(Buffer.concat([Buffer.from([0x10, 8]), Buffer.alloc(8)]))).toBeUndefined();
    limit = 1000;
    expect(guard.feed(Buffer.from([0x30, 0xe8, 0x07]))).toBe(1003);
  });

  it('treats a fifth length byte as oversize', () => {
    expect(new PacketSizeGuard(() => Number.MAX_SAFE_INTEGER).feed(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff]))).toBeGreaterThan(268_435_455);
  });
});

describe('connection rate limiter', () => {
  it('allows a burst per address, then refills at the given rate', () => {
    let now = 0;
    const limiter = new ConnectionRateLimiter(2, 1, () => now);
    expect([limiter.allow('a'), limiter.allow('a'), limiter.allow('a'), limiter.allow('b')]).toEqual([true, true, false, true]);
    now = 1000;
    expect([limiter.allow('a'), limiter.allow('a')]).toEqual([true, false]);
  });
});
