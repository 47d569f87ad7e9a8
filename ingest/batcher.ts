/**
 * Accumulates line protocol into write batches: a batch is cut when it holds `maxLines` lines or its first line has
 * waited `maxDelayMs`. Up to `concurrency` batches are written at once (InfluxDB takes two or more writers far faster
 * than one); they are started in order and may finish in any order. Callers that need order (acknowledgements, the
 * spool) get it from `BatchTurn.earlierSettled()`, which resolves once every earlier batch is done; OrderedAcks
 * (bus/mqtt-acks.ts) releases PUBACKs in arrival order whatever order batches finish in.
 *
 * A batch holds whole entries (one entry = one MQTT message), so it may exceed `maxLines` by less than one message.
 * Each entry carries a ticket (what the caller needs to acknowledge or dead-letter it) handed back once written.
 *
 * Failures: a batch the server refused (`isRejection`, e.g. HTTP 400) is handed to `onRejected` and never retried;
 * any other failure is reported to `onWriteError` and the same batch is tried again after `retryPauseMs`, for as
 * long as it takes: nothing accepted is dropped, and `pendingLines` grows so that the caller can apply backpressure.
 */
import { performance } from 'node:perf_hooks';

export interface BatcherOptions<T, R = void> {
  maxLines: number;
  maxDelayMs: number;
  /** `overHighWater` turns true when this many lines are buffered, queued or in flight. */
  highWaterLines: number;
  /** Pause before writing a batch again after a failure the writer gave up on (default 1000 ms). */
  retryPauseMs?: number;
  /** Batches written at once (default 1). */
  concurrency?: number;
  /** Deliver one batch; `tickets` are its entries' tickets in order (their lines are the body's, in the same order). */
  write(body: string, signal: AbortSignal, tickets: readonly T[], turn: BatchTurn): Promise<R>;
  isRejection(error: unknown): boolean;
  /** `result` is what `write` resolved to (undefined for a batch without lines). */
  onWritten(tickets: T[], lines: number, latencyMs: number, result: R | undefined): void;
  onRejected(tickets: T[], error: unknown): void;
  onWriteError(error: unknown): void;
  /** Called whenever pendingLines went down (a batch completed): a chance to resume a paused consumer. */
  onProgress?(): void;
}

/** Where a batch stands among the others. */
export interface BatchTurn {
  /** Batches are numbered from 1 in the order they were cut. */
  readonly id: number;
  /** Resolves once every earlier batch has been written (or handed to onRejected); rejects when the batcher is aborted. */
  earlierSettled(): Promise<void>;
}

interface Batch<T> {
  id: number;
  chunks: string[];
  tickets: T[];
  lines: number;
}

