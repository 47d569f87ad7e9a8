import { describe, expect, it } from 'vitest';
import { HeldAcks } from './held-acks.ts';

/** Resolves after `turns` event-loop turns. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

describe('acks held until a checkpoint covers them', () => {
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
