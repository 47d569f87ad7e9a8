/**
 * The contract of the disk queue (core/disk-queue.ts) as a vitest suite, run with every kind of record the project
 * keeps in one: raw records, the gateway's store-and-forward records (gateway/spool-record.ts) and ingest's spool
 * batches (ingest/spool.ts, plain and gzipped). Whatever is queued, what the queue's comments promise holds: first
 * in, first out across segments; an append that resolved survives a reopen, an ack too; a full queue refuses a whole
 * append with DISK_QUEUE_FULL and loses nothing; a torn or damaged last record is dropped on recovery and every
 * whole one before it kept; read() removes nothing, ack(id) removes up to id, rewind() hands out again from the
 * oldest unacked record. Run by core/disk-queue-contract.test.ts.
 */
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskQueue, DiskQueueFullError, type DiskQueueOptions, type QueuedRecord } from './disk-queue.ts';

export interface DiskQueueSubject<T> {
  /** What is queued, for the suite's name. */
  name: string;
  /** The i-th item of a test stream (i from 1): distinct for every i, of sizes that vary with i. */
  item(i: number): T;
  /** How the owner turns an item into a queue record. */
  encode(item: T): Buffer | Promise<Buffer>;
  /** How the owner reads a record back, as a value comparable with `item(i)` by deep equality. */
  decode(record: Buffer): T | Promise<T>;
}

const segmentFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => f.startsWith('segment-') && f.endsWith('.log'))
    .sort();

