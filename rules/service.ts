/**
 * The rules service: readings from MQTT in, alert transitions out (retained on the alert topic at QoS 1, and a row
 * per transition in InfluxDB's `alerts` measurement).
 *
 *   broker ──QoS 1──▶ decodeBatch ──▶ RulesEngine ──▶ transitions ──▶ topics.alert(plant, rule, meter)  (retained)
 *                                        ▲     │                  └──▶ InfluxDB /write `alerts`
 *                           tick (clock) ┘     └──▶ checkpoint file (periodically and on stop)
 *
 * Acknowledgements arrive on `cleanstream/v1/alert-acks/{plant}/{rule}/{meter}` as `{"by": "...", "comment": "..."}`.
 * Malformed reading messages are counted, not dead-lettered: ingest dead-letters the same messages already.
 */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { pino, type Logger } from 'pino';
import { mqttConnectOptions } from '../core/config.ts';
import { PayloadError, TransportError } from '../core/errors.ts';
import { loadPlantRegistry, type PlantRegistry } from '../core/plants.ts';
import { decodeBatch } from '../core/reading.ts';
import { TOPIC_ROOT, topics } from '../core/topics.ts';
import type { AlertTransition } from './alerts.ts';
import { readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import { parseRulesConfig, type RulesConfig, type RulesConfigInput } from './config.ts';
import { RulesEngine, type EngineStats, type LateReading } from './engine.ts';
import { AlertWriter, type AlertWriterStats } from './influx.ts';
import { BUILTIN_STANDARDS_DIR, loadLimitsCatalog } from './limits/catalog.ts';

/** Where operators acknowledge alerts (belongs in core/topics.ts once the dashboard sends them). */

export interface RulesStats {
  receivedMessages: number;
  /** Messages that are not ReadingBatches, by reason. */
  rejected: Record<string, number>;
  engine: EngineStats;
  published: number;
  publishErrors: number;
  influx: AlertWriterStats;
  checkpoints: number;
  connected: boolean;
}

export interface RulesService {
  readonly engine: RulesEngine;
  stats(): RulesStats;
  /** Flush alert rows to InfluxDB and wait for pending publishes. */
  flush(): Promise<void>;
  /** Stops reading, publishes and writes what is pending, writes a checkpoint, disconnects. */
  stop(): Promise<void>;
}

export interface RulesOptions {
  registry?: PlantRegistry;
  /** Processing time (default Date.now): deadman rules, escalation, acknowledgements. */
  clock?: () => number;
  logger?: Logger;
  connectTimeoutMs?: number;
}


function mqttOptions(config: RulesConfig): IClientOptions {
  return {
    ...mqttConnectOptions(config.mqtt),
    clientId: config.clientId,
    clean: false,
  };
}

function waitForConnect(client: MqttClient, url: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('connect', onConnect);
      reject(new TransportError('MQTT_CONNECT', `no connection to the broker at ${url} within ${timeoutMs} ms`, true, { url }));
    }, timeoutMs);
    const onConnect = (): void => {
      clearTimeout(timer);
      resolve();
    };
    client.once('connect', onConnect);
  });
}

/** One log line per series per 10 s for late readings, with how many were late since the last line. */
function lateLogger(log: Logger): (late: LateReading) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (late) => {
    const key = `${late.plant}/${late.meter}/${late.quantity}`;
    const now = Date.now();
    const seen = last.get(key);
    if (seen && now - seen.at < 10_000) {
      seen.suppressed++;
      return;
    }
    log.warn({ ...late, lateSinceLastLine: (seen?.suppressed ?? 0) + 1 }, `late reading for ${key}: event time ${new Date(late.ts).toISOString()} is behind the watermark ${new Date(late.watermark).toISOString()}; not judged by ${late.rules.join(', ')}`);
    last.set(key, { at: now, suppressed: 0 });
  };
}

