/**
 * Ingest as a sink (bus/sink.ts): each message is validated, turned into line protocol and batched; a batch is made
 * durable (ingest/durable-write.ts: InfluxDB, else the spool) and then each of its messages is acknowledged; an
 * invalid message is dead-lettered (ingest/dead-letters.ts) and acknowledged once the broker confirmed the letter.
 * Outfall loads computed from the readings go behind them in the same write path. When too much is pending (lines
 * above the high-water mark, or `batch.maxUnackedMessages` messages), write() returns a promise that holds the next
 * message back until the writes catch up.
 */
import type { EventEmitter } from 'node:events';
import { unitFactor } from '../core/catalog.ts';
import { CleanstreamError, TransportError } from '../core/errors.ts';
import { DiskQueueFullError } from '../core/disk-queue.ts';
import type { PlantRegistry } from '../core/plants.ts';
import type { BusPublisher } from '../bus/subscriber.ts';
import type { Ack, Sink } from '../bus/sink.ts';
import { WriteBatcher } from './batcher.ts';
import type { IngestConfig } from './config.ts';
import { DeadLetters } from './dead-letters.ts';
import { DurableWrite, type Delivery, type LineTicket } from './durable-write.ts';
import type { IngestEvents } from './events.ts';
import { batchToLines } from './line-protocol.ts';
import { LoadCalculator, loadLine, type OutfallLoad } from './loads.ts';
import { ensureRollups } from './rollups.ts';
import { copyCounters, countFlagged, newCounters, type IngestCounters, type SpoolStats } from './stats.ts';
import { validateMessage } from './validate.ts';
import { createInfluxWriter, InfluxWriteError } from './writer.ts';

/** What ingest takes from the bus: a message's topic and payload. */
export interface IngestMessage {
  readonly topic: string;
  readonly payload: Buffer;
}

export interface IngestSinkStats extends IngestCounters {
  pendingMessages: number;
  pendingLines: number;
  paused: boolean;
  spool: SpoolStats | undefined;
}

export interface IngestSinkOptions {
  config: IngestConfig;
  registry: PlantRegistry | undefined;
  /** Where dead letters go. */
  publisher: BusPublisher;
  events: EventEmitter<IngestEvents>;
  /** How long stop() tries to write what is pending. */
  stopTimeoutMs: number;
  /** One write request answered, for the metrics. */
  observeWrite?(seconds: number, lines: number): void;
}

interface MessageTicket extends LineTicket {
  /** Undefined for lines ingest derived itself (loads): nothing to acknowledge. */
  ack: Ack | undefined;
}

/** The dead-letter topic of derived lines InfluxDB refuses. */
const DERIVED_TOPIC = 'derived/loads';

export class IngestSink implements Sink<IngestMessage, IngestSinkStats> {
  readonly name: string;
  /** Problems met at start that are not fatal (InfluxDB not up yet): the owner reports them once it listens. */
  readonly startupProblems: CleanstreamError[] = [];
  private readonly counters = newCounters();
  private readonly writer;
  private readonly deadLetters: DeadLetters;
  private readonly durable: DurableWrite;
  private readonly batcher: WriteBatcher<MessageTicket, Delivery>;
  private readonly loads: LoadCalculator | undefined;
  private idleLoads: ReturnType<typeof setInterval> | undefined;
  private pendingMessages = 0;
  private paused = false;
  private resumeReading: (() => void) | undefined;
  private stopping = false;
  private stopped: Promise<void> | undefined;

  constructor(private readonly o: IngestSinkOptions) {
    const { config, events } = o;
    this.name = `ingest → influxdb ${config.influx.url}/${config.influx.database}`;
    this.writer = createInfluxWriter(config.influx, { retry: config.retry, gzipLevel: config.write.gzipLevel });
    this.loads = config.loads && o.registry ? new LoadCalculator(o.registry, config.loads) : undefined;
    this.deadLetters = new DeadLetters(o.publisher, events, this.counters, config.deadLetter.maxPayloadBytes, () => this.maybeResume());
    this.durable = new DurableWrite({
      config,
      writer: this.writer,
      events,
      counters: this.counters,
      deadLetters: this.deadLetters,
      observeWrite: (seconds, lines) => o.observeWrite?.(seconds, lines),
      onReplayed: () => this.maybeResume(),
    });
    this.batcher = new WriteBatcher<MessageTicket, Delivery>({
      maxLines: config.batch.maxLines,
      maxDelayMs: config.batch.maxDelayMs,
      highWaterLines: config.batch.highWaterLines ?? config.batch.maxLines * 4,
      retryPauseMs: config.retry.pauseMs,
      concurrency: config.write.concurrency,
      write: (body, signal, tickets, turn) => this.durable.deliver(body, signal, tickets, turn),
      // Refusals are settled inside deliver (split and dead-lettered); nothing reaches the batcher as one.
      isRejection: () => false,
      onWritten: (tickets, lines, latencyMs, delivery) => {
        if (lines > 0) this.counters.lastWriteLatencyMs = latencyMs;
        for (const t of tickets) {
          if (!t.ack) continue;
          if (delivery?.kind === 'spooled') this.counters.spooledReadings += t.readings;
          else this.counters.writtenReadings += t.readings;
          this.pendingMessages--;
          t.ack();
        }
      },
      onRejected() {
        // unreachable: see isRejection
      },
      onWriteError: (err) => {
        // A full spool: the write failure before it was counted in deliver(); the batch is tried again after a pause.
        if (err instanceof DiskQueueFullError) return void events.emit('spoolError', err);
        this.counters.writeErrors++;
        events.emit('writeError', err instanceof CleanstreamError ? err : new TransportError('INFLUX_WRITE', String(err), true, { url: this.writer.writeUrl }, { cause: err }));
      },
      onProgress: () => this.maybeResume(),
    });
  }

