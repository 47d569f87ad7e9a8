/**
 * Acks held until a checkpoint covers them: what a checkpointing consumer (the HJ 212 uplink, the rules engine) relies on to
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
    expect(acks.outstanding).toBe(4);
    await acks.release(mark);
    expect(called).toEqual([0, 1, 2]);
    expect(acks.outstanding).toBe(1);
    await acks.release(acks.mark());
    expect(called).toEqual([0, 1, 2, 3]);
    expect(acks.outstanding).toBe(0);
  });

  it('a checkpoint that ends after a later one releases nothing twice nor out of order', async () => {
    const acks = new HeldAcks();
    const called: number[] = [];
    for (let i = 0; i < 2; i++) acks.hold(() => called.push(i));
    const early = acks.mark();
    for (let i = 2; i < 5; i++) acks.hold(() => called.push(i));
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
    expect(acks.outstanding).toBe(0);
  });
});

/** Resolves after `turns` event-loop turns. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

describe('HeldAcks across connections and event-loop turns', () => {
  it('calls nothing before a checkpoint is released, then exactly what its mark covers, in arrival order', async () => {
    const acks = new HeldAcks();
    const called: number[] = [];
    for (let i = 0; i < 3; i++) acks.hold(() => called.push(i));
    const mark = acks.mark();
    acks.hold(() => called.push(3));
    expect(called).toEqual([]);
    expect(acks.outstanding).toBe(4);
    await acks.release(mark);
    expect(called).toEqual([0, 1, 2]);
    expect(acks.outstanding).toBe(1);
  });

  it('spreads a large release over event-loop turns rather than calling every ack in one', async () => {
    const acks = new HeldAcks();
    let called = 0;
    for (let i = 0; i < 5_000; i++) acks.hold(() => called++);
    const released = acks.release(acks.mark());
    expect(called).toBe(2_000);
    await released;
    expect(called).toBe(5_000);
    expect(acks.outstanding).toBe(0);
  });

  it('forgets the acks of a lost connection, and a mark taken on it releases nothing afterwards', async () => {
    const acks = new HeldAcks();
    const called: string[] = [];
    acks.hold(() => called.push('old'));
    const oldMark = acks.mark();
    acks.connectionLost();
    acks.hold(() => called.push('new'));
    await acks.release(oldMark);
    await turns(2);
    expect(called).toEqual([]);
    expect(acks.outstanding).toBe(1);
    await acks.release(acks.mark());
    expect(called).toEqual(['new']);
  });

  it('keeps counting marks correctly after dropping the acks it has called', async () => {
    const acks = new HeldAcks();
    let called = 0;
    for (let i = 0; i < 5_000; i++) acks.hold(() => called++);
    await acks.release(acks.mark());
    for (let i = 0; i < 10; i++) acks.hold(() => called++);
    const mark = acks.mark();
    acks.hold(() => called++);
    await acks.release(mark);
    expect(called).toBe(5_010);
    expect(acks.outstanding).toBe(1);
  });
});
