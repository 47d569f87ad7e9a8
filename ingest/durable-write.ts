/**
 * Makes a batch of lines durable: written to InfluxDB, or appended (fsync'd) to the spool when InfluxDB cannot take
 * it, and replayed from there. Lines InfluxDB refuses (400) are split out (ingest/partial-write.ts) and
 * dead-lettered, so that the rest is written. While the spool holds batches every batch goes behind them: InfluxDB
 * receives everything in arrival order.
 */
import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { DiskQueue, DiskQueueFullError } from '../core/disk-queue.ts';
import type { BatchTurn } from './batcher.ts';
import type { IngestConfig } from './config.ts';
import type { DeadLetters, RefusedByTopic } from './dead-letters.ts';
import type { IngestEvents } from './events.ts';
import { splitRefusedBatch, type Refusal } from './partial-write.ts';
import { encodeSpoolRecord, mergeSources, SpoolReplayer, type LineSource } from './spool.ts';
import type { IngestCounters, SpoolStats } from './stats.ts';
import { InfluxError, serverMessage, type InfluxClient } from '../influxdb/client.ts';

/** How a batch was made durable. */
export type Delivery = { kind: 'written'; refusedLines: number } | { kind: 'spooled' };

/** Where a batch's lines came from: one message's readings (with its topic), or derived lines. */
export interface LineTicket {
  topic: string;
  readings: number;
}

export function refusalOf(err: unknown): Refusal | undefined {
  if (!(err instanceof InfluxError) || err.kind !== 'rejected') return undefined;
  return { reason: err.body ? serverMessage(err.body) : err.message };
}

/** The topic each line index came from. */
function topicAt(sources: readonly LineSource[]): (index: number) => string {
  const ends: number[] = [];
  let end = 0;
  for (const s of sources) ends.push((end += s.lines));
  return (index) => {
    const i = ends.findIndex((e) => index < e);
    return sources[i === -1 ? sources.length - 1 : i]?.topic ?? '';
  };
}

export interface DurableWriteOptions {
  config: IngestConfig;
  writer: InfluxClient;
  events: EventEmitter<IngestEvents>;
  counters: IngestCounters;
  deadLetters: DeadLetters;
  /** One write request answered (success or refusal). */
  observeWrite(seconds: number, lines: number): void;
  /** Spooled lines were replayed (space freed: backpressure may ease). */
  onReplayed(): void;
}

export class DurableWrite {
  private queue: DiskQueue | undefined;
  private replayer: SpoolReplayer | undefined;
  private spoolFull = false;
  private spoolWarning = false;

  constructor(private readonly o: DurableWriteOptions) {}

  /** Opens the spool (when configured) and starts replaying what it holds. */
  async open(): Promise<void> {
    const spool = this.o.config.spool;
    if (!spool) return;
    const queue = await DiskQueue.open({ dir: spool.dir, maxBytes: spool.maxBytes, segmentBytes: spool.segmentBytes, warnRatio: spool.warnRatio });
    this.queue = queue;
    queue.on('warning', (info) => {
      this.spoolWarning = true;
      this.o.events.emit('spoolWarning', info);
    });
    this.replayer = new SpoolReplayer({
      queue,
      retryPauseMs: this.o.config.retry.pauseMs,
      // The same write budget as live batches: while the spool holds batches, live ones go to it, not to InfluxDB.
      concurrency: this.o.config.write.concurrency,
      deliver: async (batch, signal) => {
        let lines = 0;
        for (const s of batch.sources) lines += s.lines;
        await this.writeLines(batch.body, lines, batch.sources, signal);
      },
      onUnreadable: (record, error) => this.o.deadLetters.spoolUnreadable(record.data, error),
      onReplayed: (sources) => {
        for (const s of sources) this.o.counters.replayedReadings += s.lines;
        this.o.onReplayed();
      },
      onError: (err) => {
        this.o.counters.writeErrors++;
        this.o.events.emit('spoolError', err instanceof Error ? err : new Error(String(err)));
      },
    });
  }

  startReplay(): void {
    this.replayer?.start();
  }

  /** Stops the replayer (what it had not removed stays in the spool) and closes the spool. */
  async stopReplay(): Promise<void> {
    await this.replayer?.stop();
  }

  async close(): Promise<void> {
    await this.queue?.close();
  }

  get spoolIsFull(): boolean {
    return this.spoolFull;
  }