/** Waits `ms`, or less when the signal aborts (never rejects). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export class BatcherClosedError extends Error {
  constructor() {
    super('the batcher is closed');
    this.name = 'BatcherClosedError';
  }
}

export class WriteBatcher<T, R = void> {
  private current: Batch<T> | undefined;
  private readonly queue: Batch<T>[] = [];
  private nextId = 1;
  /** Every batch with an id up to this one is done. */
  private completedThrough = 0;
  /** Done batches above `completedThrough` (finished ahead of an earlier one). */
  private readonly doneAhead = new Set<number>();
  private pending = 0;
  private inFlight = 0;
  private closed = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly abort = new AbortController();
  private waiters: { id: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  private readonly retryPauseMs: number;
  private readonly concurrency: number;

  constructor(private readonly options: BatcherOptions<T, R>) {
    this.retryPauseMs = options.retryPauseMs ?? 1000;
    this.concurrency = Math.max(1, options.concurrency ?? 1);
  }

  /** Lines accepted and not yet written (buffered, queued or in flight). */
  get pendingLines(): number {
    return this.pending;
  }

  get overHighWater(): boolean {
    return this.pending >= this.options.highWaterLines;
  }

  /** Batches being written now. */
  get writesInFlight(): number {
    return this.inFlight;
  }

  /**
   * Accept one entry: `lines` joined by `\n`, `lineCount` of them (0 is allowed: the ticket is then handed back in
   * order with the batch it falls into, without adding to the write).
   */
  add(lines: string, lineCount: number, ticket: T): void {
    if (this.closed) throw new BatcherClosedError();
    const batch = (this.current ??= { id: this.nextId++, chunks: [], tickets: [], lines: 0 });
    if (lineCount > 0) {
      batch.chunks.push(lines);
      batch.lines += lineCount;
      this.pending += lineCount;
    }
    batch.tickets.push(ticket);
    if (batch.lines >= this.options.maxLines) this.cut();
    else this.timer ??= setTimeout(() => this.cut(), this.options.maxDelayMs);
  }

  /** Resolves when everything accepted before the call has been written (or handed to onRejected). */
  flush(): Promise<void> {
    this.cut();
    return this.settledThrough(this.nextId - 1);
  }

  /**
   * Stop accepting, try to write what is pending within `timeoutMs`, then abandon the rest (the caller has not
   * acknowledged it, so the broker delivers it again). Resolves true when everything was written.
   */
  async close(timeoutMs: number): Promise<boolean> {
    this.closed = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const drained = await Promise.race([this.flush().then(() => true, () => false), timedOut]);
    clearTimeout(timer);
    if (!drained) {
      this.abort.abort(new BatcherClosedError());
      for (const waiter of this.waiters.splice(0)) waiter.reject(new BatcherClosedError());
    }
    return drained;
  }

  private settledThrough(id: number): Promise<void> {
    if (this.completedThrough >= id) return Promise.resolve();
    if (this.abort.signal.aborted) return Promise.reject(new BatcherClosedError());
    return new Promise((resolve, reject) => this.waiters.push({ id, resolve, reject }));
  }

  private cut(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.current) {
      this.queue.push(this.current);
      this.current = undefined;
    }
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < this.concurrency && this.queue.length > 0 && !this.abort.signal.aborted) {
      const batch = this.queue.shift()!;
      this.inFlight++;
      void this.writeBatch(batch).then((written) => {
        this.inFlight--;
        if (!written) return;
        this.pending -= batch.lines;
        this.markDone(batch.id);
        this.options.onProgress?.();
        this.pump();
      });
    }
  }

  private markDone(id: number): void {
    this.doneAhead.add(id);
    while (this.doneAhead.delete(this.completedThrough + 1)) this.completedThrough++;
    if (this.waiters.length === 0) return;
    const due = this.waiters.filter((w) => w.id <= this.completedThrough);
    if (due.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.id > this.completedThrough);
    for (const waiter of due) waiter.resolve();
  }

  /** Writes until it succeeds or is refused (true), or until the batcher is aborted (false). */
  private async writeBatch(batch: Batch<T>): Promise<boolean> {
    if (batch.lines === 0) {
      this.options.onWritten(batch.tickets, 0, 0, undefined);
      return true;
    }
    const body = batch.chunks.length === 1 ? batch.chunks[0]! : batch.chunks.join('\n');
    batch.chunks = [];
    const signal = this.abort.signal;
    const turn: BatchTurn = { id: batch.id, earlierSettled: () => this.settledThrough(batch.id - 1) };
    while (!signal.aborted) {
      const started = performance.now();
      try {
        const result = await this.options.write(body, signal, batch.tickets, turn);
        this.options.onWritten(batch.tickets, batch.lines, performance.now() - started, result);
        return true;
      } catch (err) {
        if (signal.aborted) return false;
        if (this.options.isRejection(err)) {
          this.options.onRejected(batch.tickets, err);
          return true;
        }
        this.options.onWriteError(err);
        await pause(this.retryPauseMs, signal);
      }
    }
    return false;
  }
}
