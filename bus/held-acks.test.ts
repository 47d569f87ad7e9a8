/**
 * Acks held until a checkpoint covers them: what a checkpointing consumer (the HJ 212 uplink) relies on to
 * acknowledge a message only once its state is on disk, and never one the checkpoint did not cover.
 */
import { describe, expect, it } from 'vitest';
import { HeldAcks } from './held-acks.ts';

describe('HeldAcks', () => {
  it('calls the acks a durable checkpoint covers, oldest first, and none written after its mark', async () => {
    const acks = new HeldAcks();
    const called: number[] = [];
    for (let i = 0; i < 3; i++) acks.hold(() => called.push(i));
    const mark = acks.mark();
    acks.hold(() => called.push(3));
    expect(acks.held).toBe(4);
    await acks.release(mark);
    expect(called).toEqual([0, 1, 2]);
    expect(acks.held).toBe(1);
    await acks.release(acks.mark());
    expect(called).toEqual([0, 1, 2, 3]);
    expect(acks.held).toBe(0);
  });

  it('a checkpoint that ends after a later one releases nothing twice nor out of order', async () => {
    const acks = new HeldAcks();
    const called: number[] = [];
    for (let i = 0; i < 5; i++) acks.hold(() => called.push(i));
    const early = 2;
    await acks.release(acks.mark());
    await acks.release(early);
    expect(called).toEqual([0, 1, 2, 3, 4]);
  });

  it('spreads a large release over turns of the event loop, in order, and settles once all are called', async () => {
    const acks = new HeldAcks();
    const called: number[] = [];
    const count = 10_000;
    for (let i = 0; i < count; i++) acks.hold(() => called.push(i));
    const released = acks.release(acks.mark());
    // the first turn is called at once, the rest later: other work runs in between
    expect(called.length).toBeGreaterThan(0);
    expect(called.length).toBeLessThan(count);
    await released;
    expect(called).toEqual(Array.from({ length: count }, (_, i) => i));
    // marks keep counting after the called acks are dropped
    acks.hold(() => called.push(count));
    await acks.release(acks.mark());
    expect(called.at(-1)).toBe(count);
    expect(acks.held).toBe(0);
  });
});
