import { describe, expect, it } from 'vitest';
import { WriteBatcher, type BatcherOptions } from './batcher.ts';

class Refused extends Error {}

interface Harness {
  batcher: WriteBatcher<string>;
  bodies: string[];
  written: string[][];
  rejected: string[][];
  errors: unknown[];
  /** Make the next writes fail (with the given errors, in order) before they succeed. */
  failures: Error[];
  /** Hold every write until released. */
  gate: { hold: boolean; release: () => void };
}

function harness(options: Partial<BatcherOptions<string>> = {}): Harness {
  const h = { bodies: [], written: [], rejected: [], errors: [], failures: [], gate: { hold: false, release: () => undefined } } as Omit<Harness, 'batcher'>;
  const batcher = new WriteBatcher<string>({
    maxLines: 3,
    maxDelayMs: 40,
    highWaterLines: 6,
    retryPauseMs: 10,
    async write(body) {
      h.bodies.push(body);
      if (h.gate.hold) await new Promise<void>((resolve) => (h.gate.release = resolve));
      const failure = h.failures.shift();
      if (failure) throw failure;
    },
    isRejection: (err) => err instanceof Refused,
    onWritten: (tickets) => h.written.push(tickets),
    onRejected: (tickets) => h.rejected.push(tickets),
    onWriteError: (err) => h.errors.push(err),
    ...options,
  });
  return Object.assign(h, { batcher });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('WriteBatcher', () => {
  it('writes as soon as maxLines lines are buffered, without waiting for the timer', async () => {
    const h = harness({ maxDelayMs: 60_000 });
    h.batcher.add('a1\na2', 2, 'A');
    h.batcher.add('b1', 1, 'B');
    await sleep(5);
    expect(h.bodies).toEqual(['a1\na2\nb1']);
    expect(h.written).toEqual([['A', 'B']]);
  });

  it('keeps messages whole: a batch may exceed maxLines by part of one message', async () => {
    const h = harness({ maxDelayMs: 60_000 });
    h.batcher.add('a1\na2', 2, 'A');
    h.batcher.add('b1\nb2\nb3', 3, 'B');
    await sleep(5);
    expect(h.bodies).toEqual(['a1\na2\nb1\nb2\nb3']);
  });

  it('writes a partial batch once its first line has waited maxDelayMs', async () => {
    const h = harness();
    h.batcher.add('a1', 1, 'A');
    await sleep(10);
    expect(h.bodies).toEqual([]);
    await h.batcher.flush(); // also proves flush writes a partial batch at once
    expect(h.bodies).toEqual(['a1']);
    const addedAt = Date.now();
    h.batcher.add('b1', 1, 'B');
    await sleep(10);
    expect(h.bodies).toEqual(['a1']);
    const deadline = Date.now() + 2000;
    while (h.bodies.length < 2 && Date.now() < deadline) await sleep(5);
    expect(h.bodies).toEqual(['a1', 'b1']);
    expect(Date.now() - addedAt).toBeGreaterThanOrEqual(35);
  });

  it('writes batches one at a time and in order, and flush waits for all of them', async () => {
    const h = harness();
    h.gate.hold = true;
    for (let i = 0; i < 4; i++) h.batcher.add(`l${i}a\nl${i}b\nl${i}c`, 3, `M${i}`);
    await sleep(5);
    expect(h.bodies).toHaveLength(1); // the rest wait for the first write
    expect(h.batcher.pendingLines).toBe(12);
    expect(h.batcher.overHighWater).toBe(true);
    const flushed = h.batcher.flush();
    for (let i = 0; i < 4; i++) {
      h.gate.release();
      await sleep(2);
    }
    await flushed;
    expect(h.written).toEqual([['M0'], ['M1'], ['M2'], ['M3']]);
    expect(h.bodies[3]).toBe('l3a\nl3b\nl3c');
    expect(h.batcher.pendingLines).toBe(0);
    expect(h.batcher.overHighWater).toBe(false);
  });

  it('keeps retrying a batch after failures and reports each one', async () => {
    const h = harness();
    h.failures.push(new Error('503'), new Error('ECONNREFUSED'));
    h.batcher.add('a1', 1, 'A');
    await h.batcher.flush();
    expect(h.errors).toHaveLength(2);
    expect(h.bodies).toEqual(['a1', 'a1', 'a1']);
    expect(h.written).toEqual([['A']]);
  });

  it('hands a refused batch to onRejected without retrying, then goes on', async () => {
    const h = harness();
    h.failures.push(new Refused('400'));
    h.batcher.add('bad', 1, 'A');
    await h.batcher.flush();
    h.batcher.add('good', 1, 'B');
    await h.batcher.flush();
    expect(h.rejected).toEqual([['A']]);
    expect(h.written).toEqual([['B']]);
    expect(h.bodies).toEqual(['bad', 'good']);
  });

  it('returns tickets of entries without lines in order, without writing an empty body', async () => {
    const h = harness();
    h.batcher.add('', 0, 'EMPTY');
    await h.batcher.flush();
    h.batcher.add('a1', 1, 'A');
    h.batcher.add('', 0, 'EMPTY2');
    await h.batcher.flush();
    expect(h.bodies).toEqual(['a1']);
    expect(h.written).toEqual([['EMPTY'], ['A', 'EMPTY2']]);
  });

  it('close writes what is pending, or gives up after the timeout without handing back unwritten tickets', async () => {
    const ok = harness();
    ok.batcher.add('a1', 1, 'A');
    expect(await ok.batcher.close(1000)).toBe(true);
    expect(ok.written).toEqual([['A']]);
    expect(() => ok.batcher.add('late', 1, 'L')).toThrow(/closed/);

    const stuck = harness();
    stuck.failures.push(...Array.from({ length: 1000 }, () => new Error('down')));
    stuck.batcher.add('a1', 1, 'A');
    expect(await stuck.batcher.close(50)).toBe(false);
    expect(stuck.written).toEqual([]);
    const attempts = stuck.bodies.length;
    await sleep(30);
    expect(stuck.bodies.length).toBe(attempts); // no more retries after giving up
  });

  it('with concurrency N, writes up to N batches at once; earlierSettled waits for every earlier batch, flush for all', async () => {
    const releases: (() => void)[] = [];
    const order: string[] = [];
    const batcher = new WriteBatcher<string>({
      maxLines: 1,
      maxDelayMs: 60_000,
      highWaterLines: 100,
      concurrency: 2,
      async write(body, _signal, _tickets, turn) {
        await new Promise<void>((resolve) => releases.push(resolve));
        if (body === 'c') {
          await turn.earlierSettled();
          order.push(`c after earlier (turn ${turn.id})`);
        }
      },
      isRejection: () => false,
      onWritten: (tickets) => order.push(tickets.join()),
      onRejected: () => undefined,
      onWriteError: () => undefined,
    });
    for (const line of ['a', 'b', 'c']) batcher.add(line, 1, line.toUpperCase());
    await sleep(5);
    expect(releases).toHaveLength(2); // a and b in flight, c queued
    expect(batcher.writesInFlight).toBe(2);
    releases[1]!(); // b finishes first
    await sleep(5);
    expect(order).toEqual(['B']);
    expect(releases).toHaveLength(3); // c started in b's slot
    const flushed = batcher.flush();
    releases[2]!(); // c is written but waits for a before it settles
    await sleep(5);
    expect(order).toEqual(['B']);
    releases[0]!();
    await flushed;
    expect(order).toEqual(['B', 'A', 'c after earlier (turn 3)', 'C']);
    expect(batcher.pendingLines).toBe(0);
  });
});