export async function startRules(input: RulesConfig | RulesConfigInput, opts: RulesOptions = {}): Promise<RulesService> {
  const config = parseRulesConfig(input);
  const log = opts.logger ?? pino({ name: 'cleanstream-rules' });
  const clock = opts.clock ?? Date.now;
  const registry = opts.registry ?? (config.plants ? loadPlantRegistry(config.plants) : undefined);
  const limits = loadLimitsCatalog([...(config.builtinLimits ? [BUILTIN_STANDARDS_DIR] : []), ...config.limits]);

  const counters = { receivedMessages: 0, published: 0, publishErrors: 0, checkpoints: 0 };
  const rejected: Record<string, number> = {};
  const writer = new AlertWriter(config.influx, (err) => log.error({ err: err.message, code: err.code }, 'alerts to InfluxDB'));
  try {
    await writer.createDatabase();
  } catch (err) {
    // InfluxDB down at start is not fatal: rows wait in the writer until it answers.
    log.error({ err: (err as Error).message }, 'could not create the InfluxDB database; alert rows are kept until it can be written');
  }

  const client = connect(config.mqtt.url, { ...mqttOptions(config), manualConnect: true });
  const inFlight = new Set<Promise<void>>();
  const publish = (t: AlertTransition): void => {
    const a = t.alert;
    const p = client
      .publishAsync(topics.alert(a.plant, a.rule, a.meter), JSON.stringify(a), { qos: 1, retain: true })
      .then(
        () => void counters.published++,
        (err: Error) => {
          counters.publishErrors++;
          log.error({ err: err.message, alert: a.id }, 'publishing an alert failed');
        },
      )
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };

  const engine = new RulesEngine({
    rules: config.rules,
    limits,
    ...(registry ? { registry } : {}),
    allowedLatenessMs: config.eventTime.allowedLatenessMs,
    idleFlushMs: config.eventTime.idleFlushMs,
    clock,
    onTransition: (t) => {
      log.info({ transition: t.transition, alert: t.alert.id, severity: t.alert.severity, value: t.alert.value, limit: t.alert.limit }, t.alert.message.en);
      publish(t);
      writer.push(t);
    },
    onLate: lateLogger(log),
  });

  const checkpointFile = config.checkpoint.file;
  if (checkpointFile) {
    const snap = readCheckpoint(checkpointFile);
    if (snap) {
      const dropped = engine.restore(snap);
      log.info({ file: checkpointFile, takenAt: snap.takenAt, openAlerts: snap.alerts.length, ...dropped }, 'restored rules state from the checkpoint');
    }
  }
  const checkpoint = (): void => {
    if (!checkpointFile) return;
    try {
      writeCheckpoint(checkpointFile, engine.snapshot());
      counters.checkpoints++;
    } catch (err) {
      log.error({ err: (err as Error).message, file: checkpointFile }, 'writing the rules checkpoint failed');
    }
  };

  const subscription = config.subscription ?? topics.readingsFilter();
  client.on('message', (topic, payload) => {
    if (topic.startsWith(`${TOPIC_ROOT}/alert-acks/`)) return onAck(topic, payload);
    counters.receivedMessages++;
    try {
      engine.ingestBatch(decodeBatch(payload));
    } catch (err) {
      const reason = err instanceof PayloadError ? err.reason : 'internal_error';
      rejected[reason] = (rejected[reason] ?? 0) + 1;
      if (!(err instanceof PayloadError)) log.error({ err: (err as Error).message, topic }, 'judging a batch failed');
    }
  });
  function onAck(topic: string, payload: Buffer): void {
    const [plant, rule, meter] = topic.split('/').slice(-3) as [string, string, string];
    let body: { by?: unknown; comment?: unknown };
    try {
      body = JSON.parse(payload.toString('utf8')) as typeof body;
    } catch {
      body = {};
    }
    if (typeof body.by !== 'string' || !body.by) {
      log.warn({ topic }, 'acknowledgement without a "by" ignored');
      return;
    }
    const ok = engine.acknowledge({ rule, plant, meter }, body.by, typeof body.comment === 'string' ? body.comment : undefined);
    if (!ok) log.info({ topic }, 'acknowledgement for no unacknowledged alert ignored');
  }
  client.on('error', (err) => log.error({ err: err.message }, 'mqtt'));
  client.on('connect', () => {
    client.subscribe([subscription, topics.alertAcksFilter()], { qos: 1 }, (err, granted) => {
      if (err) log.error({ err: err.message }, `subscribing to ${subscription} failed`);
      else if (granted?.some((g) => g.qos === 128)) log.error({ granted }, `the broker refused a subscription`);
    });
  });

  const connected = waitForConnect(client, config.mqtt.url, opts.connectTimeoutMs ?? 30_000);
  client.connect();
  try {
    await connected;
  } catch (err) {
    await client.endAsync(true);
    throw err;
  }

  const tickTimer = setInterval(() => {
    try {
      engine.tick(clock());
    } catch (err) {
      log.error({ err: (err as Error).message }, 'rules tick failed');
    }
    void writer.flush();
  }, config.tickMs);
  const checkpointTimer = checkpointFile ? setInterval(checkpoint, config.checkpoint.intervalMs) : undefined;

  let stopped = false;
  const flush = async (): Promise<void> => {
    await Promise.all([...inFlight]);
    await writer.flush();
  };
  return {
    engine,
    flush,
    stats: () => ({
      ...counters,
      rejected: { ...rejected },
      engine: engine.stats(),
      influx: { ...writer.stats },
      connected: client.connected,
    }),
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(tickTimer);
      if (checkpointTimer) clearInterval(checkpointTimer);
      // Stop judging but keep the subscription: with clean: false the broker queues for us while we are away.
      client.removeAllListeners('message');
      await Promise.race([flush(), new Promise((r) => setTimeout(r, 10_000))]);
      checkpoint();
      await client.endAsync();
    },
  };
}
