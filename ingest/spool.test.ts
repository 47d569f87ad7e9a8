import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskQueue } from '../core/disk-queue.ts';
import { decodeSpoolRecord, encodeSpoolRecord, mergeSources, SpoolReplayer, type SpooledBatch } from './spool.ts';

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
});
