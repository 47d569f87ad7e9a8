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
 *
 * Damage anywhere else is the disk's (a bad sector, a file cut short), and a plant is better served by a gap than by
 * a stage that will not start: as Telegraf's and Fluent Bit's buffers do, recovery keeps going and says what it lost.
 * In a segment other than the last, the whole records before the damage stay; after it, recovery looks for the first
 * offset from which whole records run to the very end of the file and keeps those too, moved to a segment file of
 * their own named by their id (the next segment's first id tells it, since ids are consecutive). The bytes between
 * are moved aside to `<segment>.corrupt` for an operator to look at. The ids in between are lost: `recovery` lists
 * each damage (file, byte range, ids, records not yet acked), read() skips the ids, and acking past them is implied.
 * Segments whose ids do not follow on (a file cut at a record boundary, or missing) are reported the same way. In the
 * last segment, a record whose length fits but whose bytes do not check, with whole records after it to the end, is
 * such damage too (a torn append leaves only a short last record): it alone is lost, its id known.
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

/** What recovery found damaged and skipped: reported in `DiskQueue.recovery`, never thrown, never emitted. */
export interface DiskQueueDamage {
  /** DISK_QUEUE_CORRUPT: bytes that do not check, moved aside; DISK_QUEUE_GAP: ids missing between segments. */
  code: 'DISK_QUEUE_CORRUPT' | 'DISK_QUEUE_GAP';
  /** The segment file the damage is in (for a gap: the segment after it). */
  file: string;
  /** The damaged bytes, [from, to) in the segment as it was found, and where they were moved. */
  bytes?: { from: number; to: number; movedTo: string };
  /** The ids lost, inclusive (absent when no record was lost, e.g. the damaged bytes held no whole record). */
  ids?: { from: number; to: number };
  /** How many of the lost ids were not yet acked: records that will not be delivered (the others were). */
  recordsLost: number;
  /** One line for a log: file, byte range, ids, records lost. */
  message: string;
}

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
/** Id ranges already reported lost (`from-to` a line), so that a restart does not report them again. */
const LOST_FILE = 'lost';

function describeDamage(dir: string, d: DiskQueueDamage): string {
  const where = d.bytes ? `bytes ${d.bytes.from}-${d.bytes.to} of ${d.file} are damaged and were moved to ${d.bytes.movedTo}` : `${d.file} does not follow on from the segment before it`;
  const lost = d.ids ? `ids ${d.ids.from}-${d.ids.to} are lost, ${d.recordsLost} of them not yet delivered` : 'no whole record was lost';
  return `disk queue ${dir}: ${where}; ${lost}; every whole record before and after is kept`;
}

const segmentName = (firstId: number): string => `${SEGMENT_PREFIX}${String(firstId).padStart(16, '0')}${SEGMENT_SUFFIX}`;

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The length of the whole record at offset, or undefined when its length or CRC does not check. */
function recordAt(buf: Buffer, offset: number): number | undefined {
  if (offset + HEADER > buf.length) return undefined;
  const len = buf.readUInt32LE(offset);
  if (len > MAX_RECORD || offset + HEADER + len > buf.length) return undefined;
  if (crc32(buf.subarray(offset + HEADER, offset + HEADER + len)) !== buf.readUInt32LE(offset + 4)) return undefined;
  return len;
}

/**
 * Whole records from offset on; returns how many and where the last one ends, and the same up to the last record
 * that is not empty: zeroed bytes (what a failing disk often returns) read as empty records with a valid CRC, so
 * empty records just before damage are taken for part of it.
 */
function wholeRecordsFrom(buf: Buffer, offset: number): { count: number; end: number; nonEmpty: { count: number; end: number } } {
  let count = 0;
  const nonEmpty = { count: 0, end: offset };
  for (let len = recordAt(buf, offset); len !== undefined; len = recordAt(buf, offset)) {
    offset += HEADER + len;
    count++;
    if (len > 0) {
      nonEmpty.count = count;
      nonEmpty.end = offset;
    }
  }
  return { count, end: offset, nonEmpty };
}

/**
 * The first offset after `from` where whole records start and run to the end of the buffer, and how many. The first
 * of them must not be empty (zeroed bytes read as empty records).
 */
function resyncAfter(buf: Buffer, from: number): { offset: number; count: number } | undefined {
  for (let offset = from + 1; offset + HEADER < buf.length; offset++) {
    // Lengths alone first: from a random offset they almost never chain to the very end, and CRCs cost a pass each.
    if (!lengthsChainToEnd(buf, offset)) continue;
    const len = recordAt(buf, offset);
    if (!len) continue;
    const run = wholeRecordsFrom(buf, offset);
    if (run.end === buf.length) return { offset, count: run.count };
  }
  return undefined;
}

/** At offset, a record whose length fits but whose CRC does not, followed by whole records (not all empty) to the end. */
function oneDamagedRecord(buf: Buffer, offset: number): { offset: number; count: number } | undefined {
  if (offset + HEADER > buf.length) return undefined;
  const len = buf.readUInt32LE(offset);
  const after = offset + HEADER + len;
  if (len > MAX_RECORD || after >= buf.length) return undefined;
  const run = wholeRecordsFrom(buf, after);
  return run.end === buf.length && run.nonEmpty.count > 0 ? { offset: after, count: run.count } : undefined;
}

function lengthsChainToEnd(buf: Buffer, offset: number): boolean {
  if (offset + HEADER > buf.length || buf.readUInt32LE(offset) === 0) return false;
  while (offset + HEADER <= buf.length) {
    const len = buf.readUInt32LE(offset);
    if (len > MAX_RECORD || offset + HEADER + len > buf.length) return false;
    offset += HEADER + len;
  }
  return offset === buf.length;
}

async function writeDurably(file: string, data: Buffer): Promise<void> {
  const fh = await open(file, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function truncateDurably(file: string, size: number): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.truncate(size);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export interface DiskQueueEvents {
  warning: [info: { dir: string; bytes: number; maxBytes: number }];
  /** Not emitted by the queue today: damage found on opening is in `recovery` (an event then would have no listener yet). */
  error: [err: Error];
}

export class DiskQueue extends EventEmitter<DiskQueueEvents> {
  readonly dir: string;
  readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly warnBytes: number;
  private segments: Segment[] = [];
  /** Ids lost to damage (inclusive ranges, in order, above ackedId): no record has them. */
  private gaps: { from: number; to: number }[] = [];
  private nextId = 1;
  private acked = 0;
  /** What recovery found damaged and skipped when the queue was opened (empty when nothing was). */
  readonly recovery: DiskQueueDamage[] = [];
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

  /** Records appended and not yet acked (ids lost to damage are not records). */
  get length(): number {
    let lost = 0;
    for (const g of this.gaps) lost += g.to - g.from + 1;
    return this.nextId - 1 - this.acked - lost;
  }

  /** Every id up to this one is acked (or was lost to damage with everything before it acked). */
  get ackedId(): number {
    return this.acked;
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
    this.readCursor = this.cursorAt(this.acked + 1);
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
    const firstIdOf = (name: string): number => Number(name.slice(SEGMENT_PREFIX.length, -SEGMENT_SUFFIX.length));
    const found: DiskQueueDamage[] = [];
    /** The id the next segment should start at; undefined before the first. */
    let expected: number | undefined;
    for (let i = 0; i < names.length; i++) {
      const file = path.join(this.dir, names[i]!);
      const firstId = firstIdOf(names[i]!);
      if (expected !== undefined && firstId < expected) {
        // Two segments claim the same ids (files copied in from elsewhere): which to believe is not the queue's call.
        throw new DiskQueueCorruptError('DISK_QUEUE_OVERLAP', `disk queue ${this.dir}: segment ${file} starts at id ${firstId}, but the segment before it holds ids up to ${expected - 1}; move one of them out of the folder`, { dir: this.dir, file, firstId, expected });
      }
      if (expected !== undefined && firstId > expected) {
        found.push(this.damage('DISK_QUEUE_GAP', file, undefined, { from: expected, to: firstId - 1 }));
      }
      const buf = await readFile(file);
      let head: { count: number; end: number } = wholeRecordsFrom(buf, 0);
      const last = i === names.length - 1;
      // In the last segment a record whose length fits but whose bytes do not check, followed by whole records to
      // the end, is not a torn append (that leaves only a short last record): one record lost, its id known.
      const oneLost = last && head.end < buf.length ? oneDamagedRecord(buf, head.end) : undefined;
      if (last && !oneLost) {
        // Only here can a crash tear a record: the append it belonged to had not resolved, so nothing is lost.
        if (head.end < buf.length) await truncateDurably(file, head.end);
        this.addSegment(firstId, head.count, head.end, file);
        expected = firstId + head.count;
        continue;
      }
      const nextFirstId = oneLost ? firstId + head.count + 1 + oneLost.count : firstIdOf(names[i + 1]!);
      if (head.end === buf.length) {
        this.addSegment(firstId, head.count, head.end, file);
        expected = firstId + head.count;
        continue;
      }
      // Damaged: keep what is whole before and after, move the bytes between aside.
      head = wholeRecordsFrom(buf, 0).nonEmpty;
      let tail = oneLost ?? resyncAfter(buf, head.end);
      // More records after the damage than ids left for them: they cannot be placed, so they go aside too.
      if (tail && nextFirstId - tail.count < firstId + head.count) tail = undefined;
      const aside = { from: head.end, to: tail?.offset ?? buf.length, movedTo: `${file}.corrupt` };
      await writeDurably(aside.movedTo, buf.subarray(aside.from, aside.to));
      let after: { firstId: number; count: number; size: number; file: string } | undefined;
      if (tail) {
        const afterBytes = buf.subarray(tail.offset);
        const next = names[i + 1] === undefined ? undefined : path.join(this.dir, names[i + 1]!);
        if (next && (await readFile(next)).equals(afterBytes)) {
          // A recovery interrupted between saving these records and cutting them from here: they are already saved.
          after = { firstId: nextFirstId, count: tail.count, size: afterBytes.length, file: next };
          i++;
        } else {
          const afterFirstId = nextFirstId - tail.count;
          const afterFile = path.join(this.dir, segmentName(afterFirstId));
          await writeDurably(`${afterFile}.tmp`, afterBytes);
          await rename(`${afterFile}.tmp`, afterFile);
          fsyncDir(this.dir);
          after = { firstId: afterFirstId, count: tail.count, size: afterBytes.length, file: afterFile };
        }
      }
      const lostTo = (after?.firstId ?? nextFirstId) - 1;
      const lostFrom = firstId + head.count;
      found.push(this.damage('DISK_QUEUE_CORRUPT', file, aside, lostFrom <= lostTo ? { from: lostFrom, to: lostTo } : undefined));
      if (head.count > 0) {
        await truncateDurably(file, head.end);
        this.addSegment(firstId, head.count, head.end, file);
      } else if (after?.file !== file) {
        await rm(file, { force: true });
      }
      fsyncDir(this.dir);
      if (after) this.addSegment(after.firstId, after.count, after.size, after.file);
      expected = lostTo + 1 + (after?.count ?? 0);
    }
    if (this.segments.length > 0) this.nextId = this.segments.at(-1)!.firstId + this.segments.at(-1)!.count;
    else if (expected !== undefined) this.nextId = expected;
    try {
      const acked = Number((await readFile(path.join(this.dir, ACK_FILE), 'utf8')).trim());
      if (Number.isSafeInteger(acked) && acked >= 0) this.acked = acked;
    } catch {
      // no ack file yet: nothing acked
    }
    // What was delivered is what the ack file says, before the acked id is moved up to the oldest record kept.
    const delivered = Math.min(this.acked, this.nextId - 1);
    for (const d of found) {
      d.recordsLost = d.ids ? Math.max(0, d.ids.to - Math.max(d.ids.from - 1, delivered)) : 0;
      d.message = describeDamage(this.dir, d);
    }
    if (this.segments.length === 0) {
      this.nextId = Math.max(this.nextId, this.acked + 1);
    } else if (this.acked < this.segments[0]!.firstId - 1) {
      this.acked = this.segments[0]!.firstId - 1;
    }
    this.acked = Math.min(this.acked, this.nextId - 1);
    for (let k = 1; k < this.segments.length; k++) {
      const before = this.segments[k - 1]!;
      const from = before.firstId + before.count;
      const to = this.segments[k]!.firstId - 1;
      if (from <= to) this.gaps.push({ from, to });
    }
    this.acked = this.skipGaps(this.acked);
    this.trimGaps();
    await this.rememberLost(found);
    await this.dropAckedSegments();
    this.readCursor = this.cursorAt(this.acked + 1);
  }

  /**
   * Reports what was found except gaps already reported by an earlier open (a gap stays until acked past), and keeps
   * the list of gaps not yet acked past on disk for the next open.
   */
  private async rememberLost(found: DiskQueueDamage[]): Promise<void> {
    const file = path.join(this.dir, LOST_FILE);
    let known: string[] = [];
    try {
      known = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
    } catch {
      // nothing reported lost yet
    }
    const key = (ids: { from: number; to: number }): string => `${ids.from}-${ids.to}`;
    this.recovery.push(...found.filter((d) => d.code !== 'DISK_QUEUE_GAP' || !d.ids || !known.includes(key(d.ids))));
    const now = this.gaps.map(key);
    if (now.join('\n') === known.join('\n')) return;
    if (now.length === 0) {
      await rm(file, { force: true });
    } else {
      await writeDurably(`${file}.tmp`, Buffer.from(now.join('\n') + '\n'));
      await rename(`${file}.tmp`, file);
    }
    fsyncDir(this.dir);
  }

  private damage(code: DiskQueueDamage['code'], file: string, bytes: DiskQueueDamage['bytes'], ids: DiskQueueDamage['ids']): DiskQueueDamage {
    return { code, file, ...(bytes ? { bytes } : {}), ...(ids ? { ids } : {}), recordsLost: 0, message: '' };
  }

  private addSegment(firstId: number, count: number, size: number, file: string): void {
    this.segments.push({ firstId, count, size, file });
  }

  /** The acked id moved past the lost ids that directly follow it (nothing can be delivered for them). */
  private skipGaps(acked: number): number {
    for (const gap of this.gaps) {
      if (gap.from > acked + 1) break;
      acked = Math.max(acked, gap.to);
    }
    return acked;
  }

  /** Forget the lost ids the acked id has passed. */
  private trimGaps(): void {
    while (this.gaps.length && this.gaps[0]!.to <= this.acked) this.gaps.shift();
  }

  private cursorAt(id: number): Cursor {
    // The segment holding id, or the first after it when id was lost to damage (the read goes on from there).
    const index = this.segments.findIndex((s) => id < s.firstId + s.count);
    // Past the end: wait at the last segment, where the next append lands (or at 0 when there is none yet).
    if (index === -1) return { segment: Math.max(0, this.segments.length - 1), offset: -1, id };
    // The byte offset inside the segment is found on the next read by skipping records.
    return { segment: index, offset: -1, id: Math.max(id, this.segments[index]!.firstId) };
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
    this.trimTail(this.acked);
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
        // Ids between two segments were lost to damage (see recover()): the next record has the next segment's first.
        const next = this.segments[this.readCursor.segment + 1]!;
        this.readCursor = { segment: this.readCursor.segment + 1, offset: 0, id: Math.max(this.readCursor.id, next.firstId) };
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
    const target = this.skipGaps(Math.min(upToId, this.nextId - 1));
    if (target <= this.acked) return;
    const file = path.join(this.dir, ACK_FILE);
    const tmp = `${file}.tmp`;
    await writeFile(tmp, String(target));
    const fh = await open(tmp, 'r');
    await fh.sync();
    await fh.close();
    await rename(tmp, file);
    fsyncDir(this.dir);
    this.acked = target;
    this.trimGaps();
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
      if (first.firstId + first.count - 1 > this.acked) break;
      await rm(first.file, { force: true });
      this.segments.shift();
      dropped++;
    }
    // The active segment, once wholly acked, is started afresh so that the disk does not keep what is done.
    const only = this.segments[0];
    if (this.segments.length === 1 && only && only.count > 0 && only.firstId + only.count - 1 <= this.acked) {
      await this.writer?.close();
      this.writer = undefined;
      await rm(only.file, { force: true });
      this.segments = [];
      dropped++;
    }
    if (dropped) {
      fsyncDir(this.dir);
      this.readCursor = this.cursorAt(Math.max(this.readCursor.id, this.acked + 1));
    }
  }
}
