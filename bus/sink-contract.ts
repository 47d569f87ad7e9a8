/**
 * The contract every sink (bus/sink.ts) passes: run `describeSinkContract(name, makeBed)` from a test file
 * (test/integration/bus/sinks.test.ts registers every sink there: ingest; rules and the HJ 212 uplink add theirs).
 * A bed gives a started-able sink over its real downstream, the n-th valid batch, a way to make the downstream
 * unavailable and available again, and what the downstream holds; the suite looks at nothing else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../test/harness/wait.ts';
import type { Sink, SinkStats } from './sink.ts';

export interface SinkBed<In, S extends SinkStats = SinkStats> {
  /** A new sink (not started) over the bed's downstream; each test takes its own. */
  sink(): Sink<In, S>;
  /** The n-th valid batch (n from 0); distinct batches become distinct data downstream. */
  batch(n: number): In;
  /** Make the downstream unable to take data (server down) / able again. */
  hold(): Promise<void>;
  release(): Promise<void>;
  /** The batches (their n) the downstream holds now, sorted. */
  durable(): Promise<number[]>;
  close(): Promise<void>;
}

export function describeSinkContract<In, S extends SinkStats>(name: string, makeBed: () => Promise<SinkBed<In, S>>): void {
  describe(`sink contract: ${name}`, () => {
    let bed: SinkBed<In, S>;
    /** Batch numbers are never reused across tests: downstream data stays apart. */
    let next = 0;
    const take = (count: number): number[] => Array.from({ length: count }, () => next++);
    const sinks: Sink<In, S>[] = [];
    const open = async (): Promise<Sink<In, S>> => {
      const sink = bed.sink();
      sinks.push(sink);
      await sink.start();
      return sink;
    };
    /** Acks per batch number. */
    const counter = (): { acks: Map<number, number>; ack: (n: number) => () => void } => {
      const acks = new Map<number, number>();
      return { acks, ack: (n) => () => void acks.set(n, (acks.get(n) ?? 0) + 1) };
    };

    beforeAll(async () => {
      bed = await makeBed();
    });
    afterAll(async () => {
      await Promise.all(sinks.map((s) => s.stop()));
      await bed?.close();
    });

    it('makes what is written after start durable, acknowledges each batch exactly once, and flush waits for it', async () => {
      const sink = await open();
      const { acks, ack } = counter();
      const ns = take(5);
      for (const n of ns) await sink.write(bed.batch(n), ack(n));
      await sink.flush();
      expect([...acks.keys()].sort((a, b) => a - b)).toEqual(ns);
      expect([...acks.values()].every((count) => count === 1)).toBe(true);
      const held = await bed.durable();
      expect(ns.every((n) => held.includes(n))).toBe(true);
      expect(sink.stats()).toMatchObject({ receivedMessages: 5, pendingMessages: 0 });
    });

    it('acknowledges nothing while the downstream cannot take it, then acknowledges once it is durable', async () => {
      const sink = await open();
      const { acks, ack } = counter();
      const [n] = take(1) as [number];
      await bed.hold();
      try {
        await sink.write(bed.batch(n), ack(n));
        // long enough for several write attempts and retries: still not durable, so still not acknowledged
        await new Promise((r) => setTimeout(r, 500));
        expect(acks.get(n)).toBeUndefined();
        expect(sink.stats().pendingMessages).toBe(1);
        expect(await bed.durable()).not.toContain(n);
      } finally {
        await bed.release();
      }
      await until('the acknowledgement', () => acks.get(n) === 1);
      expect(await bed.durable()).toContain(n);
      expect(sink.stats().pendingMessages).toBe(0);
    });

    it('stops idempotently (twice at once, then again), making durable what it was given', async () => {
      const sink = await open();
      const { acks, ack } = counter();
      const ns = take(3);
      for (const n of ns) await sink.write(bed.batch(n), ack(n));
      await Promise.all([sink.stop(), sink.stop()]);
      await sink.stop();
      const acked = new Map(acks);
      expect([...acked.keys()].sort((a, b) => a - b)).toEqual(ns);
      const held = await bed.durable();
      expect(ns.every((n) => held.includes(n))).toBe(true);
      // no acknowledgement after stop resolved
      await new Promise((r) => setTimeout(r, 100));
      expect(acks).toEqual(acked);
    });

    it('reports stats as a fresh snapshot with the counts every sink keeps', async () => {
      const sink = await open();
      const before = sink.stats();
      expect(before).toMatchObject({ receivedMessages: 0, pendingMessages: 0 });
      const [n] = take(1) as [number];
      await sink.write(bed.batch(n), () => undefined);
      await sink.flush();
      expect(sink.stats().receivedMessages).toBe(1);
      expect(before.receivedMessages).toBe(0);
      expect(typeof sink.name).toBe('string');
    });
  });
}