  spoolStats(): SpoolStats | undefined {
    const queue = this.queue;
    if (!queue) return undefined;
    const bytes = queue.bytes;
    // The queue warns once per crossing; the flag follows the current size.
    if (this.spoolWarning && bytes <= queue.maxBytes * (this.o.config.spool?.warnRatio ?? 0.8)) this.spoolWarning = false;
    return {
      bytes,
      batches: queue.length,
      maxBytes: queue.maxBytes,
      warning: this.spoolWarning,
      full: this.spoolFull,
      replayWritesInFlight: this.replayer?.writesInFlight ?? 0,
      replayPeakWritesInFlight: this.replayer?.peakWritesInFlight ?? 0,
      lostBatches: queue.recovery.reduce((sum, d) => sum + d.recordsLost, 0),
      damage: queue.recovery,
    };
  }

  /**
   * Makes one batch durable: InfluxDB when the spool is empty and InfluxDB answers, else the spool. Batches are
   * appended to the spool in the order they were cut: a batch waits for every earlier one to be written or spooled
   * first (with several writes in flight, a later batch can fail before an earlier one has finished retrying).
   */
  async deliver(body: string, signal: AbortSignal, tickets: readonly LineTicket[], turn: BatchTurn): Promise<Delivery> {
    let lineCount = 0;
    for (const t of tickets) lineCount += t.readings;
    const sources = (): LineSource[] => mergeSources(tickets.map((t) => ({ topic: t.topic, lines: t.readings })));
    const spoolInTurn = async (): Promise<Delivery> => {
      await turn.earlierSettled();
      await this.spoolBatch(sources(), body);
      return { kind: 'spooled' };
    };
    const queue = this.queue;
    if (queue && queue.length > 0) return spoolInTurn();
    try {
      return { kind: 'written', refusedLines: await this.writeLines(body, lineCount, sources(), signal) };
    } catch (err) {
      if (!queue || signal.aborted || !(err instanceof InfluxError)) throw err;
      // InfluxDB unreachable, failing or refusing credentials: keep the batch on disk and acknowledge it.
      this.o.counters.writeErrors++;
      this.o.events.emit('writeError', err);
      return spoolInTurn();
    }
  }

  /** One write request, timed for the metrics. */
  private async timedWrite(body: string | Buffer, lines: number, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    try {
      await this.o.writer.write(body, signal);
      this.o.observeWrite((performance.now() - started) / 1000, lines);
    } catch (err) {
      if (refusalOf(err)) this.o.observeWrite((performance.now() - started) / 1000, lines);
      throw err;
    }
  }

  /**
   * Write a batch; after a 400, split it so that the accepted lines are written and the refused ones dead-lettered
   * (one dead letter per source message topic run, payload = the refused lines, detail = InfluxDB's reason). Resolves
   * with the number of refused lines once their dead letters are confirmed; rejects when InfluxDB cannot be reached.
   */
  private async writeLines(body: string | Buffer, lineCount: number, sources: readonly LineSource[], signal: AbortSignal): Promise<number> {
    const counters = this.o.counters;
    try {
      await this.timedWrite(body, lineCount, signal);
      counters.writtenLines += lineCount;
      return 0;
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err;
      counters.writeErrors++;
      this.o.events.emit('writeError', err as InfluxError);
      const lines = (typeof body === 'string' ? body : body.toString('utf8')).split('\n');
      const outcome = await splitRefusedBatch(lines, refusal, (part) => this.timedWrite(part, 0, signal), refusalOf);
      counters.writtenLines += outcome.acceptedLines;
      const topicOf = topicAt(sources);
      const byTopic: RefusedByTopic = new Map();
      for (const refused of outcome.refused) {
        const topic = topicOf(refused.index);
        const entry = byTopic.get(topic) ?? { lines: [], reason: refused.reason };
        entry.lines.push(refused.line);
        byTopic.set(topic, entry);
      }
      await this.o.deadLetters.refusedLines(byTopic);
      return outcome.refused.length;
    }
  }

  private async spoolBatch(sources: LineSource[], body: string): Promise<void> {
    const spool = this.o.config.spool;
    if (!this.queue || !spool) throw new Error('no spool configured');
    const record = await encodeSpoolRecord({ sources, body }, spool.gzipLevel);
    try {
      await this.queue.append([record]);
      this.spoolFull = false;
    } catch (err) {
      if (err instanceof DiskQueueFullError) this.spoolFull = true;
      throw err;
    }
    this.replayer?.notify();
  }
}
