/**
 * One monitoring station of the uplink (one MN): its aggregator restored from its checkpoint, its durable outbox, its
 * link to the platform, the batches its statistics hold (recent.ts), and the writes that keep them on disk in order:
 * closed intervals are appended to the outbox, and a checkpoint is chained behind the appends already made, so that it
 * never claims an interval closed that is not in the outbox yet.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { DiskQueue, DiskQueueFullError } from '../core/disk-queue.ts';
import { CleanstreamError } from '../core/errors.ts';
import { formatHj212Time } from '../protocols/hj212/time.ts';
import { IntervalAggregator, type AggregatorOptions, type ClosedInterval } from './aggregate.ts';
import { readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import type { UplinkConfig, UplinkStationConfig } from './config.ts';
import { intervalRecord, realtimeCp } from './packets.ts';
import { RecentBatches } from './recent.ts';
import { StationLink, type StationLinkStats } from './station-link.ts';
import { resolveSm4 } from '../protocols/hj212/sm4-config.ts';

export interface UplinkStationStats extends StationLinkStats {
  mn: string;
  plant: string;
  /** Intervals closed and put in the outbox since start. */
  intervals: number;
  /** Readings that arrived after their interval had been closed and sent. */
  lateReadings: number;
  /** Intervals lost because the outbox was full. */
  outboxFull: number;
  /** Empty intervals not sent because a gap was longer than a week of them. */
  emptySkipped: number;
  /** Batches delivered again (after a reconnect or a crash) that this station had counted already: not counted twice. */
  duplicates: number;
}

export type Report = (err: CleanstreamError) => void;

/** Restores a station's aggregator and recent batches from its checkpoint; an unreadable one is reported and the station starts afresh. */
function restoredState(dir: string, mn: string, options: AggregatorOptions, report: Report): { aggregator: IntervalAggregator; recent: RecentBatches } {
  try {
    const saved = readCheckpoint(dir);
    if (saved.kind === 'state') return { aggregator: new IntervalAggregator({ ...options, state: saved.state }), recent: new RecentBatches(saved.recent) };
    if (saved.kind === 'closed') return { aggregator: new IntervalAggregator({ ...options, closedUpTo: saved.closedUpTo }), recent: new RecentBatches() };
  } catch (err) {
    report(new CleanstreamError('UPLINK_STATE', `station ${mn}: the checkpoint cannot be read, starting without it (intervals may be sent again): ${(err as Error).message}`, { mn, dir }, { cause: err }));
  }
  return { aggregator: new IntervalAggregator(options), recent: new RecentBatches() };
}

export class Station {
  /** Outbox appends and checkpoint writes, in order. */
  private chain: Promise<void> = Promise.resolve();
  private intervals = 0;
  private outboxFull = 0;
  private duplicates = 0;
  private lastRealtimeTs = Number.NEGATIVE_INFINITY;
  private lastRealtimeQnMs = 0;
  /** The aggregator's version at the last checkpoint taken (-1: the last one failed, take the next whatever the version). */
  private checkpointed: number;
  /** The aggregator's version the newest checkpoint on disk holds. */
  private durable: number;

  private constructor(
    readonly config: UplinkStationConfig,
    private readonly uplink: UplinkConfig,
    private readonly dir: string,
    readonly aggregator: IntervalAggregator,
    private readonly recent: RecentBatches,
    private readonly queue: DiskQueue,
    private readonly link: StationLink,
    private readonly report: Report,
  ) {
    this.checkpointed = aggregator.version;
    this.durable = aggregator.version;
  }

