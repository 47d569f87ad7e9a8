/**
 * HJ 212 uplink: an edge gateway's output to a regulator's platform. This file is wiring: the bus's durable subscriber
 * (bus/mqtt/durable-subscriber.ts: persistent session `cleanstream-uplink-<id>`, QoS 1 subscriptions to the readings
 * of its stations' plants, decode) feeds the uplink's sink (sink.ts), which computes minute (2051), hourly (2061) and
 * daily (2031) statistics per pollutant on event time (aggregate.ts), keeps each closed interval in a durable
 * per-station outbox and sends them in order over TCP with Flag=5, each acknowledged by a 9014 before the next
 * (station.ts, station-link.ts), and sends real-time data (2011) every `realtimeIntervalMs` when configured.
 *
 * An interval's QN is derived from its DataTime and CN (packets.ts), so a packet resent after an outage carries the
 * QN it had the first time. A message is acknowledged to the broker only once every station it fed has checkpointed
 * it (checkpoint.ts), so a crash loses no reading: the broker delivers again what the checkpoints do not hold, and a
 * batch delivered again that a station holds already is not counted twice.
 */
import { pino, type Logger } from 'pino';
import { createMqttSubscriber } from '../bus/mqtt/durable-subscriber.ts';
import { topics } from '../bus/topics.ts';
import { CleanstreamError, TransportError } from '../core/errors.ts';
import type { UplinkConfig } from './config.ts';
import { readingsDecoder, UplinkSink } from './sink.ts';
import type { UplinkStationStats } from './station.ts';

export { intervalCp, intervalQn } from './packets.ts';
export type { UplinkStationStats } from './station.ts';

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

export async function startHj212Uplink(config: UplinkConfig, opts: StartUplinkOptions = {}): Promise<RunningUplink> {
  const logger = (opts.logger ?? pino({ name: 'uplink' })).child({ uplink: config.id });
  const report = (err: CleanstreamError): void => {
    logger.warn({ code: err.code, context: err.context }, err.message);
    opts.onError?.(err);
  };
  const sink = new UplinkSink(config, { logger, report });
  const subscriber = createMqttSubscriber({
    mqtt: config.mqtt,
    clientId: config.mqtt.clientId ?? `cleanstream-uplink-${config.id}`,
    sessionExpirySeconds: config.sessionExpirySeconds,
    subscriptions: [...new Set(config.stations.map((s) => topics.readingsFilter(s.plant)))],
    connectTimeoutMs: opts.connectTimeoutMs ?? 30_000,
    decode: readingsDecoder(sink.routes),
  });
  subscriber.on('transportError', (err) => {
    if (err instanceof CleanstreamError && err.code === 'MQTT_CLIENT_ID_CLASH') return logger.warn(err.context, err.message);
    report(err instanceof TransportError ? err : new TransportError('MQTT_CONNECTION', `uplink ${config.id}: broker ${config.mqtt.url}: ${err.message}`, true, { url: config.mqtt.url }, { cause: err }));
  });

  await sink.start();
  try {
    await subscriber.start((message) => sink.write(message, message.ack));
  } catch (err) {
    await subscriber.stop();
    await sink.stop();
    throw err;
  }
  logger.info({ stations: config.stations.map((s) => s.mn), platform: `${config.platform.host}:${config.platform.port}` }, 'uplink started');

  return {
    stop: () => subscriber.stop(() => sink.stop()),
    stats: () => {
      const { messages, readings, rejectedMessages, stations } = sink.stats();
      return { uplink: config.id, mqttConnected: subscriber.connected, messages, unackedMessages: subscriber.stats().unacked, readings, rejectedMessages, stations };
    },
  };
}
