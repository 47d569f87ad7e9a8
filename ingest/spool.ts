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

export async function decodeSpoolRecord(record: Buffer): Promise<SpooledBatch> {
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
  const body = format === FORMAT_GZIP ? (await gunzipAsync(payload)).toString('utf8') : payload.toString('utf8');
  return { sources, body };
}

export interface ReplayerOptions {
  queue: DiskQueue;
  /** Write one spooled batch; resolves once it is written (or its refused lines dead-lettered), rejects to retry. */
  deliver(batch: SpooledBatch, signal: AbortSignal): Promise<void>;
  /** A record that cannot be decoded: hand its bytes on (dead letter) before it is removed. */
  onUnreadable(record: QueuedRecord, error: Error): Promise<void>;
  onReplayed(batch: SpooledBatch, latencyMs: number): void;
  onError(error: unknown): void;
  /** Wait after a failed delivery before the same record is tried again. */
  retryPauseMs: number;
}

/** Drains the spool in order, one record at a time; a record is removed only once delivered. */
export class SpoolReplayer {
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: ReplayerOptions) {}

  /** True while the spool holds records: new batches should then be spooled too, behind them. */
  get active(): boolean {
    return this.options.queue.length > 0;
  }

  start(): void {
    this.running ??= this.loop();
  }

  /** Something was appended: replay it when idle. */
  notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Stops after the record in flight (which stays in the spool when it was not written). */
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

  private async loop(): Promise<void> {
    const { queue } = this.options;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      if (queue.length === 0) {
        await this.sleep(undefined);
        continue;
      }
      let record: QueuedRecord | undefined;
      try {
        [record] = await queue.read(1);
        if (!record) {
          // Everything unacked has been handed out already (cannot happen with one reader): start over.
          queue.rewind();
          continue;
        }
        let batch: SpooledBatch;
        try {
          batch = await decodeSpoolRecord(record.data);
        } catch (err) {
          await this.options.onUnreadable(record, err as Error);
          await queue.ack(record.id);
          continue;
        }
        const started = performance.now();
        await this.options.deliver(batch, signal);
        await queue.ack(record.id);
        this.options.onReplayed(batch, performance.now() - started);
      } catch (err) {
        if (signal.aborted) break;
        this.options.onError(err);
        queue.rewind();
        await this.sleep(this.options.retryPauseMs);
      }
    }
  }
}
