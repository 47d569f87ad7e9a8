/**
 * HJ 212 uplink: an edge gateway's output to a regulator's platform. It subscribes to the MQTT readings of its
 * stations' plants, computes minute (2051), hourly (2061) and daily (2031) statistics per pollutant on event time
 * (aggregate.ts), keeps each closed interval in a durable per-station outbox (core/disk-queue.ts), and sends them in
 * order over TCP with Flag=5, each acknowledged by a 9014 before the next (station-link.ts). Real-time data (2011,
 * the latest value per pollutant) is sent every `realtimeIntervalMs` when configured.
 *
 * An interval's QN is derived from its DataTime and CN (`YYYYMMDDhhmmss` + the CN's last three digits, e.g.
 * 20240501080000051 for the 08:00 minute), so a packet resent after an outage carries the QN it had the first time
 * and the platform can recognise it. Each station's open intervals, the end of the last closed one per kind and the
 * batches they hold are checkpointed next to the outbox (checkpoint.ts) after each outbox append, every
 * `checkpointIntervalMs` (or `maxUnackedMessages`) and at stop. A message is acknowledged to the broker only once
 * every station it fed has it on disk (bus/mqtt-acks.ts), so a crash loses no reading: the broker delivers again
 * what the checkpoints do not hold, and a batch delivered again that a station holds already is not counted twice.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino, type Logger } from 'pino';
import { watchClientIdClash } from '../bus/client-id-clash.ts';
import { unitFactor, type QuantityId } from '../core/catalog.ts';
import { durableSessionOptions, mqttConnectOptions } from '../core/config.ts';
import { DiskQueue, DiskQueueFullError } from '../core/disk-queue.ts';
import { CheckpointAcks } from '../bus/mqtt-acks.ts';
import { CleanstreamError, ConfigError, PayloadError, TransportError } from '../core/errors.ts';
import { decodeBatch, DEFAULT_MAX_FUTURE_SKEW_MS, type Quality } from '../core/reading.ts';
import { parseReadingsTopic, topics } from '../bus/topics.ts';
import { dataCp, type Hj212PollutantInput } from '../protocols/hj212/cp.ts';
import { quantityForCode, unitForCode } from '../protocols/hj212/codes.ts';
import { formatHj212Time } from '../protocols/hj212/time.ts';
import { IntervalAggregator, type AggregatorOptions, type ClosedInterval, type IntervalKind } from './aggregate.ts';
import { readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import type { UplinkConfig, UplinkStationConfig } from './config.ts';
import { batchKey, RecentBatches } from './recent.ts';
import { StationLink, type OutboxRecord, type StationLinkStats } from './station-link.ts';

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

export interface UplinkStats {
  uplink: string;
  mqttConnected: boolean;
  messages: number;
  /** Messages not yet acknowledged to the broker (waiting for a checkpoint to hold them). */
  unackedMessages: number;
  /** Readings that fed at least one station. */
  readings: number;
  /** Messages that were not valid ReadingBatches. */
  rejectedMessages: number;
  stations: UplinkStationStats[];
}

export interface RunningUplink {
  /** Stops sending (unacknowledged intervals stay in the outbox for the next start) and disconnects. */
  stop(): Promise<void>;
  stats(): UplinkStats;
}

export interface StartUplinkOptions {
  logger?: Logger;
  /** Every error, also logged. */
  onError?: (err: CleanstreamError) => void;
  /** How long start() waits for the broker (default 30 s). */
  connectTimeoutMs?: number;
}

/** The QN of an interval: its DataTime and the last three digits of its CN, the same on every resend. */
export function intervalQn(dataTime: number, cn: string, utcOffsetMinutes: number): string {
  return formatHj212Time(dataTime, utcOffsetMinutes) + cn.slice(1);
}

/** Values are sent with at most 4 decimals: more than any analyser resolves, and short frames. */
const figure = (value: number | null | undefined): number | null | undefined => (value === null || value === undefined ? value : Number(value.toFixed(4)));

