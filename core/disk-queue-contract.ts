/**
 * The contract of the disk queue (core/disk-queue.ts) as a vitest suite, run with every kind of record the project
 * keeps in one: raw records, the gateway's store-and-forward records (gateway/spool-record.ts) and ingest's spool
 * batches (ingest/spool.ts, plain and gzipped). Whatever is queued, what the queue's comments promise holds: first
 * in, first out across segments; an append that resolved survives a reopen, an ack too; a full queue refuses a whole
 * append with DISK_QUEUE_FULL and loses nothing; a torn or damaged last record is dropped on recovery and every
 * whole one before it kept (a record whose bytes do not check with whole records after it is damage, not a torn
 * append: those after it are kept); damage in a segment other than the last (bytes flipped, a file cut short) does not stop
 * the queue from opening: every whole record before and after it is delivered with its own id, the damaged bytes are
 * moved aside and the lost ids reported in `recovery`; read() removes nothing, ack(id) removes up to id, rewind()
 * hands out again from the oldest unacked record. Run by core/disk-queue-contract.test.ts.
 */
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
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

/** Where each record of a segment file starts, and its first id (from the file's name). */
const recordsOf = (file: string): { firstId: number; offsets: number[]; lengths: number[] } => {
  const bytes = readFileSync(file);
  const offsets: number[] = [];
  const lengths: number[] = [];
  for (let at = 0; at + 8 <= bytes.length; at += 8 + bytes.readUInt32LE(at)) {
    offsets.push(at);
    lengths.push(bytes.readUInt32LE(at));
  }
  return { firstId: Number(path.basename(file).slice('segment-'.length, -'.log'.length)), offsets, lengths };
};

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
  /** A queue written with records from..to and closed, as a process leaves it on disk; the options reopen it. */
  const writtenAndClosed = async (from: number, to: number): Promise<{ dir: string; options: DiskQueueOptions }> => {
    const dir = tempDir();
    const options = { dir, maxBytes: 1e7 };
    const q = await openQueue(options);
    await append(q, from, to);
    await close(q);
    return { dir, options };
  };

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
      const { dir, options } = await writtenAndClosed(1, 3);
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
      const { dir, options } = await writtenAndClosed(1, 3);
      const last = path.join(dir, segmentFiles(dir).at(-1)!);
      const bytes = readFileSync(last);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
      writeFileSync(last, bytes);
      const again = await openQueue(options);
      expect(await decoded(await again.read(100))).toEqual(expected(1, 2));
      await append(again, 3, 3);
      expect(await decoded(await again.read(100))).toEqual(expected(3, 3));
    });

    it('keeps the records after a damaged record inside the last segment (not a torn append), and reports the one lost', async () => {
      const { dir, options } = await writtenAndClosed(1, 6);
      const file = path.join(dir, segmentFiles(dir).at(-1)!);
      const { offsets, lengths } = recordsOf(file);
      const bytes = readFileSync(file);
      const at = offsets[2]! + 8 + Math.floor(lengths[2]! / 2); // inside record 3
      bytes[at] = bytes[at]! ^ 0x5a;
      writeFileSync(file, bytes);
      const again = await openQueue(options);
      expect(again.recovery).toHaveLength(1);
      expect(again.recovery[0]).toMatchObject({ code: 'DISK_QUEUE_CORRUPT', file, bytes: { from: offsets[2], to: offsets[3] }, ids: { from: 3, to: 3 }, recordsLost: 1 });
      expect(await decoded(await again.read(100))).toEqual([...expected(1, 2), ...expected(4, 6)]);
      await append(again, 7, 7);
      expect(await decoded(await again.read(100))).toEqual(expected(7, 7));
    });

    describe('damage in a segment other than the last (a disk error, not a crash)', () => {
      /** 40 records appended one by one in segments of about 2 KiB; returns the second segment (a middle one). */
      const queueWithMiddleSegment = async (dir: string): Promise<{ file: string; firstId: number; offsets: number[]; lengths: number[] }> => {
        const q = await openQueue({ dir, maxBytes: 1e7, segmentBytes: 2048 });
        for (let i = 1; i <= 40; i++) await append(q, i, i);
        await close(q);
        const files = segmentFiles(dir);
        expect(files.length).toBeGreaterThanOrEqual(3);
        const file = path.join(dir, files[1]!);
        const middle = { file, ...recordsOf(file) };
        expect(middle.offsets.length).toBeGreaterThanOrEqual(3);
        return middle;
      };
      const allBut = (from: number, to: number): { id: number; item: T }[] => expected(1, 40).filter((r) => r.id < from || r.id > to);

      it('opens when bytes of a record are flipped, delivers every other record with its id, moves the damaged one aside and reports it', async () => {
        const dir = tempDir();
        const middle = await queueWithMiddleSegment(dir);
        const k = 1; // the second record of the segment: whole records before and after it
        const damagedId = middle.firstId + k;
        const bytes = readFileSync(middle.file);
        const at = middle.offsets[k]! + 8 + Math.floor(middle.lengths[k]! / 2);
        bytes[at] = bytes[at]! ^ 0x5a;
        writeFileSync(middle.file, bytes);

        const again = await openQueue({ dir, maxBytes: 1e7, segmentBytes: 2048 });
        expect(again.recovery).toHaveLength(1);
        const damage = again.recovery[0]!;
        expect(damage).toMatchObject({
          code: 'DISK_QUEUE_CORRUPT',
          file: middle.file,
          bytes: { from: middle.offsets[k], to: middle.offsets[k + 1], movedTo: `${middle.file}.corrupt` },
          ids: { from: damagedId, to: damagedId },
          recordsLost: 1,
        });
        expect(damage.message).toContain(middle.file);
        expect(damage.message).toContain(`bytes ${middle.offsets[k]}-${middle.offsets[k + 1]}`);
        expect(readFileSync(`${middle.file}.corrupt`).length).toBe(8 + middle.lengths[k]!);
        expect(again.length).toBe(39);
        expect(await decoded(await again.read(100))).toEqual(allBut(damagedId, damagedId));
        // ids go on after the last one, and acking past the lost id empties the queue
        await append(again, 41, 41);
        expect(await decoded(await again.read(100))).toEqual(expected(41, 41));
        again.rewind();
        expect((await again.read(100)).map((r) => r.id)).toEqual(allBut(damagedId, damagedId).map((r) => r.id).concat(41));
        await again.ack(damagedId - 1);
        again.rewind();
        expect((await again.read(1))[0]!.id).toBe(damagedId + 1);
        await again.ack(41);
        expect(again.length).toBe(0);
        expect(segmentFiles(dir)).toEqual([]);
      });

      it('opens when a middle segment is cut short in a record, delivers every record before the cut and after the segment, and counts the ids lost', async () => {
        const dir = tempDir();
        const middle = await queueWithMiddleSegment(dir);
        const k = 1;
        truncateSync(middle.file, middle.offsets[k]! + 5);
        const lastId = middle.firstId + middle.offsets.length - 1;

        const again = await openQueue({ dir, maxBytes: 1e7, segmentBytes: 2048 });
        expect(again.recovery).toHaveLength(1);
        expect(again.recovery[0]).toMatchObject({
          code: 'DISK_QUEUE_CORRUPT',
          bytes: { from: middle.offsets[k], to: middle.offsets[k]! + 5 },
          ids: { from: middle.firstId + k, to: lastId },
          recordsLost: lastId - middle.firstId - k + 1,
        });
        expect(again.length).toBe(40 - (lastId - middle.firstId - k + 1));
        expect(await decoded(await again.read(100))).toEqual(allBut(middle.firstId + k, lastId));
      });

      it('opens when a middle segment is cut at a record boundary, and reports the ids missing before the next segment', async () => {
        const dir = tempDir();
        const middle = await queueWithMiddleSegment(dir);
        const k = 2;
        truncateSync(middle.file, middle.offsets[k]!);
        const lastId = middle.firstId + middle.offsets.length - 1;
        const q = await openQueue({ dir, maxBytes: 1e7, segmentBytes: 2048 });
        expect(q.recovery).toHaveLength(1);
        expect(q.recovery[0]).toMatchObject({ code: 'DISK_QUEUE_GAP', ids: { from: middle.firstId + k, to: lastId }, recordsLost: lastId - middle.firstId - k + 1 });
        expect(q.recovery[0]!.bytes).toBeUndefined();
        await close(q);

        const again = await openQueue({ dir, maxBytes: 1e7, segmentBytes: 2048 });
        // the gap is still there, and skipped, but it was reported already
        expect(again.recovery).toEqual([]);
        expect(await decoded(await again.read(100))).toEqual(allBut(middle.firstId + k, lastId));
        await again.ack(middle.firstId + k - 1);
        expect(again.length).toBe(40 - lastId);
      });

      it('counts as lost only the lost ids not yet acked, and is reported once', async () => {
        const dir = tempDir();
        const middle = await queueWithMiddleSegment(dir);
        const options = { dir, maxBytes: 1e7, segmentBytes: 2048 };
        const q = await openQueue(options);
        await q.ack(middle.firstId + 1); // the first two records of the middle segment are delivered
        await close(q);
        const bytes = readFileSync(middle.file);
        bytes.fill(0, middle.offsets[1]!, middle.offsets[3]! + 4); // records 2 and 3 zeroed, 4's header half gone
        writeFileSync(middle.file, bytes);

        const again = await openQueue(options);
        expect(again.recovery).toHaveLength(1);
        expect(again.recovery[0]).toMatchObject({ ids: { from: middle.firstId + 1, to: middle.firstId + 3 }, recordsLost: 2 });
        expect(existsSync(`${middle.file}.corrupt`)).toBe(true);
        expect(await decoded(await again.read(100))).toEqual(expected(middle.firstId + 4, 40));
        await close(again);
        const third = await openQueue(options);
        expect(third.recovery).toEqual([]);
        expect(await decoded(await third.read(100))).toEqual(expected(middle.firstId + 4, 40));
      });
    });
  });
}
