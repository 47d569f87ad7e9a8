/**
 * A crash-safe, bounded, FIFO queue on disk: what the gateway keeps while the broker is away and ingest keeps while
 * InfluxDB is away.
 *
 * The design is the classic segmented log (as in Kafka's or a WAL's): records are appended to segment files as
 * `[u32 length][u32 crc32][bytes]` and fsync'd before append() resolves; a consumer reads from a cursor and acks up
 * to an id; the acked id is kept in a small file replaced atomically (write, fsync, rename, fsync the folder);
 * segments wholly acked are deleted. After a crash (SIGKILL, power loss) the last record of the last segment may be
 * torn: recovery stops at the first record whose length or CRC does not check and truncates the file there, so a
 * record is either wholly in the queue or not at all, and an append that had resolved is never lost.
 * Ids are consecutive integers, so "ack up to id" is enough to say what is done.
 */
import { EventEmitter } from 'node:events';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { open, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { CleanstreamError } from './errors.ts';

export interface DiskQueueOptions {
  dir: string;
  /** Upper bound on the bytes the queue holds on disk; append() beyond it rejects with DiskQueueFullError. */
  maxBytes: number;
  /** A new segment file is started past this size. */
  segmentBytes?: number;
  /** Emit 'warning' once when the queue grows above this share of maxBytes (again after it fell below). */
  warnRatio?: number;
}

export interface QueuedRecord {
  id: number;
  data: Buffer;
}

export class DiskQueueFullError extends CleanstreamError {
  constructor(dir: string, bytes: number, maxBytes: number, adding: number) {
    super('DISK_QUEUE_FULL', `disk queue ${dir} is full: ${bytes} of ${maxBytes} bytes used, cannot add ${adding}`, { dir, bytes, maxBytes, adding });
  }
}

export class DiskQueueCorruptError extends CleanstreamError {}

interface Segment {
  firstId: number;
  /** Records in the segment (valid ones). */
  count: number;
  /** Committed size in bytes. */
  size: number;
  file: string;
}

interface TailRecord {
  data: Buffer;
  segmentFirstId: number;
  /** Byte offset of the record's header in its segment. */
  offset: number;
}

interface Cursor {
  segment: number;
  offset: number;
  id: number;
}

const HEADER = 8;
const MAX_RECORD = 64 * 1024 * 1024;
const READ_WINDOW = 1024 * 1024;
/** Recent appends kept in memory, so that a consumer keeping up reads them without touching the disk again. */
const TAIL_MAX_BYTES = 8 * 1024 * 1024;
const SEGMENT_PREFIX = 'segment-';
const SEGMENT_SUFFIX = '.log';
const ACK_FILE = 'acked';

const segmentName = (firstId: number): string => `${SEGMENT_PREFIX}${String(firstId).padStart(16, '0')}${SEGMENT_SUFFIX}`;

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Scan a segment's records; returns the count and the end of the last whole record. */
async function scanSegment(file: string): Promise<{ count: number; validEnd: number; fileSize: number }> {
  const buf = await readFile(file);
  let offset = 0;
  let count = 0;
  while (offset + HEADER <= buf.length) {
    const len = buf.readUInt32LE(offset);
    const crc = buf.readUInt32LE(offset + 4);
    if (len > MAX_RECORD || offset + HEADER + len > buf.length) break;
    if (crc32(buf.subarray(offset + HEADER, offset + HEADER + len)) !== crc) break;
    offset += HEADER + len;
    count++;
  }
  return { count, validEnd: offset, fileSize: buf.length };
}

export interface DiskQueueEvents {
  warning: [info: { dir: string; bytes: number; maxBytes: number }];
  error: [err: Error];
}

export class DiskQueue extends EventEmitter<DiskQueueEvents> {
  readonly dir: string;
  readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly warnBytes: number;
  private segments: Segment[] = [];
  private nextId = 1;
  private ackedId = 0;
  private readCursor: Cursor = { segment: 0, offset: 0, id: 1 };
  private writer: FileHandle | undefined;
  private warned = false;
  /** Records tailFirstId .. nextId - 1 (the newest appends), holding the very Buffers given to append(). */
  private tail: TailRecord[] = [];
  private tailFirstId = 1;
  private tailBytes = 0;
  private closed = false;
  /** Operations run one at a time so that reads never see a half-written append. */
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(options: DiskQueueOptions) {
    super();
    this.dir = path.resolve(options.dir);
    this.maxBytes = options.maxBytes;
    this.segmentBytes = options.segmentBytes ?? 16 * 1024 * 1024;
    this.warnBytes = options.maxBytes * (options.warnRatio ?? 0.8);
  }

  static async open(options: DiskQueueOptions): Promise<DiskQueue> {
    const queue = new DiskQueue(options);
    await queue.recover();
    return queue;
  }

  /** Records appended and not yet acked. */
  get length(): number {
    return this.nextId - 1 - this.ackedId;
  }

  /** Bytes on disk held by the queue (whole segments, so a partly acked segment counts fully until deleted). */
  get bytes(): number {
    let total = 0;
    for (const s of this.segments) total += s.size;
    return total;
  }

  /** Id the next appended record will get; ids below it and above the acked id are in the queue. */
  get lastId(): number {
    return this.nextId - 1;
  }

  /** Appended Buffers are kept (not copied) for reading back: do not modify them afterwards. */
  append(records: readonly Buffer[]): Promise<void> {
    return this.serial(() => this.doAppend(records));
  }

  /** The oldest records not yet handed out by read() since the last rewind(); they stay queued until acked. */
  read(max: number): Promise<QueuedRecord[]> {
    return this.serial(() => this.doRead(max));
  }

  /** Hand out again from the oldest unacked record (after a failed send). */
  rewind(): void {
    this.readCursor = this.cursorAt(this.ackedId + 1);
  }

  /** Remove every record with id <= upToId, durably. */
  ack(upToId: number): Promise<void> {
    return this.serial(() => this.doAck(upToId));
  }

  close(): Promise<void> {
    return this.serial(async () => {
      this.closed = true;
      await this.writer?.close();
      this.writer = undefined;
    });
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.chain.then(() => {
      if (this.closed) throw new CleanstreamError('DISK_QUEUE_CLOSED', `disk queue ${this.dir} is closed`, { dir: this.dir });
      return op();
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async recover(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const names = readdirSync(this.dir)
      .filter((n) => n.startsWith(SEGMENT_PREFIX) && n.endsWith(SEGMENT_SUFFIX))
      .sort();
    for (const [i, name] of names.entries()) {
      const file = path.join(this.dir, name);
      const firstId = Number(name.slice(SEGMENT_PREFIX.length, -SEGMENT_SUFFIX.length));
      const { count, validEnd, fileSize } = await scanSegment(file);
      if (validEnd < fileSize) {
        if (i !== names.length - 1) {
          // Only the last segment can be torn by a crash; damage elsewhere is the disk's, and is said loudly.
          this.emit('error', new DiskQueueCorruptError('DISK_QUEUE_CORRUPT', `segment ${file} is damaged after record ${firstId + count - 1}; the rest of it is skipped`, { file, validEnd, fileSize }));
        }
        const fh = await open(file, 'r+');
        await fh.truncate(validEnd);
        await fh.sync();
        await fh.close();
      }
      const expectedFirst = this.segments.length ? this.nextId : firstId;
      if (firstId !== expectedFirst) {
        this.emit('error', new DiskQueueCorruptError('DISK_QUEUE_GAP', `segment ${file} starts at id ${firstId}, expected ${expectedFirst}`, { file }));
      }
      this.segments.push({ firstId, count, size: validEnd, file });
      this.nextId = firstId + count;
    }
    try {
      const acked = Number((await readFile(path.join(this.dir, ACK_FILE), 'utf8')).trim());
      if (Number.isSafeInteger(acked) && acked >= 0) this.ackedId = acked;
    } catch {
      // no ack file yet: nothing acked
    }
    if (this.segments.length === 0) {
      this.nextId = Math.max(this.nextId, this.ackedId + 1);
    } else if (this.ackedId < this.segments[0]!.firstId - 1) {
      this.ackedId = this.segments[0]!.firstId - 1;
    }
    this.ackedId = Math.min(this.ackedId, this.nextId - 1);
    await this.dropAckedSegments();
    this.readCursor = this.cursorAt(this.ackedId + 1);
  }

  private cursorAt(id: number): Cursor {
    const index = this.segments.findIndex((s) => id >= s.firstId && id < s.firstId + s.count);
    // Past the end: wait at the last segment, where the next append lands (or at 0 when there is none yet).
    if (index === -1) return { segment: Math.max(0, this.segments.length - 1), offset: -1, id };
    // The byte offset inside the segment is found on the next read by skipping records.
    return { segment: index, offset: -1, id };
  }

  private async doAppend(records: readonly Buffer[]): Promise<void> {
    if (records.length === 0) return;
    let adding = 0;
    for (const r of records) adding += HEADER + r.length;
    const bytes = this.bytes;
    if (bytes + adding > this.maxBytes) throw new DiskQueueFullError(this.dir, bytes, this.maxBytes, adding);
    let active = this.segments[this.segments.length - 1];
    if (!active || !this.writer || active.size >= this.segmentBytes) {
      await this.writer?.close();
      const file = path.join(this.dir, segmentName(this.nextId));
      this.writer = await open(file, 'a');
      fsyncDir(this.dir);
      if (!active || active.file !== file) {
        active = { firstId: this.nextId, count: 0, size: 0, file };
        this.segments.push(active);
      }
    }
    // Headers and records go out in one writev, without copying the records into one buffer.
    const headers = Buffer.allocUnsafe(HEADER * records.length);
    const parts: Buffer[] = [];
    records.forEach((r, i) => {
      headers.writeUInt32LE(r.length, i * HEADER);
      headers.writeUInt32LE(crc32(r), i * HEADER + 4);
      parts.push(headers.subarray(i * HEADER, (i + 1) * HEADER), r);
    });
    const { bytesWritten } = await this.writer.writev(parts);
    if (bytesWritten !== adding) {
      throw new CleanstreamError('DISK_QUEUE_SHORT_WRITE', `disk queue ${this.dir}: wrote ${bytesWritten} of ${adding} bytes`, { dir: this.dir });
    }
    await this.writer.datasync();
    if (this.tail.length === 0) this.tailFirstId = this.nextId;
    let offset = active.size;
    for (const r of records) {
      this.tail.push({ data: r, segmentFirstId: active.firstId, offset });
      this.tailBytes += r.length;
      offset += HEADER + r.length;
    }
    this.trimTail(this.ackedId);
    active.size += adding;
    active.count += records.length;
    this.nextId += records.length;
    if (!this.warned && this.bytes > this.warnBytes) {
      this.warned = true;
      this.emit('warning', { dir: this.dir, bytes: this.bytes, maxBytes: this.maxBytes });
    }
  }

  /** Drop tail records that are acked, and the oldest ones beyond the memory bound. */
  private trimTail(ackedId: number): void {
    let drop = 0;
    while (drop < this.tail.length && (this.tailFirstId + drop <= ackedId || this.tailBytes > TAIL_MAX_BYTES)) {
      this.tailBytes -= this.tail[drop]!.data.length;
      drop++;
    }
    if (drop) {
      this.tail.splice(0, drop);
      this.tailFirstId += drop;
    }
  }

  private async doRead(max: number): Promise<QueuedRecord[]> {
    const out: QueuedRecord[] = [];
    while (out.length < max && this.readCursor.segment < this.segments.length) {
      let index = this.readCursor.id - this.tailFirstId;
      if (index >= 0 && index < this.tail.length) {
        let last: TailRecord | undefined;
        while (out.length < max && index < this.tail.length) {
          last = this.tail[index]!;
          out.push({ id: this.readCursor.id, data: last.data });
          this.readCursor = { ...this.readCursor, id: this.readCursor.id + 1 };
          index++;
        }
        const segment = this.segments.findIndex((s) => s.firstId === last!.segmentFirstId);
        this.readCursor = { segment, offset: last!.offset + HEADER + last!.data.length, id: this.readCursor.id };
        continue;
      }
      const seg = this.segments[this.readCursor.segment]!;
      if (this.readCursor.id >= seg.firstId + seg.count) {
        if (this.readCursor.segment === this.segments.length - 1) break;
        this.readCursor = { segment: this.readCursor.segment + 1, offset: 0, id: this.readCursor.id };
        continue;
      }
      const fh = await open(seg.file, 'r');
      try {
        let offset = this.readCursor.offset;
        let id = this.readCursor.id;
        if (offset < 0) {
          offset = 0;
          const header = Buffer.alloc(HEADER);
          for (let skip = seg.firstId; skip < id; skip++) {
            await fh.read(header, 0, HEADER, offset);
            offset += HEADER + header.readUInt32LE(0);
          }
        }
        // Read a window of whole records from the cursor rather than the whole segment.
        while (out.length < max && offset + HEADER <= seg.size) {
          const want = Math.min(seg.size - offset, READ_WINDOW);
          const buf = Buffer.allocUnsafe(want);
          const { bytesRead } = await fh.read(buf, 0, want, offset);
          let at = 0;
          while (out.length < max && at + HEADER <= bytesRead) {
            const len = buf.readUInt32LE(at);
            if (at + HEADER + len > bytesRead) break;
            out.push({ id, data: Buffer.from(buf.subarray(at + HEADER, at + HEADER + len)) });
            at += HEADER + len;
            id++;
          }
          if (at === 0) {
            // One record larger than the window: read it whole.
            const len = buf.readUInt32LE(0);
            const rec = Buffer.allocUnsafe(len);
            await fh.read(rec, 0, len, offset + HEADER);
            out.push({ id, data: rec });
            at = HEADER + len;
            id++;
          }
          offset += at;
        }
        this.readCursor = { segment: this.readCursor.segment, offset, id };
      } finally {
        await fh.close();
      }
    }
    return out;
  }

  private async doAck(upToId: number): Promise<void> {
    const target = Math.min(upToId, this.nextId - 1);
    if (target <= this.ackedId) return;
    const file = path.join(this.dir, ACK_FILE);
    const tmp = `${file}.tmp`;
    await writeFile(tmp, String(target));
    const fh = await open(tmp, 'r');
    await fh.sync();
    await fh.close();
    await rename(tmp, file);
    fsyncDir(this.dir);
    this.ackedId = target;
    this.trimTail(target);
    if (this.readCursor.id <= target) this.readCursor = this.cursorAt(target + 1);
    await this.dropAckedSegments();
    if (this.warned && this.bytes <= this.warnBytes) this.warned = false;
  }

  /** Delete segments whose records are all acked, except the one being appended to. */
  private async dropAckedSegments(): Promise<void> {
    let dropped = 0;
    while (this.segments.length > 1) {
      const first = this.segments[0]!;
      if (first.firstId + first.count - 1 > this.ackedId) break;
      await rm(first.file, { force: true });
      this.segments.shift();
      dropped++;
    }
    // The active segment, once wholly acked, is started afresh so that the disk does not keep what is done.
    const only = this.segments[0];
    if (this.segments.length === 1 && only && only.count > 0 && only.firstId + only.count - 1 <= this.ackedId) {
      await this.writer?.close();
      this.writer = undefined;
      await rm(only.file, { force: true });
      this.segments = [];
      dropped++;
    }
    if (dropped) {
      fsyncDir(this.dir);
      this.readCursor = this.cursorAt(Math.max(this.readCursor.id, this.ackedId + 1));
    }
  }
}
