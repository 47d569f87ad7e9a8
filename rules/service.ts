/**
 * The rules service: readings from MQTT in, alert transitions out (retained on the alert topic at QoS 1, webhooks to
 * regulators through a durable outbox, and a row per transition in InfluxDB's `alerts` measurement).
 *
 *   broker ──QoS 1──▶ decodeBatch ─▶ dedup ─▶ seq order ─▶ RulesEngine ─▶ transitions ─▶ webhook outboxes (fsync) ─▶ POST, retries
 *     ▲                                          ▲     │                 ─▶ topics.alert(...) retained (PUBACK'd)
 *     └── PUBACK after the checkpoint ◀──┐  tick ┘     │                 ─▶ journal (fsync) ─▶ InfluxDB `alerts`
 *                                        │                │   (journal: O after the outboxes, D after the topic)
 *                                        └──── checkpoint file ◀─────────┘ (periodically, early when many unacked, on stop)
 *
 * Crash safety (with a checkpoint file): readings are acknowledged to the broker only once a checkpoint covers them
 * (bus/mqtt-acks.ts), and a checkpoint is written only after the transitions its snapshot produced are durable. After a
 * SIGKILL the broker redelivers what the restored snapshot has not seen, the engine produces the same transitions
 * again (same alert ids), and what was already notified before the crash is recognised by the journal
 * (rules/journal.ts) and, for the transitions in flight at the crash, by the retained state of their topics, read
 * before anything is published (rules/recovery.ts): exactly once on the topic. What is left: a crash between a webhook
 * outbox append and its journal line (one fsync) queues that notification again, with the same Idempotency-Key;
 * alert rows not yet written to InfluxDB when the process dies are missing from the history (the retained topic and
 * webhooks are not).
 *
 * Latency: an alert is published as soon as it is raised (its outbox and journal O lines first, fsync'd), without
 * waiting for the PUBACKs of earlier ones; checkpoints are written in slices while readings keep being judged
 * (RulesEngine.beginSnapshot), and PUBACKs for readings released a few thousand per event-loop turn.
 *
 * Acknowledgements arrive on `cleanstream/v1/alert-acks/{plant}/{rule}/{meter}` as `{"by": "...", "comment": "..."}`.
 * Malformed reading messages are counted, not dead-lettered: ingest dead-letters the same messages already.
 */
