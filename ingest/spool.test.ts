import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskQueue } from '../core/disk-queue.ts';
import { until } from '../test/harness/wait.ts';
import { encodeSpoolRecord, mergeSources, readSpoolRecord, SpoolReplayer, type ReplayerOptions, type SpooledBatch } from './spool.ts';

/** A spool record read back as the batch that was spooled (body as text), to compare with what went in. */
async function decodeSpoolRecord(record: Buffer): Promise<SpooledBatch> {
  const { sources, body } = await readSpoolRecord(record);
  return { sources, body: body.toString('utf8') };
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-spool-test-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const batch = (n: number): SpooledBatch => ({ sources: [{ topic: `t/${n}`, lines: 2 }], body: `m v=${n} 1\nm v=${n} 2` });

describe('spool records', () => {
  it('round-trip plain and gzipped, with their sources', async () => {
    const original: SpooledBatch = { sources: [{ topic: 'cleanstream/v1/readings/p/g', lines: 2 }, { topic: 'x', lines: 1 }], body: 'a b=1 1\na b=2 2\nc d="é" 3' };
    for (const level of [0, 1, 9]) expect(await decodeSpoolRecord(await encodeSpoolRecord(original, level))).toEqual(original);
  });

  it('read back for replay as the UTF-8 bytes of the body, plain or gunzipped', async () => {
    const original: SpooledBatch = { sources: [{ topic: 't', lines: 2 }], body: 'a b="é" 1\na b=2 2' };
    for (const level of [0, 1]) {
      const read = await readSpoolRecord(await encodeSpoolRecord(original, level));
      expect(read.sources).toEqual(original.sources);
      expect(Buffer.isBuffer(read.body)).toBe(true);
      expect(read.body.toString('utf8')).toBe(original.body);
    }
  });

  it('refuse a damaged header with a typed error', async () => {
    const record = await encodeSpoolRecord(batch(1));
    record.write('}', 5);
    await expect(decodeSpoolRecord(record)).rejects.toThrow(/header cannot be read/);
  });

  it('merge consecutive sources of one topic and drop empty ones', () => {
    expect(mergeSources([{ topic: 'a', lines: 1 }, { topic: 'a', lines: 2 }, { topic: 'b', lines: 0 }, { topic: 'c', lines: 1 }, { topic: 'a', lines: 1 }])).toEqual([
      { topic: 'a', lines: 3 },
      { topic: 'c', lines: 1 },
      { topic: 'a', lines: 1 },
    ]);
  });
});

describe('SpoolReplayer', () => {
  it('delivers spooled batches oldest first, retries a failed one, and removes each only once delivered', async () => {
    const queue = await DiskQueue.open({ dir: tempDir(), maxBytes: 1 << 20 });
    const delivered: string[] = [];
    let failuresLeft = 2;
    const errors: unknown[] = [];
    const replayer = new SpoolReplayer({
      queue,
      retryPauseMs: 10,
      async deliver(b) {
        if (b.body.includes('v=2') && failuresLeft-- > 0) throw new Error('InfluxDB down');
        delivered.push(b.sources[0]!.topic);
      },
      onUnreadable: async () => undefined,
      onReplayed: () => undefined,
      onError: (err) => errors.push(err),
    });
    for (const n of [1, 2, 3]) await queue.append([await encodeSpoolRecord(batch(n), 1)]);
    replayer.start();
    replayer.notify();
    const deadline = Date.now() + 5000;
    while (queue.length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(delivered).toEqual(['t/1', 't/2', 't/3']);
    expect(errors).toHaveLength(2);
    expect(queue.length).toBe(0);
    await queue.append([await encodeSpoolRecord(batch(4))]);
    replayer.notify();
    while (queue.length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(delivered).toEqual(['t/1', 't/2', 't/3', 't/4']);
    await replayer.stop();
    await queue.close();
  });

  it('keeps the batch in flight in the spool when stopped, for the next start', async () => {
    const dir = tempDir();
    const queue = await DiskQueue.open({ dir, maxBytes: 1 << 20 });
    await queue.append([await encodeSpoolRecord(batch(1))]);
    const replayer = new SpoolReplayer({
      queue,
      retryPauseMs: 10_000,
      deliver: () => Promise.reject(new Error('down')),
      onUnreadable: async () => undefined,
      onReplayed: () => undefined,
      onError: () => undefined,
    });
    replayer.start();
    await new Promise((r) => setTimeout(r, 30));
    await replayer.stop();
    await queue.close();
    const reopened = await DiskQueue.open({ dir, maxBytes: 1 << 20 });
    expect(reopened.length).toBe(1);
    expect(await decodeSpoolRecord((await reopened.read(1))[0]!.data)).toEqual(batch(1));
    await reopened.close();
  });

  describe('with several writes in flight', () => {
    /** A fake InfluxDB whose writes finish when the test says so. */
    function controlledWrites(): { options: Pick<ReplayerOptions, 'deliver'>; started: number[]; inFlight: Map<number, { resolve: () => void; reject: (e: Error) => void }> } {
      const started: number[] = [];
      const inFlight = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
      return {
        started,
        inFlight,
        options: {
          deliver(b, signal) {
            const n = Number(/v=(\d+)/.exec(b.body.toString())![1]);
            started.push(n);
            return new Promise<void>((resolve, reject) => {
              inFlight.set(n, { resolve: () => (inFlight.delete(n), resolve()), reject: (e) => (inFlight.delete(n), reject(e)) });
              signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
            });
          },
        },
      };
    }
    const waitFor = (what: string, condition: () => boolean): Promise<void> => until(what, condition, 5000, 5);

    it('starts writes in spool order, at most 2 × concurrency records past the oldest unwritten, and removes only the written prefix', async () => {
      const queue = await DiskQueue.open({ dir: tempDir(), maxBytes: 1 << 20 });
      for (let n = 1; n <= 8; n++) await queue.append([await encodeSpoolRecord(batch(n), n % 2)]);
      const writes = controlledWrites();
      const replayed: string[] = [];
      const replayer = new SpoolReplayer({ queue, retryPauseMs: 10, concurrency: 3, ...writes.options, onUnreadable: async () => undefined, onReplayed: (sources) => replayed.push(sources[0]!.topic), onError: () => undefined });
      replayer.start();
      await waitFor('three writes in flight', () => writes.inFlight.size === 3);
      expect(writes.started).toEqual([1, 2, 3]);
      expect(replayer.writesInFlight).toBe(3);

      // Newer batches finishing first free their write slots but do not leave the spool before batch 1.
      writes.inFlight.get(3)!.resolve();
      writes.inFlight.get(2)!.resolve();
      await waitFor('two more started', () => writes.started.length === 5);
      expect(writes.started).toEqual([1, 2, 3, 4, 5]);
      writes.inFlight.get(4)!.resolve();
      writes.inFlight.get(5)!.resolve();
      await waitFor('batch 6 started', () => writes.started.length === 6);
      // Six handed out and batch 1 still unwritten: 7 waits although only two writes are in flight.
      await new Promise((r) => setTimeout(r, 30));
      expect(writes.started).toEqual([1, 2, 3, 4, 5, 6]);
      expect(writes.inFlight.size).toBe(2);
      expect(queue.length).toBe(8);
      expect(replayed).toEqual([]);

      writes.inFlight.get(1)!.resolve();
      await waitFor('the written prefix removed and the rest started', () => queue.length === 3 && writes.started.length === 8);
      expect(replayed).toEqual(['t/1', 't/2', 't/3', 't/4', 't/5']);
      for (const n of [6, 7, 8]) writes.inFlight.get(n)!.resolve();
      await waitFor('the spool empty', () => queue.length === 0 && replayed.length === 8);
      expect(writes.started).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(replayed).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => `t/${n}`));
      expect(replayer.peakWritesInFlight).toBe(3);
      await replayer.stop();
      await queue.close();
    });

    it('retries a failed batch in its place while the ones behind it wait in the window, losing and reordering nothing', async () => {
      const queue = await DiskQueue.open({ dir: tempDir(), maxBytes: 1 << 20 });
      for (let n = 1; n <= 6; n++) await queue.append([await encodeSpoolRecord(batch(n))]);
      const writes = controlledWrites();
      const replayed: string[] = [];
      const errors: unknown[] = [];
      const replayer = new SpoolReplayer({ queue, retryPauseMs: 20, concurrency: 2, ...writes.options, onUnreadable: async () => undefined, onReplayed: (sources) => replayed.push(sources[0]!.topic), onError: (e) => errors.push(e) });
      replayer.start();
      await waitFor('two writes in flight', () => writes.inFlight.size === 2);
      writes.inFlight.get(1)!.reject(new Error('InfluxDB answered 503'));
      writes.inFlight.get(2)!.resolve();
      await waitFor('batch 1 tried again', () => writes.started.filter((n) => n === 1).length === 2);
      expect(errors).toHaveLength(1);
      expect(queue.length).toBe(6);
      expect(replayed).toEqual([]);
      await waitFor('batch 1 in flight', () => writes.inFlight.has(1));
      writes.inFlight.get(1)!.resolve();
      for (let n = 3; n <= 6; n++) {
        await waitFor(`batch ${n} in flight`, () => writes.inFlight.has(n));
        writes.inFlight.get(n)!.resolve();
      }
      await waitFor('the spool empty', () => queue.length === 0 && replayed.length === 6);
      expect([...new Set(writes.started)]).toEqual([1, 2, 3, 4, 5, 6]);
      expect(replayed).toEqual([1, 2, 3, 4, 5, 6].map((n) => `t/${n}`));
      await replayer.stop();
      await queue.close();
    });

    it('after a stop (or crash) with newer batches written and an older one not, keeps everything from the unwritten one on', async () => {
      const dir = tempDir();
      const queue = await DiskQueue.open({ dir, maxBytes: 1 << 20 });
      for (let n = 1; n <= 5; n++) await queue.append([await encodeSpoolRecord(batch(n))]);
      const writes = controlledWrites();
      const replayer = new SpoolReplayer({ queue, retryPauseMs: 10, concurrency: 3, ...writes.options, onUnreadable: async () => undefined, onReplayed: () => undefined, onError: () => undefined });
      replayer.start();
      await waitFor('three writes in flight', () => writes.inFlight.size === 3);
      writes.inFlight.get(1)!.resolve();
      await waitFor('batch 4 started', () => writes.inFlight.has(4));
      writes.inFlight.get(3)!.resolve();
      writes.inFlight.get(4)!.resolve();
      await new Promise((r) => setTimeout(r, 30));
      await replayer.stop(); // batch 2 still in flight: aborted
      await queue.close();
      const reopened = await DiskQueue.open({ dir, maxBytes: 1 << 20 });
      const left = await Promise.all((await reopened.read(10)).map(async (r) => (await decodeSpoolRecord(r.data)).sources[0]!.topic));
      expect(left).toEqual(['t/2', 't/3', 't/4', 't/5']);
      await reopened.close();
    });
  });
});