  /** Opens the station's outbox (`outbox.dir/<MN>/outbox`) and restores its checkpoint; the link is not started yet. */
  static async open(config: UplinkStationConfig, uplink: UplinkConfig, aggregatorOptions: AggregatorOptions, logger: Logger, report: Report): Promise<Station> {
    const dir = path.join(uplink.outbox.dir, config.mn);
    mkdirSync(dir, { recursive: true });
    const queue = await DiskQueue.open({ dir: path.join(dir, 'outbox'), maxBytes: uplink.outbox.maxBytes });
    queue.on('error', (err) => report(new CleanstreamError('UPLINK_OUTBOX', `station ${config.mn}: ${err.message}`, { mn: config.mn }, { cause: err })));
    queue.on('warning', (info) => logger.warn({ mn: config.mn, ...info }, 'outbox is filling up: the platform has not acknowledged for a while'));
    const { platform } = uplink;
    const link = new StationLink(
      { host: platform.host, port: platform.port, mn: config.mn, pw: config.pw, st: config.st, version: platform.version, crc: platform.crc, overTimeMs: uplink.overTimeMs, reCount: uplink.reCount, backoff: uplink.reconnect,
        ...(config.sm4 ? { sm4: resolveSm4(config.sm4) } : {}), ...(platform.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: platform.heartbeatIntervalMs } : {}) },
      queue,
    );
    link.on('error', report);
    link.on('connected', () => logger.info({ mn: config.mn }, 'connected to the platform'));
    const { aggregator, recent } = restoredState(dir, config.mn, aggregatorOptions, report);
    return new Station(config, uplink, dir, aggregator, recent, queue, link, report);
  }

  start(): void {
    this.link.start();
  }

  /** Whether the batch `key` is new to this station (a batch delivered again is counted in `duplicates`). */
  firstSight(key: string): boolean {
    if (this.recent.add(key)) return true;
    this.duplicates++;
    return false;
  }

  /** Appends the intervals to the outbox behind the writes already chained; true when there were any. */
  enqueue(closed: ClosedInterval[]): boolean {
    if (closed.length === 0) return false;
    const records = closed.map((interval) => intervalRecord(interval, this.uplink.utcOffsetMinutes));
    this.chain = this.chain
      .then(() => this.queue.append(records.map((r) => Buffer.from(JSON.stringify(r)))))
      .then(
        () => {
          this.intervals += records.length;
          this.link.notify();
        },
        (err: unknown) => {
          if (err instanceof DiskQueueFullError) this.outboxFull += records.length;
          this.report(new CleanstreamError('UPLINK_OUTBOX', `station ${this.config.mn}: ${records.length} intervals (${records[0]?.qn} ...) not queued: ${(err as Error).message}`, { mn: this.config.mn }, { cause: err }));
        },
      );
    return true;
  }

  /**
   * Saves the station's open state as it is now (when it changed since the last checkpoint), behind the outbox
   * writes already chained. Resolves with whether the station's state as it was at the call is on disk.
   */
  async checkpoint(): Promise<boolean> {
    const version = this.aggregator.version;
    if (version !== this.checkpointed) {
      this.checkpointed = version;
      const state = this.aggregator.snapshot();
      const recent = this.recent.snapshot();
      this.chain = this.chain
        .then(() => writeCheckpoint(this.dir, state, recent))
        .then(
          () => void (this.durable = Math.max(this.durable, version)),
          (err: unknown) => {
            this.checkpointed = -1;
            this.report(new CleanstreamError('UPLINK_STATE', `station ${this.config.mn}: saving the checkpoint failed: ${(err as Error).message}`, { mn: this.config.mn }, { cause: err }));
          },
        );
    }
    await this.chain;
    return this.durable >= version;
  }

  /** Acknowledgements the checkpoints cover were released: what they covered can no longer come again, after a few more. */
  acknowledged(): void {
    this.recent.rotate();
  }

  /** Hands the link the newest value per pollutant as 2011, when something newer than the last arrived. */
  sendRealtime(): void {
    const latest = this.aggregator.latest();
    let newest = Number.NEGATIVE_INFINITY;
    for (const v of latest.values()) if (v.ts > newest) newest = v.ts;
    if (!(newest > this.lastRealtimeTs)) return;
    this.lastRealtimeTs = newest;
    const qnMs = Math.max(Date.now(), this.lastRealtimeQnMs + 1);
    this.lastRealtimeQnMs = qnMs;
    this.link.setRealtime(formatHj212Time(qnMs, this.uplink.utcOffsetMinutes, true), realtimeCp(latest, newest, this.uplink.utcOffsetMinutes));
  }

  /** Stops sending (unacknowledged intervals stay in the outbox) once the chained writes are done, and closes the outbox. */
  async close(): Promise<void> {
    await this.link.stop();
    await this.chain;
    await this.queue.close();
  }

  stats(): UplinkStationStats {
    const a = this.aggregator;
    return { mn: this.config.mn, plant: this.config.plant, ...this.link.stats(), intervals: this.intervals, lateReadings: a.late, outboxFull: this.outboxFull, emptySkipped: a.skippedEmpty, duplicates: this.duplicates };
  }
}