/** The CP of a closed interval in the layout of HJ 212-2017 data uploads: DataTime, then per pollutant Min/Avg/Max/Cou and Flag. */
export function intervalCp(interval: ClosedInterval, utcOffsetMinutes: number): OutboxRecord['cp'] {
  const pollutants: Hj212PollutantInput[] = interval.pollutants.map((p) => {
    const values: Hj212PollutantInput['values'] = { Min: figure(p.min) as number | null, Avg: figure(p.avg) as number | null, Max: figure(p.max) as number | null };
    if (p.cou !== undefined) values.Cou = figure(p.cou) as number;
    return { code: p.code, values, flag: p.flag };
  });
  return dataCp(interval.start, pollutants, utcOffsetMinutes);
}

const REALTIME_FLAG: Readonly<Record<Quality, string>> = { good: 'N', uncertain: 'M', bad: 'D' };

interface Route {
  station: Station;
  code: string;
  /** Factor from the quantity's canonical unit to the code's HJ 212 unit. */
  fromCanonical: number;
}

interface Station {
  config: UplinkStationConfig;
  dir: string;
  aggregator: IntervalAggregator;
  queue: DiskQueue;
  link: StationLink;
  /** Outbox writes in closing order. */
  chain: Promise<void>;
  intervals: number;
  outboxFull: number;
  lastRealtimeTs: number;
  lastRealtimeQnMs: number;
  /** The batches the aggregator has counted lately (saved with it). */
  recent: RecentBatches;
  duplicates: number;
  /** The aggregator's version at the last checkpoint taken (-1: the last one failed, take the next whatever the version). */
  checkpointed: number;
  /** The aggregator's version the newest checkpoint on disk holds. */
  durable: number;
}

/** Restores a station's aggregator and recent batches from its checkpoint; an unreadable one is reported and the station starts afresh. */
function restoredState(dir: string, mn: string, options: AggregatorOptions, report: (err: CleanstreamError) => void): { aggregator: IntervalAggregator; recent: RecentBatches } {
  try {
    const saved = readCheckpoint(dir);
    if (saved.kind === 'state') return { aggregator: new IntervalAggregator({ ...options, state: saved.state }), recent: new RecentBatches(saved.recent) };
    if (saved.kind === 'closed') return { aggregator: new IntervalAggregator({ ...options, closedUpTo: saved.closedUpTo }), recent: new RecentBatches() };
  } catch (err) {
    report(new CleanstreamError('UPLINK_STATE', `station ${mn}: the checkpoint cannot be read, starting without it (intervals may be sent again): ${(err as Error).message}`, { mn, dir }, { cause: err }));
  }
  return { aggregator: new IntervalAggregator(options), recent: new RecentBatches() };
}

function routesFor(config: UplinkConfig, stations: Station[]): Map<string, Map<string, Route[]>> {
  const routes = new Map<string, Map<string, Route[]>>();
  const issues: { path: string; expected: string }[] = [];
  stations.forEach((station, si) => {
    station.config.pollutants.forEach((p, pi) => {
      const quantity = quantityForCode(p.code) as QuantityId;
      const unit = unitForCode(p.code) as string;
      const factor = unitFactor(quantity, unit);
      if (factor === undefined) {
        issues.push({ path: `stations[${si}].pollutants[${pi}].code`, expected: `a code whose HJ 212 unit converts to ${quantity} (${unit} does not)` });
        return;
      }
      let byPoint = routes.get(station.config.plant);
      if (!byPoint) routes.set(station.config.plant, (byPoint = new Map()));
      const key = `${p.meter}|${quantity}`;
      const list = byPoint.get(key) ?? [];
      list.push({ station, code: p.code, fromCanonical: 1 / factor });
      byPoint.set(key, list);
    });
  });
  if (issues.length) throw new ConfigError(`uplink ${config.id}`, issues);
  return routes;
}

