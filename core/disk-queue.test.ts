import { afterEach, describe, expect, it } from 'vitest';
import { appendFileSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { DiskQueue, DiskQueueFullError } from './disk-queue.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'cs-queue-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const rec = (i: number): Buffer => Buffer.from(`record-${i}-${'x'.repeat(i % 50)}`);
const texts = (records: { data: Buffer }[]): string[] => records.map((r) => r.data.toString());

describe('disk queue', () => {
  it('hands records out first in, first out, across segments, and deletes segments once acked', async () => {
    const dir = tempDir();
    const q = await DiskQueue.open({ dir, maxBytes: 1e6, segmentBytes: 300 });
    for (let i = 1; i <= 40; i += 4) await q.append([rec(i), rec(i + 1), rec(i + 2), rec(i + 3)]);
    expect(q.length).toBe(40);
    expect(readdirSync(dir).filter((f) => f.endsWith('.log')).length).toBeGreaterThan(3);
    const first = await q.read(25);
    expect(first.map((r) => r.id)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(texts(first)).toEqual(Array.from({ length: 25 }, (_, i) => rec(i + 1).toString()));
    const rest = await q.read(100);
    expect(rest.map((r) => r.id)).toEqual(Array.from({ length: 15 }, (_, i) => i + 26));
    await q.ack(40);
    expect(q.length).toBe(0);
    expect(q.bytes).toBe(0);
    expect(readdirSync(dir).filter((f) => f.endsWith('.log'))).toEqual([]);
    await q.append([rec(41)]);
    expect(texts(await q.read(10))).toEqual([rec(41).toString()]);
    await q.close();
  });

  it('reads the same records from memory and from disk: a consumer far behind the writer, then caught up', async () => {
    const q = await DiskQueue.open({ dir: tempDir(), maxBytes: 1e9, segmentBytes: 1 << 20 });
    // 12 MiB of records: more than the queue keeps in memory, so the oldest come back from the segment files
    const big = (i: number): Buffer => Buffer.alloc(100_000, i % 251);
    for (let i = 1; i <= 120; i += 10) await q.append(Array.from({ length: 10 }, (_, k) => big(i + k)));
    const check = (records: { id: number; data: Buffer }[], firstId: number): void => {
      records.forEach((r, k) => {
        expect(r.id).toBe(firstId + k);
        expect(r.data.equals(big(firstId + k))).toBe(true);
      });
    };
    const firstPart = await q.read(50);
    check(firstPart, 1);
    const rest = await q.read(1000);
    check(rest, 51);
    expect(rest).toHaveLength(70);
    await q.ack(30);
    q.rewind();
    const again = await q.read(1000);
    check(again, 31);
    expect(again).toHaveLength(90);
    await q.append([big(121)]);
    check(await q.read(10), 121);
    await q.close();
  });

  it('gives back what was not acked after a reopen, in order, with ids continuing', async () => {
    const dir = tempDir();
    const q = await DiskQueue.open({ dir, maxBytes: 1e6, segmentBytes: 200 });
    for (let i = 1; i <= 20; i++) await q.append([rec(i)]);
    await q.read(12);
    await q.ack(12);
    await q.close();
    const again = await DiskQueue.open({ dir, maxBytes: 1e6, segmentBytes: 200 });
    expect(again.length).toBe(8);
    const left = await again.read(100);
    expect(left.map((r) => r.id)).toEqual([13, 14, 15, 16, 17, 18, 19, 20]);
    await again.append([rec(21)]);
    expect((await again.read(10)).map((r) => r.id)).toEqual([21]);
    await again.close();
  });

  it('hands out again from the oldest unacked record after rewind', async () => {
    const q = await DiskQueue.open({ dir: tempDir(), maxBytes: 1e6 });
    await q.append([rec(1), rec(2), rec(3)]);
    await q.read(3);
    await q.ack(1);
    q.rewind();
    expect((await q.read(10)).map((r) => r.id)).toEqual([2, 3]);
    await q.close();
  });

  it('drops a torn last record on recovery and keeps every whole one', async () => {
    const dir = tempDir();
    const q = await DiskQueue.open({ dir, maxBytes: 1e6 });
    await q.append([rec(1), rec(2)]);
    await q.close();
    const [segment] = readdirSync(dir).filter((f) => f.endsWith('.log'));
    // a crash in the middle of writing record 3: its header promises 100 bytes, 5 arrived
    const torn = Buffer.alloc(13);
    torn.writeUInt32LE(100, 0);
    appendFileSync(path.join(dir, segment!), torn);
    const again = await DiskQueue.open({ dir, maxBytes: 1e6 });
    expect(texts(await again.read(10))).toEqual([rec(1).toString(), rec(2).toString()]);
    await again.append([rec(3)]);
    expect((await again.read(10)).map((r) => [r.id, r.data.toString()])).toEqual([[3, rec(3).toString()]]);
    await again.close();
  });

  it('is bounded: warns before it fills, refuses beyond the bound, and takes more once acked', async () => {
    const q = await DiskQueue.open({ dir: tempDir(), maxBytes: 1000, warnRatio: 0.5 });
    const warnings: number[] = [];
    q.on('warning', (w) => warnings.push(w.bytes));
    const big = Buffer.alloc(192, 1); // 200 bytes with its header
    for (let i = 0; i < 5; i++) await q.append([big]);
    expect(warnings).toHaveLength(1);
    await expect(q.append([big])).rejects.toBeInstanceOf(DiskQueueFullError);
    expect(q.length).toBe(5);
    await q.read(5);
    await q.ack(5);
    await q.append([big]);
    expect(q.length).toBe(1);
    await q.close();
  });

  it('loses no resolved append when the writer is killed with SIGKILL mid-stream', async () => {
    const dir = tempDir();
    const script = `
      import { DiskQueue } from ${JSON.stringify(path.resolve('core/disk-queue.ts'))};
      const q = await DiskQueue.open({ dir: ${JSON.stringify(dir)}, maxBytes: 1e9, segmentBytes: 4096 });
      for (let i = 1; i <= 100000; i++) {
        await q.append([Buffer.from('r' + i + '-' + 'y'.repeat(i % 300))]);
        process.stdout.write(i + '\\n');
      }`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let confirmed = 0;
    let tail = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        const lines = (tail + d.toString()).split('\n');
        tail = lines.pop() ?? '';
        for (const l of lines) confirmed = Math.max(confirmed, Number(l));
        if (confirmed >= 300 && child.exitCode === null && !child.killed) {
          child.kill('SIGKILL');
        }
      });
      child.once('exit', () => resolve());
    });
    expect(confirmed).toBeGreaterThanOrEqual(300);
    const q = await DiskQueue.open({ dir, maxBytes: 1e9, segmentBytes: 4096 });
    const all = await q.read(1_000_000);
    // Every append that had resolved is there, in order, intact; at most the one in flight beyond it.
    expect(all.length).toBeGreaterThanOrEqual(confirmed);
    expect(all.length).toBeLessThanOrEqual(confirmed + 1);
    all.forEach((r, i) => {
      expect(r.id).toBe(i + 1);
      expect(r.data.toString()).toBe(`r${i + 1}-${'y'.repeat((i + 1) % 300)}`);
    });
    await q.close();
  }, 60_000);

  describe('recovery from damage in a segment other than the last', () => {
    const segments = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
    /** 12 records, 4 to a segment: segment-1 (1-4), segment-5 (5-8), segment-9 (9-12). */
    const threeSegments = async (dir: string): Promise<void> => {
      const q = await DiskQueue.open({ dir, maxBytes: 1e6, segmentBytes: 1 });
      for (let i = 1; i <= 12; i += 4) await q.append([rec(i), rec(i + 1), rec(i + 2), rec(i + 3)]);
      await q.close();
      expect(segments(dir)).toHaveLength(3);
    };
    /** Flips a byte in the payload of the n-th record (from 0) of a segment file. */
    const flip = (file: string, n: number): void => {
      const bytes = readFileSync(file);
      let at = 0;
      for (let k = 0; k < n; k++) at += 8 + bytes.readUInt32LE(at);
      bytes[at + 9] = bytes[at + 9]! ^ 0xff;
      writeFileSync(file, bytes);
    };

    it('keeps the records after the damage in a segment of their own, named by their first id', async () => {
      const dir = tempDir();
      await threeSegments(dir);
      flip(path.join(dir, segments(dir)[1]!), 1); // record 6
      const q = await DiskQueue.open({ dir, maxBytes: 1e6 });
      expect(segments(dir)).toEqual(['segment-0000000000000001.log', 'segment-0000000000000005.log', 'segment-0000000000000007.log', 'segment-0000000000000009.log']);
      expect(readdirSync(dir)).toContain('segment-0000000000000005.log.corrupt');
      expect((await q.read(100)).map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]);
      expect(q.recovery.map((d) => d.message)).toEqual([expect.stringMatching(/segment-0000000000000005\.log are damaged and were moved to .*\.corrupt; ids 6-6 are lost, 1 of them not yet delivered/)]);
      await q.close();
    });

    it('delivers no record twice when a recovery was interrupted after saving the records past the damage', async () => {
      const dir = tempDir();
      await threeSegments(dir);
      const damaged = path.join(dir, segments(dir)[1]!);
      flip(damaged, 1);
      const asFound = path.join(tempDir(), 'as-found');
      copyFileSync(damaged, asFound);
      await (await DiskQueue.open({ dir, maxBytes: 1e6 })).close();
      // as if the process died before cutting the damaged segment: segment-7 written, segment-5 still whole
      copyFileSync(asFound, damaged);
      const q = await DiskQueue.open({ dir, maxBytes: 1e6 });
      expect((await q.read(100)).map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]);
      expect(texts(await (q.rewind(), q.read(100)))).toEqual([1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12].map((i) => rec(i).toString()));
      await q.close();
    });

    it('delivers no record twice when a recovery of the last segment was interrupted after saving the records past the damage', async () => {
      const dir = tempDir();
      await threeSegments(dir);
      const damaged = path.join(dir, segments(dir)[2]!);
      flip(damaged, 1); // record 10
      const asFound = path.join(tempDir(), 'as-found');
      copyFileSync(damaged, asFound);
      await (await DiskQueue.open({ dir, maxBytes: 1e6 })).close();
      expect(segments(dir)).toEqual(['segment-0000000000000001.log', 'segment-0000000000000005.log', 'segment-0000000000000009.log', 'segment-0000000000000011.log']);
      copyFileSync(asFound, damaged);
      const q = await DiskQueue.open({ dir, maxBytes: 1e6 });
      expect((await q.read(100)).map((r) => r.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12]);
      await q.append([rec(13)]);
      expect((await q.read(100)).map((r) => r.id)).toEqual([13]);
      await q.close();
    });

    it('counts a lost first record as not delivered (the oldest kept record does not make it acked)', async () => {
      const dir = tempDir();
      await threeSegments(dir);
      flip(path.join(dir, segments(dir)[0]!), 0); // record 1
      const q = await DiskQueue.open({ dir, maxBytes: 1e6 });
      expect(q.recovery).toMatchObject([{ code: 'DISK_QUEUE_CORRUPT', ids: { from: 1, to: 1 }, recordsLost: 1 }]);
      expect((await q.read(100)).map((r) => r.id)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      await q.close();
    });

    it('refuses to open with DISK_QUEUE_OVERLAP when two segments claim the same ids', async () => {
      const dir = tempDir();
      await threeSegments(dir);
      copyFileSync(path.join(dir, 'segment-0000000000000005.log'), path.join(dir, 'segment-0000000000000003.log'));
      await expect(DiskQueue.open({ dir, maxBytes: 1e6 })).rejects.toMatchObject({ code: 'DISK_QUEUE_OVERLAP' });
    });
  });
});