import { connect, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { watchClientIdClash } from '../bus/client-id-clash.ts';
import { CheckpointAcks } from '../bus/mqtt-acks.ts';
import { RecentMessages } from '../bus/dedup.ts';
import { Resequencer } from '../bus/resequence.ts';
import { topics } from '../bus/topics.ts';
import { durableSessionOptions, mqttConnectOptions } from '../core/config.ts';
import { ConfigError, PayloadError, TransportError } from '../core/errors.ts';
import { loadPlantRegistry, type PlantRegistry } from '../core/plants.ts';
import { decodeBatch, DEFAULT_MAX_FUTURE_SKEW_MS, type ReadingBatch } from '../core/reading.ts';
import type { Logger } from 'pino';
import type { AlertTransition } from './alerts.ts';
import { acknowledgementHandler, isAcknowledgementTopic } from './acknowledgements.ts';
import { AlertPublisher } from './alert-publisher.ts';
import { CheckpointCycle, type CheckpointFigures } from './checkpoint-cycle.ts';
import { parseRulesConfig, type RulesConfig, type RulesConfigInput } from './config.ts';
import type { EngineStats, RulesEngine } from './engine.ts';
import { AlertWriter, type AlertWriterStats } from './influx.ts';
import { startHistoryJobs } from './jobs.ts';
import { TransitionJournal } from './journal.ts';
import { lateLogger } from './late-log.ts';
import { type RouteStats, WebhookNotifier } from './notify/webhook.ts';
import { scopeOf } from './partition.ts';
import { publishedBeforeCrash } from './recovery.ts';
import { LiveRules, type RulesReload } from './reload.ts';
import { TransitionOutlet } from './transitions.ts';

export type { CheckpointFigures } from './checkpoint-cycle.ts';
export type { RulesReload } from './reload.ts';

export interface RulesStats {
  receivedMessages: number;
  /** Messages seen before (redelivered or duplicated), not judged again. */
  duplicateMessages: number;
  /** Transitions produced again after a restart and recognised as already notified. */
  suppressedTransitions: number;
  /** Messages judged but not yet acknowledged to the broker (waiting for a checkpoint). */
  unackedMessages: number;
  /** Batches put back in their gateway's seq order: waiting now, held back so far, gaps given up on. */
  reorder: { waiting: number; reordered: number; gapsSkipped: number };
  webhooks: Record<string, RouteStats>;
  /** Messages that are not ReadingBatches, by reason. */
  rejected: Record<string, number>;
  engine: EngineStats;
  published: number;
  publishErrors: number;
  influx: AlertWriterStats;
  checkpoints: number;
  /** Of those, incremental ones (only the series changed since the checkpoint before). */
  deltaCheckpoints: number;
  /** The last full and the last incremental checkpoint written: size, and time from the capture's start to the rename. */
  lastCheckpoint: { full?: CheckpointFigures; delta?: CheckpointFigures };
  connected: boolean;
}


export interface RulesService {
  readonly engine: RulesEngine;
  /**
   * Take new rules (and limits and baseline files) without losing state: window, buffer and alert state of every
   * rule whose definition is unchanged carries over; a changed rule starts its own state afresh (its open alerts
   * stay; sliding windows shared by rules, the series' history, are kept while a rule reads them); a removed rule's state is dropped and its open alerts cleared. Throws a ConfigError for an invalid
   * config, and then keeps the rules it had.
   */
  reload(input: RulesConfig | RulesConfigInput): Promise<RulesReload>;
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
  /** Environment for webhook secrets (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Every transition the service emits (after restart suppression), in order: for tests and benches. */
  onTransition?: (t: AlertTransition) => void;
  /** Alert PUBLISHes waiting for their PUBACK at most (default 10,000; below MQTT's 65,535 packet ids: alert-publisher.ts). */
  maxAlertsInFlight?: number;
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

export async function startRules(input: RulesConfig | RulesConfigInput, opts: RulesOptions = {}): Promise<RulesService> {
  const config = parseRulesConfig(input);
  const log = opts.logger ?? pino({ name: 'cleanstream-rules' });
  const clock = opts.clock ?? Date.now;
  const scope = scopeOf(config, opts.registry ?? (config.plants ? loadPlantRegistry(config.plants) : undefined));
  const registry = scope.registry;
  if (config.history.enabled && !registry) throw new ConfigError('rules config', [{ path: 'history.enabled', expected: 'a plant registry (`plants:`) for baselines and reductions' }]);
  const live = new LiveRules(config, { registry, clock, onTransition: (t) => transitions.hand(t), onLate: lateLogger(log) });

  const counters = { receivedMessages: 0, duplicateMessages: 0 };
  const rejected: Record<string, number> = {};
  const writer = new AlertWriter(config.influx, (err) => log.error({ err: err.message, code: err.code }, 'alerts to InfluxDB'));
  try {
    await writer.createDatabase();
  } catch (err) {
    // InfluxDB down at start is not fatal: rows wait in the writer until it answers.
    log.error({ err: (err as Error).message }, 'could not create the InfluxDB database; alert rows are kept until it can be written');
  }

  const notifier = await WebhookNotifier.open({ ...config.notify, ...(scope.outboxDir ? { outboxDir: scope.outboxDir } : {}) }, { registry, ...(opts.env ? { env: opts.env } : {}) });
  notifier.on('retry', (i) => log.warn(i, `webhook ${i.route}: attempt ${i.attempt} failed (${i.reason}); retrying in ${i.delayMs} ms`));
  notifier.on('deadLetter', (i) => log.error(i, `webhook ${i.route}: gave up on ${i.key} after ${i.attempts} attempts (${i.reason}); kept in its dead-letters.ndjson`));
  notifier.on('error', (err) => log.error({ err: err.message }, 'webhooks'));

  const client = connect(config.mqtt.url, { ...mqttConnectOptions(config.mqtt), clientId: scope.clientId, ...durableSessionOptions(config.mqtt, config.sessionExpirySeconds), manualConnect: true });
  watchClientIdClash(client, scope.clientId, (message, context) => log.warn(context, message));
  const publisher = new AlertPublisher((topic, payload) => client.publishAsync(topic, payload, { qos: 1, retain: true }), log, opts.maxAlertsInFlight);
  const checkpointFile = scope.checkpointFile;
  const transitions = new TransitionOutlet({ journal: checkpointFile ? new TransitionJournal(`${checkpointFile}.journal`) : undefined, notifier, publisher, writer, log, onTransition: opts.onTransition });

  const recent = new RecentMessages();
  const judge = (b: ReadingBatch): void => {
    if (cycle.admit(b)) live.engine.ingestBatch(b);
    else counters.duplicateMessages++;
  };
  const inOrder = new Resequencer(judge, { waitMs: config.eventTime.reorderWaitMs, maxPending: config.eventTime.reorderMaxPending });
  const cycle = new CheckpointCycle({ file: checkpointFile, settings: config.checkpoint, phase: scope.checkpointPhase, engine: () => live.engine, recent, reorder: inOrder, transitions, log });
  cycle.restore(scope.owned, clock(), transitions.journaledAtStart);

  let accepting = true;
  cycle.useAcks(checkpointFile ? new CheckpointAcks(client, () => accepting) : undefined);
  const onAck = acknowledgementHandler(() => live.engine, scope.owned, log);
  client.on('message', (topic, payload) => {
    if (!accepting) return;
    if (isAcknowledgementTopic(topic)) return onAck(topic, payload);
    counters.receivedMessages++;
    try {
      // A reading from the future would move the event-time windows past every real reading: refused as ingest refuses
      // it (ts_in_future, and ts_too_old for a clock reset before 2000). No age limit: replays and backfills of
      // history are judged in event time, the windows' lateness rules decide what is too late.
      const b = decodeBatch(payload, { now: clock(), maxFutureSkewMs: DEFAULT_MAX_FUTURE_SKEW_MS, maxAgeMs: undefined });
      if (!recent.firstSight(b.gateway, b.seq, b.sentAt)) counters.duplicateMessages++;
      else inOrder.push(b, clock());
    } catch (err) {
      const reason = err instanceof PayloadError ? err.reason : 'internal_error';
      rejected[reason] = (rejected[reason] ?? 0) + 1;
      if (!(err instanceof PayloadError)) log.error({ err: (err as Error).message, topic }, 'judging a batch failed');
    }
    cycle.afterMessage();
  });
  const subscriptions = scope.subscriptions;
  client.on('error', (err) => log.error({ err: err.message }, 'mqtt'));
  client.on('connect', () => {
    client.subscribe([...subscriptions, topics.alertAcksFilter()], { qos: 1 }, (err, granted) => {
      if (err) log.error({ err: err.message, subscriptions: subscriptions.length }, `subscribing to ${subscriptions[0]}${subscriptions.length > 1 ? ` and ${subscriptions.length - 1} more` : ''} failed`);
      else if (granted?.some((g) => g.qos === 128)) log.error({ granted }, `the broker refused a subscription`);
    });
  });

  const connected = waitForConnect(client, config.mqtt.url, opts.connectTimeoutMs ?? 30_000);
  client.connect();
  try {
    await connected;
  } catch (err) {
    transitions.open();
    await client.endAsync(true);
    await notifier.stop();
    throw err;
  }
  transitions.open(await publishedBeforeCrash(config, transitions.previous.outboxed, log));

  const tickTimer = setInterval(() => {
    try {
      const now = clock();
      inOrder.tick(now);
      live.engine.tick(now);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'rules tick failed');
    }
    void writer.flush();
  }, config.tickMs);
  cycle.startTimer();
  const stopHistory = startHistoryJobs(config, registry, () => live.baselines, clock, log);

  let stopped = false;
  const flush = async (): Promise<void> => {
    await transitions.handOn();
    await writer.flush(true);
  };
  return {
    get engine() {
      return live.engine;
    },
    reload: (input) =>
      live.reload(input, {
        settled: async () => {
          while (cycle.inProgress) await cycle.inProgress;
        },
        swapped: () => cycle.restartChain(),
      }),
    flush,
    stats: () => ({
      ...counters,
      suppressedTransitions: transitions.suppressed,
      published: publisher.published,
      publishErrors: publisher.publishErrors,
      checkpoints: cycle.checkpoints,
      deltaCheckpoints: cycle.deltaCheckpoints,
      rejected: { ...rejected },
      unackedMessages: cycle.unacked,
      reorder: { waiting: inOrder.pending, reordered: inOrder.reordered, gapsSkipped: inOrder.gapsSkipped },
      webhooks: notifier.stats(),
      engine: live.engine.stats(),
      influx: { ...writer.stats },
      lastCheckpoint: { ...cycle.lastCheckpoint },
      connected: client.connected,
    }),
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(tickTimer);
      cycle.stopTimer();
      stopHistory?.();
      // Stop judging but keep the subscription: with clean: false the broker queues for us while we are away, and
      // redelivers what arrived during the stop (never acknowledged).
      accepting = false;
      let flushTimer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([flush(), new Promise((r) => (flushTimer = setTimeout(r, 10_000)))]);
      // a pending timer would keep the process alive for the rest of the 10 s (Ctrl-C on `up` took 10 s)
      clearTimeout(flushTimer);
      await cycle.inProgress;
      await cycle.checkpoint();
      await transitions.close();
      await notifier.stop();
      await client.endAsync();
    },
  };
}