export function diskQueueContract<T>(subject: DiskQueueSubject<T>): void {
  const dirs: string[] = [];
  const open: DiskQueue[] = [];
  afterEach(async () => {
    await Promise.allSettled(open.splice(0).map((q) => q.close()));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  const tempDir = (): string => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cs-queue-contract-'));
    dirs.push(dir);
    return dir;
  };
  const openQueue = async (options: DiskQueueOptions): Promise<DiskQueue> => {
    const q = await DiskQueue.open(options);
    open.push(q);
    return q;
  };
  const close = async (q: DiskQueue): Promise<void> => {
    open.splice(open.indexOf(q), 1);
    await q.close();
  };
  const items = (from: number, to: number): T[] => Array.from({ length: to - from + 1 }, (_, k) => subject.item(from + k));
  const append = async (q: DiskQueue, from: number, to: number): Promise<void> => q.append(await Promise.all(items(from, to).map((x) => subject.encode(x))));
  const decoded = async (records: QueuedRecord[]): Promise<{ id: number; item: T }[]> => Promise.all(records.map(async (r) => ({ id: r.id, item: await subject.decode(r.data) })));
  const expected = (from: number, to: number): { id: number; item: T }[] => items(from, to).map((item, k) => ({ id: from + k, item }));

  describe(`disk queue contract: ${subject.name}`, () => {
    it('hands records out first in, first out, with consecutive ids, across segment files; read() removes nothing', async () => {
      const dir = tempDir();
      const q = await openQueue({ dir, maxBytes: 1e7, segmentBytes: 512 });
      for (let i = 1; i <= 30; i += 5) await append(q, i, i + 4);
      expect(segmentFiles(dir).length).toBeGreaterThan(2);
      expect(await decoded(await q.read(7))).toEqual(expected(1, 7));
      expect(await decoded(await q.read(100))).toEqual(expected(8, 30));
      expect(await q.read(100)).toEqual([]);
      expect(q.length).toBe(30);
      expect(q.lastId).toBe(30);
    });

    it('removes up to the acked id, hands out again from the oldest unacked after rewind(), and deletes wholly acked segments', async () => {
      const dir = tempDir();
      const q = await openQueue({ dir, maxBytes: 1e7, segmentBytes: 512 });
      await append(q, 1, 30);
      for (let i = 31; i <= 40; i++) await append(q, i, i);
      const segmentsBefore = segmentFiles(dir).length;
      await q.read(40);
      await q.ack(12);
      expect(q.length).toBe(28);
      q.rewind();
      expect(await decoded(await q.read(100))).toEqual(expected(13, 40));
      await q.ack(35);
      expect(segmentFiles(dir).length).toBeLessThan(segmentsBefore);
      await q.ack(40);
      expect(q.length).toBe(0);
      expect(q.bytes).toBe(0);
      expect(segmentFiles(dir)).toEqual([]);
      q.rewind();
      expect(await q.read(100)).toEqual([]);
    });

    it('keeps every resolved append and every ack across a reopen, ids continuing', async () => {
      const dir = tempDir();
      const options = { dir, maxBytes: 1e7, segmentBytes: 512 };
      const q = await openQueue(options);
      await append(q, 1, 25);
      await q.read(25); // handed out but not acked: must come back
      await q.ack(10);
      await close(q);
      const again = await openQueue(options);
      expect(again.length).toBe(15);
      expect(await decoded(await again.read(100))).toEqual(expected(11, 25));
      await append(again, 26, 27);
      expect(await decoded(await again.read(100))).toEqual(expected(26, 27));
      await again.ack(27);
      await close(again);
      const third = await openQueue(options);
      expect(third.length).toBe(0);
      expect(await third.read(100)).toEqual([]);
      await append(third, 28, 28);
      expect(await decoded(await third.read(100))).toEqual(expected(28, 28));
    });

    it('refuses a whole append beyond maxBytes with DISK_QUEUE_FULL, loses nothing queued, and takes more once acked', async () => {
      const dir = tempDir();
      const sizes = await Promise.all(items(1, 4).map(async (x) => (await subject.encode(x)).length + 8));
      // room for records 1-3, not for 4 too; one record per segment, so an ack frees its bytes
      const maxBytes = sizes[0]! + sizes[1]! + sizes[2]! + Math.floor(sizes[3]! / 2);
      const q = await openQueue({ dir, maxBytes, segmentBytes: 1 });
      await append(q, 1, 2);
      await append(q, 3, 3);
      const refusal = await append(q, 4, 5).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refusal).toBeInstanceOf(DiskQueueFullError);
      expect((refusal as DiskQueueFullError).code).toBe('DISK_QUEUE_FULL');
      expect(q.length).toBe(3);
      expect(q.lastId).toBe(3);
      expect(await decoded(await q.read(100))).toEqual(expected(1, 3));
      await q.ack(2);
      await append(q, 4, 4);
      q.rewind();
      expect(await decoded(await q.read(100))).toEqual(expected(3, 4));
    });

    it('drops a torn last record on recovery, keeps every whole one, and appends after them', async () => {
      const dir = tempDir();
      const options = { dir, maxBytes: 1e7 };
      const q = await openQueue(options);
      await append(q, 1, 3);
      await close(q);
      const last = path.join(dir, segmentFiles(dir).at(-1)!);
      // a crash in the middle of writing record 4: its header promises 1000 bytes, 10 arrived
      const torn = Buffer.alloc(18);
      torn.writeUInt32LE(1000, 0);
      appendFileSync(last, torn);
      const again = await openQueue(options);
      expect(again.length).toBe(3);
      expect(await decoded(await again.read(100))).toEqual(expected(1, 3));
      await append(again, 4, 4);
      expect(await decoded(await again.read(100))).toEqual(expected(4, 4));
    });

    it('drops a last record whose bytes no longer match their CRC, and keeps the ones before it', async () => {
      const dir = tempDir();
      const options = { dir, maxBytes: 1e7 };
      const q = await openQueue(options);
      await append(q, 1, 3);
      await close(q);
      const last = path.join(dir, segmentFiles(dir).at(-1)!);
      const bytes = readFileSync(last);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
      writeFileSync(last, bytes);
      const again = await openQueue(options);
      expect(await decoded(await again.read(100))).toEqual(expected(1, 2));
      await append(again, 3, 3);
      expect(await decoded(await again.read(100))).toEqual(expected(3, 3));
    });
  });
}
