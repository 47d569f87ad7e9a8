/**
 * The durable spool: write batches InfluxDB could not take, kept on disk (core/disk-queue.ts, a segmented log with
 * fsync'd appends and CRC-checked records) until a replayer writes them, oldest first.
 *
 * One spool record is one write batch:
 *
 *   [u8 format: 1 = plain, 2 = gzip][u32le header length][header: JSON [[topic, lines], …]][line protocol body]
 *
 * The header says which MQTT topic each run of lines came from (consecutive messages of one topic merged), so that
 * lines InfluxDB later refuses can be dead-lettered with their topic although the messages were acknowledged long ago.
 */
import { promisify } from 'node:util';
import { gunzip as gunzipCallback, gzip as gzipCallback } from 'node:zlib';
import { CleanstreamError } from '../core/errors.ts';
import { DiskQueue, type QueuedRecord } from '../core/disk-queue.ts';

const gzipAsync = promisify(gzipCallback);
const gunzipAsync = promisify(gunzipCallback);

const FORMAT_PLAIN = 1;
const FORMAT_GZIP = 2;

/** Which lines of a batch came from which topic, in order. */
export interface LineSource {
  topic: string;
  lines: number;
}

export interface SpooledBatch {
  sources: LineSource[];
  /** Line protocol, lines joined by `\n`. */
  body: string;
}

export class SpoolRecordError extends CleanstreamError {}

/** Merge consecutive sources of one topic (a gateway's messages usually follow each other). */
export function mergeSources(sources: Iterable<LineSource>): LineSource[] {
  const out: LineSource[] = [];
  for (const s of sources) {
    if (s.lines === 0) continue;
    const last = out[out.length - 1];
    if (last && last.topic === s.topic) last.lines += s.lines;
    else out.push({ topic: s.topic, lines: s.lines });
  }
  return out;
}

export async function encodeSpoolRecord(batch: SpooledBatch, gzipLevel = 0): Promise<Buffer> {
  const header = Buffer.from(JSON.stringify(batch.sources.map((s) => [s.topic, s.lines])));
  const body = gzipLevel > 0 ? await gzipAsync(batch.body, { level: gzipLevel }) : Buffer.from(batch.body);
  const prefix = Buffer.allocUnsafe(5);
  prefix.writeUInt8(gzipLevel > 0 ? FORMAT_GZIP : FORMAT_PLAIN, 0);
  prefix.writeUInt32LE(header.length, 1);
  return Buffer.concat([prefix, header, body]);
}

/** A spooled batch as read back for replay: the body as the UTF-8 bytes to send, not decoded into a string. */
export interface ReplayBatch {
  sources: LineSource[];
  /** Line protocol, lines joined by `\n`, UTF-8. */
  body: Buffer;
}

export async function readSpoolRecord(record: Buffer): Promise<ReplayBatch> {
  if (record.length < 5) throw new SpoolRecordError('SPOOL_RECORD', `spool record of ${record.length} bytes is too short`);
  const format = record.readUInt8(0);
  const headerLength = record.readUInt32LE(1);
  if ((format !== FORMAT_PLAIN && format !== FORMAT_GZIP) || 5 + headerLength > record.length) {
    throw new SpoolRecordError('SPOOL_RECORD', `spool record has an unknown format ${format} or a bad header length ${headerLength}`);
  }
  let sources: LineSource[];
  try {
    const raw = JSON.parse(record.subarray(5, 5 + headerLength).toString('utf8')) as unknown;
    if (!Array.isArray(raw)) throw new Error('header is not an array');
    sources = raw.map((entry: unknown) => {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !Number.isSafeInteger(entry[1])) throw new Error('bad source entry');
      return { topic: entry[0], lines: entry[1] as number };
    });
  } catch (err) {
    throw new SpoolRecordError('SPOOL_RECORD', `spool record header cannot be read: ${(err as Error).message}`, {}, { cause: err });
  }
  const payload = record.subarray(5 + headerLength);
  return { sources, body: format === FORMAT_GZIP ? await gunzipAsync(payload) : payload };
}

export interface ReplayerOptions {
  queue: DiskQueue;
  /** Write one spooled batch; resolves once it is written (or its refused lines dead-lettered), rejects to retry. */
  deliver(batch: ReplayBatch, signal: AbortSignal): Promise<void>;
  /** A record that cannot be decoded: hand its bytes on (dead letter) before it is removed. */
  onUnreadable(record: QueuedRecord, error: Error): Promise<void>;
  /** A batch was written and removed from the spool (its sources: which topics, how many lines); in spool order. */
  onReplayed(sources: readonly LineSource[], latencyMs: number): void;
  onError(error: unknown): void;
  /** Wait after a failed delivery before the same record is tried again. */
  retryPauseMs: number;
  /** Spooled batches written at once (default 1): the same budget as live writes (`write.concurrency`). */
  concurrency?: number;
}

/** A record handed out by the queue and not yet removed from it. */
interface Slot {
  id: number;
  /** Set once delivered (or dead-lettered as unreadable): what onReplayed is told. The body is not kept. */
  done: { sources: readonly LineSource[] | undefined; latencyMs: number } | undefined;
}

/**
 * Drains the spool oldest first with up to `concurrency` writes in flight, the way live batches are written.
 *
 * Order: records are read and their writes started in spool order, and at most `2 × concurrency` records are handed
 * out and not yet removed, so a record is never written more than that many places ahead of the oldest one still
 * unwritten (an older batch may still be in flight when a newer one lands, as with live writes: InfluxDB keys points
 * by series and timestamp, so the stored data is the same; only two different values for one series and timestamp
 * within that window could end in either order).
 * Crash safety: the spool is acked only up to the longest written prefix (one ack covering several records), so a
 * record leaves the disk only after InfluxDB took it and every record before it. After a crash the records past that
 * prefix are written again: InfluxDB overwrites the same points.
 * A failed write is retried after `retryPauseMs` in its slot; the records behind it wait for the window to move.
 */