  /**
   * Opens InfluxDB (database, rollups) and the spool, and starts replaying it. InfluxDB not up yet is not fatal: the
   * first write creates the database (404 path) once it is; the problem is kept in `startupProblems`.
   */
  async start(): Promise<void> {
    const { config } = this.o;
    try {
      await this.writer.start();
      if (config.rollups && config.influx.createDatabase) {
        await ensureRollups(
          { database: config.influx.database, rawRetentionPolicy: config.influx.retentionPolicy ?? 'autogen', minute: config.rollups.minute, hour: config.rollups.hour },
          (statement) => this.writer.run(statement),
        );
      }
    } catch (err) {
      if (!(err instanceof InfluxWriteError) || err.kind !== 'unavailable') throw err;
      this.startupProblems.push(err);
    }
    await this.durable.open();
    if (this.loads) {
      const loads = this.loads;
      this.idleLoads = setInterval(() => this.addLoads(loads.closeIdle()), Math.min(config.loads?.idleCloseMs ?? 1000, 1000));
      this.idleLoads.unref();
    }
    this.durable.startReplay();
  }

  write(message: IngestMessage, ack: Ack): void | Promise<void> {
    this.pendingMessages++;
    this.accept(message.topic, message.payload, ack);
    if (!this.overloaded()) return;
    // Backpressure: the bus hands nothing more over until this settles; write now rather than waiting for the timer.
    this.paused = true;
    // A hold left from a lost connection belongs to a reader the transport has already discarded: let it go.
    this.resumeReading?.();
    const held = new Promise<void>((resolve) => (this.resumeReading = resolve));
    void this.batcher.flush().catch(() => undefined);
    return held;
  }

  /** Resolves when everything received so far is written to InfluxDB (or dead-lettered) and acknowledged. */
  async flush(): Promise<void> {
    await this.batcher.flush();
    await this.deadLetters.settle();
  }

  /** Writes what was accepted (up to stopTimeoutMs), stops the replayer, closes the spool. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      clearInterval(this.idleLoads);
      if (this.loads) this.addLoads(this.loads.closeAll(), true);
      this.maybeResume();
      await this.batcher.close(this.o.stopTimeoutMs);
      await this.durable.stopReplay();
      await this.deadLetters.settleWithin(Math.min(this.o.stopTimeoutMs, 2000));
      await this.durable.close();
    })();
    return this.stopped;
  }

  /** Whatever lost its way from the bus may resume reading it (the connection dropped: its hold is void). */
  connectionLost(): void {
    this.maybeResume();
  }

  /** Why ingest is not reading from the broker, if it is not (for /readyz). */
  holdingBack(): string | undefined {
    if (this.durable.spoolIsFull) return 'the spool is full: not reading from the broker until it drains';
    if (this.paused) return 'backpressure: too much unwritten, not reading from the broker';
    return undefined;
  }

  stats(): IngestSinkStats {
    return { ...copyCounters(this.counters), pendingMessages: this.pendingMessages, pendingLines: this.batcher.pendingLines, paused: this.paused, spool: this.durable.spoolStats() };
  }

  private overloaded(): boolean {
    return this.batcher.overHighWater || this.pendingMessages >= this.o.config.batch.maxUnackedMessages;
  }

  private maybeResume(): void {
    if (this.resumeReading && (this.stopping || !this.overloaded())) {
      const resume = this.resumeReading;
      this.resumeReading = undefined;
      this.paused = false;
      resume();
    }
  }

  private accept(topic: string, payload: Buffer, ack: Ack): void {
    const { config } = this.o;
    const counters = this.counters;
    counters.receivedMessages++;
    const { maxFutureSkewMs, maxAgeMs, backfill } = config.timestamps;
    const settled = (): void => void this.pendingMessages--;
    const acknowledge = (): void => {
      settled();
      ack();
    };
    let verdict: ReturnType<typeof validateMessage>;
    try {
      verdict = validateMessage(topic, payload, this.o.registry, { now: Date.now(), maxFutureSkewMs, maxAgeMs: backfill ? undefined : maxAgeMs });
    } catch (err) {
      this.deadLetters.reject(topic, payload, 'internal_error', (err as Error).message, acknowledge, settled);
      return;
    }
    if (!verdict.ok) {
      this.deadLetters.reject(topic, payload, verdict.reason, verdict.detail, acknowledge, settled);
      return;
    }
    const readings = verdict.batch.readings;
    const count = readings.length;
    counters.receivedReadings += count;
    for (let i = 0; i < count; i++) {
      const reason = readings[i]!.reason;
      if (reason !== undefined) countFlagged(counters, reason);
    }
    this.batcher.add(batchToLines(verdict.batch), count, { ack, topic, readings: count });
    if (this.loads) {
      const late = this.loads.lateReadings;
      this.addLoads(this.loads.add(verdict.batch.plant, readings, (r) => unitFactor(r.quantity, r.unit) ?? Number.NaN));
      counters.lateLoadReadings += this.loads.lateReadings - late;
    }
  }

  /** Load lines go behind the readings they were computed from, in the same write path (spool included). */
  private addLoads(computed: OutfallLoad[], closing = false): void {
    // Once stop() began, only its own closing loads are added (the batcher is about to close).
    if (computed.length === 0 || (this.stopping && !closing)) return;
    this.counters.loadLines += computed.length;
    this.batcher.add(computed.map(loadLine).join('\n'), computed.length, { ack: undefined, topic: DERIVED_TOPIC, readings: computed.length });
  }
}
