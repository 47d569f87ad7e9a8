/**
 * The HJ 212 uplink as a sink (bus/sink.ts): each readings batch feeds the statistics of the stations that report its
 * plant (unit conversion: routes.ts; aggregation: aggregate.ts); intervals that close go into each station's durable
 * outbox and on to the platform (station.ts). Its ack is held (bus/held-acks.ts) until every station has checkpointed
 * the statistics the batch fed, after each outbox append, every `checkpointIntervalMs`, when `maxUnackedMessages`
 * wait, and at stop: a crash loses nothing, the transport delivers again what no checkpoint holds.
 *
 * A batch delivered again that a station's checkpoint already holds is recognised by that station (recent.ts) and not
 * counted twice; this is per station rather than the subscriber's dedup, because each station's checkpoint is its
 * own: one may hold a batch that another (whose checkpoint failed, or that is new in the config) still needs.
 */
import type { Logger } from 'pino';
import { HeldAcks } from '../bus/held-acks.ts';
import type { Ack, Sink, SinkStats } from '../bus/sink.ts';
import type { DecodeOptions } from '../bus/subscriber.ts';
import { parseReadingsTopic } from '../bus/topics.ts';
import { unitFactor } from '../core/catalog.ts';
import { CleanstreamError, PayloadError } from '../core/errors.ts';
import { decodeBatch, DEFAULT_MAX_FUTURE_SKEW_MS, type ReadingBatch } from '../core/reading.ts';
import type { IntervalKind } from './aggregate.ts';
import type { UplinkConfig } from './config.ts';
import { batchKey } from './recent.ts';
import { Routes } from './routes.ts';
import { Station, type Report, type UplinkStationStats } from './station.ts';

/** A readings batch of a plant some station reports. */
export interface PlantBatch {
  /** From the topic. */
  plant: string;
  batch: ReadingBatch;
}

/** A message as the uplink takes it: decoded by the subscriber with `readingsDecoder`. */
export interface UplinkMessage {
  readonly topic: string;
  /** null for a topic of a plant no station reports (counted, nothing else). */
  readonly decoded: PlantBatch | null | undefined;
  readonly decodeError: Error | undefined;
}

/**
 * Decodes as every stage decodes readings (core/reading.ts): a value outside its quantity's physical range arrives as
 * bad without a value, and a batch stamped more than 5 minutes ahead of the clock is refused (as ingest refuses it),
 * so that a regulator never receives a reading from 2200. Old readings are taken: a backlog replayed closes intervals.
 */
export function readingsDecoder(routes: Routes): DecodeOptions<PlantBatch | null> {
  return {
    decode(topic, payload) {
      const where = parseReadingsTopic(topic);
      if (!where || !routes.reports(where.plant)) return null;
      return { plant: where.plant, batch: decodeBatch(payload, { now: Date.now(), maxFutureSkewMs: DEFAULT_MAX_FUTURE_SKEW_MS, maxAgeMs: undefined }) };
    },
  };
}

export interface UplinkSinkStats extends SinkStats {
  /** Messages handed over (receivedMessages, by its older name). */
  messages: number;
  /** Readings that fed at least one station. */
  readings: number;
  /** Messages that were not valid ReadingBatches. */
  rejectedMessages: number;
  stations: UplinkStationStats[];
}

export interface UplinkSinkOptions {
  logger: Logger;
  report: Report;
}

export class UplinkSink implements Sink<UplinkMessage, UplinkSinkStats> {
  readonly name: string;
  readonly routes: Routes;
  private stations: Station[] = [];
  private readonly stationsOfPlant = new Map<string, Station[]>();
  private readonly acks = new HeldAcks();
  private readonly counters = { messages: 0, readings: 0, rejectedMessages: 0 };
  private timers: NodeJS.Timeout[] = [];
  private checkpointing: Promise<void> | undefined;
  private checkpointQueued: Promise<void> | undefined;
  private checkpointDue: NodeJS.Immediate | undefined;
  private stopping = false;
  private stopped: Promise<void> | undefined;

  /** Throws a ConfigError for a pollutant code whose unit does not convert (routes.ts). */
  constructor(
    private readonly config: UplinkConfig,
    private readonly o: UplinkSinkOptions,
  ) {
    this.name = `uplink ${config.id} → hj212 ${config.platform.host}:${config.platform.port}`;
    this.routes = new Routes(config);
  }