export async function startHj212Uplink(config: UplinkConfig, opts: StartUplinkOptions = {}): Promise<RunningUplink> {
  const logger = (opts.logger ?? pino({ name: 'uplink' })).child({ uplink: config.id });
  const report = (err: CleanstreamError): void => {
    logger.warn({ code: err.code, context: err.context }, err.message);
    opts.onError?.(err);
  };
  const kinds: IntervalKind[] = [...(config.send.minute ? ['minute' as const] : []), ...(config.send.hourly ? ['hour' as const] : []), ...(config.send.daily ? ['day' as const] : [])];

  const stations: Station[] = [];
  const closeAll = async (): Promise<void> => {
    await Promise.all(stations.map((s) => s.link.stop()));
    await Promise.all(stations.map((s) => s.chain));
    await Promise.all(stations.map((s) => s.queue.close()));
  };
  try {
    for (const stationConfig of config.stations) {
      const dir = path.join(config.outbox.dir, stationConfig.mn);
      mkdirSync(dir, { recursive: true });
      const queue = await DiskQueue.open({ dir: path.join(dir, 'outbox'), maxBytes: config.outbox.maxBytes });
      queue.on('error', (err) => report(new CleanstreamError('UPLINK_OUTBOX', `station ${stationConfig.mn}: ${err.message}`, { mn: stationConfig.mn }, { cause: err })));
      queue.on('warning', (info) => logger.warn({ mn: stationConfig.mn, ...info }, 'outbox is filling up: the platform has not acknowledged for a while'));
      const link = new StationLink(
        {
          host: config.platform.host,
          port: config.platform.port,
          mn: stationConfig.mn,
          pw: stationConfig.pw,
          st: stationConfig.st,
          version: config.platform.version,
          crc: config.platform.crc,
          overTimeMs: config.overTimeMs,
          reCount: config.reCount,
          backoff: config.reconnect,
        },
        queue,
      );
      link.on('error', report);
      link.on('connected', () => logger.info({ mn: stationConfig.mn }, 'connected to the platform'));
      const { aggregator, recent } = restoredState(
        dir,
        stationConfig.mn,
        { kinds, latenessMs: config.latenessMs, utcOffsetMinutes: config.utcOffsetMinutes, ...(config.sendEmptyIntervals ? { codes: stationConfig.pollutants.map((p) => p.code) } : {}) },
        report,
      );
      stations.push({ config: stationConfig, dir, aggregator, recent, duplicates: 0, queue, link, chain: Promise.resolve(), intervals: 0, outboxFull: 0, lastRealtimeTs: Number.NEGATIVE_INFINITY, lastRealtimeQnMs: 0, checkpointed: aggregator.version, durable: aggregator.version });
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  const routes = routesFor(config, stations);
  const stationsOfPlant = new Map<string, Station[]>();
  for (const station of stations) stationsOfPlant.set(station.config.plant, [...(stationsOfPlant.get(station.config.plant) ?? []), station]);

  /**
   * Saves the station's open state as it is now, after the outbox writes already chained: the checkpoint then never
   * claims an interval closed that is not in the outbox yet.
   */
  const checkpoint = (station: Station): void => {
    const version = station.aggregator.version;
    station.checkpointed = version;
    const state = station.aggregator.snapshot();
    const recent = station.recent.snapshot();
    station.chain = station.chain
      .then(() => writeCheckpoint(station.dir, state, recent))
      .then(
        () => void (station.durable = Math.max(station.durable, version)),
        (err: unknown) => {
          station.checkpointed = -1;
          report(new CleanstreamError('UPLINK_STATE', `station ${station.config.mn}: saving the checkpoint failed: ${(err as Error).message}`, { mn: station.config.mn }, { cause: err }));
        },
      );
  };

  const enqueue = (station: Station, closed: ClosedInterval[]): void => {
    if (closed.length === 0) return;
    const records = closed.map((interval): OutboxRecord => ({ qn: intervalQn(interval.start, interval.cn, config.utcOffsetMinutes), cn: interval.cn, dataTime: interval.start, cp: intervalCp(interval, config.utcOffsetMinutes) }));
    station.chain = station.chain
      .then(() => station.queue.append(records.map((r) => Buffer.from(JSON.stringify(r)))))
      .then(
        () => {
          station.intervals += records.length;
          station.link.notify();
        },
        (err: unknown) => {
          if (err instanceof DiskQueueFullError) station.outboxFull += records.length;
          report(new CleanstreamError('UPLINK_OUTBOX', `station ${station.config.mn}: ${records.length} intervals (${records[0]?.qn} ...) not queued: ${(err as Error).message}`, { mn: station.config.mn }, { cause: err }));
        },
      );
    scheduleCheckpoint();
  };

  const counters = { messages: 0, readings: 0, rejectedMessages: 0 };
  /** Whether arriving messages are counted (and later acknowledged); not while stopping, so the next start gets them. */
  let accepting = true;
  const onMessage = (topic: string, payload: Buffer): void => {
    if (!accepting) return;
    counters.messages++;
    if (acks.outstanding >= config.maxUnackedMessages && !checkpointing) scheduleCheckpoint();
    const where = parseReadingsTopic(topic);
    const byPoint = where && routes.get(where.plant);
    if (!where || !byPoint) return;
    let batch;
    try {
      // Not from the future (as ingest refuses it): a regulator must never receive a reading stamped 2200.
      batch = decodeBatch(payload, { now: Date.now(), maxFutureSkewMs: DEFAULT_MAX_FUTURE_SKEW_MS, maxAgeMs: undefined });
    } catch (err) {
      counters.rejectedMessages++;
      if (err instanceof PayloadError) report(new CleanstreamError('UPLINK_PAYLOAD', `ignored a message on ${topic}: ${err.message}`, { topic, reason: err.reason }, { cause: err }));
      return;
    }
    // a batch delivered again is skipped by the stations of its plant that counted it already
    const key = batchKey(batch.gateway, batch.seq, batch.sentAt);
    let repeated: Set<Station> | undefined;
    for (const station of stationsOfPlant.get(where.plant)!) {
      if (station.recent.add(key)) continue;
      station.duplicates++;
      (repeated ??= new Set()).add(station);
    }
    const touched = new Set<Station>();
    for (const r of batch.readings) {
      const targets = byPoint.get(`${r.meter}|${r.quantity}`);
      if (!targets) continue;
      const toCanonical = unitFactor(r.quantity, r.unit) as number;
      let fed = false;
      for (const route of targets) {
        if (repeated?.has(route.station)) continue;
        const value = r.value === null ? null : r.value * toCanonical * route.fromCanonical;
        route.station.aggregator.add(route.code, value, r.quality, r.ts);
        touched.add(route.station);
        fed = true;
      }
      if (fed) counters.readings++;
    }
    for (const station of touched) enqueue(station, station.aggregator.advance());
  };

  const sendRealtime = (): void => {
    for (const station of stations) {
      const latest = station.aggregator.latest();
      let newest = Number.NEGATIVE_INFINITY;
      for (const v of latest.values()) if (v.ts > newest) newest = v.ts;
      if (!(newest > station.lastRealtimeTs)) continue;
      station.lastRealtimeTs = newest;
      const pollutants: Hj212PollutantInput[] = [...latest].map(([code, v]) => ({ code, values: { Rtd: figure(v.value) as number | null }, flag: REALTIME_FLAG[v.quality] }));
      const qnMs = Math.max(Date.now(), station.lastRealtimeQnMs + 1);
      station.lastRealtimeQnMs = qnMs;
      station.link.setRealtime(formatHj212Time(qnMs, config.utcOffsetMinutes, true), dataCp(newest, pollutants, config.utcOffsetMinutes));
    }
  };

  for (const station of stations) station.link.start();

  const clientId = config.mqtt.clientId ?? `cleanstream-uplink-${config.id}`;
  const client: MqttClient = mqtt.connect(config.mqtt.url, { ...mqttConnectOptions(config.mqtt), clientId, ...durableSessionOptions(config.mqtt, config.sessionExpirySeconds) });
  watchClientIdClash(client, clientId, (message, context) => logger.warn(context, message));
  const acks = new CheckpointAcks(client, () => accepting);

  /**
   * Checkpoint every station changed since its last one, then acknowledge the messages that arrived before: each
   * station's statistics are on disk with the batches they hold (a redelivered one is recognised), and a message is
   * acknowledged only once every station it fed has it on disk. Never called from within a message's handler, where
   * the message is counted but not yet tracked for its PUBACK. One at a time (a call meanwhile runs once it is done),
   * so that each release covers more than the one before and the stations' recent batches rotate in step with them.
   */
  const checkpointOnce = async (): Promise<void> => {
    const mark = acks.mark();
    const versions = stations.map((s) => s.aggregator.version);
    for (const station of stations) if (station.aggregator.version !== station.checkpointed) checkpoint(station);
    await Promise.all(stations.map((s) => s.chain));
    if (!stations.every((s, i) => s.durable >= versions[i]!)) return; // a write failed (reported): acknowledge nothing
    await acks.release(mark);
    for (const s of stations) s.recent.rotate();
  };
  let checkpointing: Promise<void> | undefined;
  let checkpointQueued: Promise<void> | undefined;
  const checkpointAll = (): Promise<void> => {
    if (!checkpointing) return (checkpointing = checkpointOnce().finally(() => (checkpointing = undefined)));
    return (checkpointQueued ??= checkpointing.then(() => {
      checkpointQueued = undefined;
      return checkpointAll();
    }));
  };
  let checkpointDue: NodeJS.Immediate | undefined;
  /** A checkpoint soon, once the message being handled is tracked (closed intervals just went into the outbox, or many messages wait). */
  function scheduleCheckpoint(): void {
    checkpointDue ??= setImmediate(() => {
      checkpointDue = undefined;
      void checkpointAll();
    });
  }
  const filters = [...new Set(config.stations.map((s) => topics.readingsFilter(s.plant)))];
  let subscribed: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (subscribed = resolve));
  client.on('message', onMessage);
  client.on('error', (err) => report(new TransportError('MQTT_CONNECTION', `uplink ${config.id}: broker ${config.mqtt.url}: ${err.message}`, true, { url: config.mqtt.url }, { cause: err })));
  client.on('connect', () => {
    client.subscribe(filters, { qos: 1 }, (err, granted) => {
      if (err) report(new TransportError('MQTT_SUBSCRIBE', `uplink ${config.id}: subscribing to ${filters.join(', ')} failed: ${err.message}`, true, { filters }, { cause: err }));
      else if (granted?.some((g) => g.qos === 128)) report(new TransportError('MQTT_SUBSCRIBE', `uplink ${config.id}: the broker refused a subscription to ${filters.join(', ')}`, false, { filters }));
      else subscribed();
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timeoutMs = opts.connectTimeoutMs ?? 30_000;
      const timer = setTimeout(() => reject(new TransportError('MQTT_CONNECT', `uplink ${config.id}: no subscription at the broker ${config.mqtt.url} within ${timeoutMs} ms`, true, { url: config.mqtt.url })), timeoutMs);
      void ready.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  } catch (err) {
    await client.endAsync(true);
    await closeAll();
    throw err;
  }
  const realtimeTimer = config.realtimeIntervalMs ? setInterval(sendRealtime, config.realtimeIntervalMs) : undefined;
  const checkpointTimer = setInterval(() => void checkpointAll(), config.checkpointIntervalMs);
  logger.info({ stations: stations.map((s) => s.config.mn), platform: `${config.platform.host}:${config.platform.port}` }, 'uplink started');

  let stopping: Promise<void> | undefined;
  return {
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(realtimeTimer);
        clearInterval(checkpointTimer);
        // What arrives from now on is neither counted nor acknowledged: the broker keeps it for the next start.
        accepting = false;
        if (checkpointDue) clearImmediate(checkpointDue);
        await checkpointAll();
        await client.endAsync();
        client.off('message', onMessage);
        await closeAll();
      })()),
    stats: () => ({
      uplink: config.id,
      mqttConnected: client.connected,
      ...counters,
      unackedMessages: acks.outstanding,
      stations: stations.map((s) => ({ mn: s.config.mn, plant: s.config.plant, ...s.link.stats(), intervals: s.intervals, lateReadings: s.aggregator.late, outboxFull: s.outboxFull, emptySkipped: s.aggregator.skippedEmpty, duplicates: s.duplicates })),
    }),
  };
}