export class SpoolReplayer {
  private readonly abort = new AbortController();
  private readonly concurrency: number;
  /** Records handed out and not yet removed: twice the writes, so that writing goes on while an ack is on disk. */
  private readonly maxWindow: number;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  /** Records handed out and not yet acked, in id order. */
  private window: Slot[] = [];
  private writing = 0;
  private peakWriting = 0;
  private acking: Promise<void> | undefined;

  constructor(private readonly options: ReplayerOptions) {
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
    this.maxWindow = 2 * this.concurrency;
  }

  /** True while the spool holds records: new batches should then be spooled too, behind them. */
  get active(): boolean {
    return this.options.queue.length > 0;
  }

  /** Spooled batches being written now. */
  get writesInFlight(): number {
    return this.writing;
  }

  /** The most spooled batches written at once since start. */
  get peakWritesInFlight(): number {
    return this.peakWriting;
  }

  start(): void {
    this.running ??= this.loop();
  }

  /** Something was appended, or a slot freed: look for work. */
  notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Stops after the writes in flight (records not written stay in the spool). */
  async stop(): Promise<void> {
    this.abort.abort();
    this.notify();
    await this.running;
  }

  private sleep(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.abort.signal.removeEventListener('abort', done);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      this.abort.signal.addEventListener('abort', done, { once: true });
      // A retry pause is not cut short by new appends: InfluxDB is what we wait for.
      if (ms === undefined) this.wake = done;
    });
  }

  /** Records appended and not handed out yet. */
  private get unread(): number {
    const lastHandedOut = this.window.at(-1)?.id ?? this.options.queue.lastId - this.options.queue.length;
    return this.options.queue.lastId - lastHandedOut;
  }

  private async loop(): Promise<void> {
    const { queue } = this.options;
    const signal = this.abort.signal;
    const slots: Promise<void>[] = [];
    while (!signal.aborted) {
      let writing = 0;
      for (const slot of this.window) if (!slot.done) writing++;
      const room = Math.min(this.concurrency - writing, this.maxWindow - this.window.length);
      if (room <= 0 || this.unread <= 0) {
        await this.sleep(undefined);
        continue;
      }
      let records: QueuedRecord[];
      try {
        records = await queue.read(room);
      } catch (err) {
        if (signal.aborted) break;
        this.options.onError(err);
        await this.sleep(this.options.retryPauseMs);
        continue;
      }
      if (records.length === 0) {
        // The queue's count and its read cursor disagree (never seen): do not spin on it.
        await this.sleep(this.options.retryPauseMs);
        continue;
      }
      for (const record of records) {
        const slot: Slot = { id: record.id, done: undefined };
        this.window.push(slot);
        // Decoded here, one after the other, so that writes start in spool order (gunzip takes varying time).
        const decoded = await readSpoolRecord(record.data).then(
          (batch) => ({ batch }),
          (error: unknown) => ({ error: error as Error }),
        );
        const running = 'batch' in decoded ? this.replay(decoded.batch, slot) : this.deadLetter(record, decoded.error, slot);
        slots.push(running);
        void running.then(() => slots.splice(slots.indexOf(running), 1));
      }
    }
    await Promise.all(slots);
    await this.acking;
    // Written while the last ack was on disk: remove them now rather than write them again at the next start.
    if (this.window[0]?.done) await this.ackWrittenPrefix();
  }

  /** An undecodable record: handed on (dead letter) before it is removed, retried until that works or we stop. */
  private async deadLetter(record: QueuedRecord, error: Error, slot: Slot): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        await this.options.onUnreadable(record, error);
        slot.done = { sources: undefined, latencyMs: 0 };
        return this.settled();
      } catch (publishErr) {
        this.options.onError(publishErr);
        await this.sleep(this.options.retryPauseMs);
      }
    }
  }

  /** Writes one batch until it is written, or until stopped (it then stays in the spool). */
  private async replay(batch: ReplayBatch, slot: Slot): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const started = performance.now();
      this.writing++;
      this.peakWriting = Math.max(this.peakWriting, this.writing);
      try {
        await this.options.deliver(batch, signal);
        slot.done = { sources: batch.sources, latencyMs: performance.now() - started };
        return this.settled();
      } catch (err) {
        if (signal.aborted) return;
        this.options.onError(err);
      } finally {
        this.writing--;
      }
      await this.sleep(this.options.retryPauseMs);
    }
  }

  /** A slot finished: a write slot is free, and the written prefix leaves the spool (one ack for all of it). */
  private settled(): void {
    this.notify();
    this.acking ??= this.ackWrittenPrefix().finally(() => {
      this.acking = undefined;
      // Slots that finished while the ack was on disk.
      if (this.window[0]?.done && !this.abort.signal.aborted) this.settled();
    });
  }

  private async ackWrittenPrefix(): Promise<void> {
    let count = 0;
    while (count < this.window.length && this.window[count]!.done) count++;
    if (count === 0) return;
    const prefix = this.window.slice(0, count);
    try {
      await this.options.queue.ack(prefix[count - 1]!.id);
    } catch (err) {
      // Still written, only not yet removed: tried again after a pause (or written again at the next start).
      this.options.onError(err);
      await this.sleep(this.options.retryPauseMs);
      return;
    }
    this.window.splice(0, count);
    for (const slot of prefix) if (slot.done?.sources) this.options.onReplayed(slot.done.sources, slot.done.latencyMs);
    this.notify();
  }
}