  /** Opens every station's outbox and checkpoint, starts their links and the checkpoint and real-time timers. */
  async start(): Promise<void> {
    const { config } = this;
    const kinds: IntervalKind[] = [...(config.send.minute ? ['minute' as const] : []), ...(config.send.hourly ? ['hour' as const] : []), ...(config.send.daily ? ['day' as const] : [])];
    try {
      for (const station of config.stations) {
        const codes = config.sendEmptyIntervals ? { codes: station.pollutants.map((p) => p.code) } : {};
        this.stations.push(await Station.open(station, config, { kinds, latenessMs: config.latenessMs, utcOffsetMinutes: config.utcOffsetMinutes, ...codes }, this.o.logger, this.o.report));
      }
    } catch (err) {
      await Promise.all(this.stations.map((s) => s.close()));
      this.stations = [];
      throw err;
    }
    for (const s of this.stations) this.stationsOfPlant.set(s.config.plant, [...(this.stationsOfPlant.get(s.config.plant) ?? []), s]);
    for (const s of this.stations) s.start();
    if (config.realtimeIntervalMs) this.timers.push(setInterval(() => this.stations.forEach((s) => s.sendRealtime()), config.realtimeIntervalMs));
    this.timers.push(setInterval(() => void this.checkpointAll(), config.checkpointIntervalMs));
  }

  write(message: UplinkMessage, ack: Ack): void {
    // Not counted nor acknowledged while stopping: the transport delivers it again to the next start.
    if (this.stopping) return;
    this.acks.hold(ack);
    this.counters.messages++;
    if (this.acks.outstanding >= this.config.maxUnackedMessages && !this.checkpointing) this.scheduleCheckpoint();
    const { topic, decoded, decodeError } = message;
    if (decodeError) {
      this.counters.rejectedMessages++;
      if (decodeError instanceof PayloadError) this.o.report(new CleanstreamError('UPLINK_PAYLOAD', `ignored a message on ${topic}: ${decodeError.message}`, { topic, reason: decodeError.reason }, { cause: decodeError }));
      return;
    }
    if (!decoded) return;
    const { plant, batch } = decoded;
    // a batch delivered again is skipped by the stations of its plant that counted it already
    const key = batchKey(batch.gateway, batch.seq, batch.sentAt);
    const counting = new Set((this.stationsOfPlant.get(plant) ?? []).filter((s) => s.firstSight(key)));
    const touched = new Set<Station>();
    for (const r of batch.readings) {
      const routes = this.routes.of(plant, r);
      if (routes.length === 0) continue;
      const toCanonical = unitFactor(r.quantity, r.unit) as number;
      let fed = false;
      for (const route of routes) {
        const station = this.stations[route.station]!;
        if (!counting.has(station)) continue;
        station.aggregator.add(route.code, r.value === null ? null : r.value * toCanonical * route.fromCanonical, r.quality, r.ts);
        touched.add(station);
        fed = true;
      }
      if (fed) this.counters.readings++;
    }
    for (const station of touched) if (station.enqueue(station.aggregator.advance())) this.scheduleCheckpoint();
  }

  /** Checkpoints every station and acknowledges what was written before. */
  flush(): Promise<void> {
    return this.checkpointAll();
  }

  /** Checkpoints (acknowledging what it covers), stops sending (the outbox keeps the rest) and closes. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      this.timers.forEach((t) => clearInterval(t));
      if (this.checkpointDue) clearImmediate(this.checkpointDue);
      await this.checkpointAll();
      await Promise.all(this.stations.map((s) => s.close()));
    })();
    return this.stopped;
  }

  stats(): UplinkSinkStats {
    return { receivedMessages: this.counters.messages, pendingMessages: this.acks.outstanding, ...this.counters, stations: this.stations.map((s) => s.stats()) };
  }

  /**
   * Checkpoint every station changed since its last one, then acknowledge the messages written before: each station's
   * statistics are on disk with the batches they hold (a redelivered one is recognised), and a message is
   * acknowledged only once every station it fed has it on disk. One at a time (a call meanwhile runs once it is
   * done), so that each release covers more than the one before and the stations' recent batches rotate in step.
   */
  private async checkpointOnce(): Promise<void> {
    const mark = this.acks.mark();
    const saved = await Promise.all(this.stations.map((s) => s.checkpoint()));
    if (!saved.every(Boolean)) return; // a write failed (reported): acknowledge nothing
    await this.acks.release(mark);
    for (const s of this.stations) s.acknowledged();
  }

  private checkpointAll(): Promise<void> {
    if (!this.checkpointing) return (this.checkpointing = this.checkpointOnce().finally(() => (this.checkpointing = undefined)));
    return (this.checkpointQueued ??= this.checkpointing.then(() => {
      this.checkpointQueued = undefined;
      return this.checkpointAll();
    }));
  }

  /** A checkpoint soon, after the messages already waiting (closed intervals just went into the outbox, or many messages wait). */
  private scheduleCheckpoint(): void {
    if (this.stopping) return;
    this.checkpointDue ??= setImmediate(() => {
      this.checkpointDue = undefined;
      void this.checkpointAll();
    });
  }
}
