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
import path from 'node:path';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { pino, type Logger } from 'pino';
import { watchClientIdClash } from '../bus/client-id-clash.ts';
import { durableSessionOptions, mqttConnectOptions } from '../core/config.ts';
import { ConfigError, PayloadError, TransportError } from '../core/errors.ts';
import { loadPlantRegistry, type PlantRegistry } from '../core/plants.ts';
import { decodeBatch, DEFAULT_MAX_FUTURE_SKEW_MS, type ReadingBatch } from '../core/reading.ts';
import { TOPIC_ROOT, topics } from '../bus/topics.ts';
import { parseAlertAck } from '../core/alert.ts';
import type { Alert, AlertTransition } from './alerts.ts';
import { CheckpointAcks } from '../bus/mqtt-acks.ts';
import { deltaFile, readCheckpoint, removeDeltas, writeCheckpointInSlices, type RulesCheckpoint, type SlicedSection } from './checkpoint.ts';
import { RecentMessages } from '../bus/dedup.ts';
import { Resequencer } from '../bus/resequence.ts';
import { alertTopicState, TransitionJournal, transitionKey } from './journal.ts';
import { alreadyOnTopic, readRetainedStates, topicOfKey } from './recovery.ts';
import { WebhookNotifier, type RouteStats } from './notify/webhook.ts';
import { parseRulesConfig, type RulesConfig, type RulesConfigInput } from './config.ts';
import { ownedPlantIds, partitionFile, partitionFilters, partitionName, partitionRegistry } from './partition.ts';
import { RulesEngine, type EngineStats, type LateReading, type SnapshotCapture } from './engine.ts';
import { createInfluxClient } from '../influxdb/client.ts';
import { AlertWriter, type AlertWriterStats } from './influx.ts';
import { BUILTIN_BASELINES_DIR, loadBaselines, loadEnergyCoefficients, type BaselineBook } from './baselines.ts';
import { runHistoryJobs, scheduleHistoryJobs } from './jobs.ts';
import { BUILTIN_STANDARDS_DIR, loadLimitsCatalog, type LimitsCatalog } from './limits/catalog.ts';

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

export interface CheckpointFigures {
  bytes: number;
  ms: number;
}

/** What a reload changed (RulesService.reload). */
export interface RulesReload {
  added: string[];
  removed: string[];
  /** Rules whose definition changed: their window state starts afresh; their open alerts stay open. */
  changed: string[];
  /** Operator states not carried over (rules removed or changed); open alerts of removed rules (cleared on their topics). */
  droppedOps: number;
  droppedAlerts: number;
  /** Settings that differ but take effect only at the next start (connections, checkpoint, partition...). */
  restartNeeded: string[];
}

/** Settings a reload does not apply: the process must be restarted for them. */
const RESTART_ONLY = ['mqtt', 'clientId', 'subscription', 'influx', 'plants', 'eventTime', 'checkpoint', 'partition', 'tickMs', 'notify', 'history'] as const satisfies readonly (keyof RulesConfig)[];

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
  /** Alert PUBLISHes waiting for their PUBACK at most (default 10,000; below MQTT's 65,535 packet ids). */
  maxAlertsInFlight?: number;
}


/** Alert PUBLISHes waiting for their PUBACK at most (see publishAlert). */
const MAX_ALERTS_IN_FLIGHT = 10_000;

/** The limits catalog a config names (built-in standards unless turned off, then its own files): read at start and at each reload. */
function limitsOf(config: RulesConfig): LimitsCatalog {
  return loadLimitsCatalog([...(config.builtinLimits ? [BUILTIN_STANDARDS_DIR] : []), ...config.limits]);
}

/** The static baselines a config names: read at start and at each reload. */
function baselinesOf(config: RulesConfig): BaselineBook {
  return loadBaselines([...(config.history.builtinBaselines ? [BUILTIN_BASELINES_DIR] : []), ...config.history.baselineFiles]);
}

function mqttOptions(config: RulesConfig, clientId: string): IClientOptions {
  return {
    ...mqttConnectOptions(config.mqtt),
    clientId,
    ...durableSessionOptions(config.mqtt, config.sessionExpirySeconds),
  };
}

/** What a partition changes (rules/partition.ts): the plants judged, the subscriptions, the client id and the checkpoint file. */
interface Scope {
  registry: PlantRegistry | undefined;
  /** The plants this process judges; undefined: every plant. */
  owned: ReadonlySet<string> | undefined;
  subscriptions: string[];
  clientId: string;
  checkpointFile: string | undefined;
  /** Where the webhook outboxes are: a partition's own folder under the configured one (two processes never share a queue). */
  outboxDir: string | undefined;
}

function scopeOf(config: RulesConfig, registry: PlantRegistry | undefined): Scope {
  const spec = config.partition;
  if (!spec) return { registry, owned: undefined, subscriptions: [config.subscription ?? topics.readingsFilter()], clientId: config.clientId, checkpointFile: config.checkpoint.file, outboxDir: config.notify.outboxDir };
  if (config.subscription) throw new ConfigError('rules config', [{ path: 'subscription', expected: 'no subscription with `partition` (a partition subscribes to its own plants)' }]);
  const ids = ownedPlantIds(spec, registry);
  const owned = new Set(ids);
  const name = partitionName(spec);
  return {
    registry: registry ? partitionRegistry(registry, owned) : undefined,
    owned,
    subscriptions: partitionFilters(ids),
    clientId: `${config.clientId}-${name}`,
    checkpointFile: config.checkpoint.file ? partitionFile(config.checkpoint.file, name) : undefined,
    outboxDir: config.notify.outboxDir ? path.join(config.notify.outboxDir, name) : undefined,
  };
}

/** A batch's identity for alreadyJudged: its gateway, seq and send time (as RecentMessages knows it). */
function messageKey(b: ReadingBatch): string {
  return `${b.gateway}|${b.seq}:${b.sentAt}`;
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
  const scope = scopeOf(config, opts.registry ?? (config.plants ? loadPlantRegistry(config.plants) : undefined));
  const registry = scope.registry;
  if (config.history.enabled && !registry) throw new ConfigError('rules config', [{ path: 'history.enabled', expected: 'a plant registry (`plants:`) for baselines and reductions' }]);
  const limits = limitsOf(config);

  const counters = { receivedMessages: 0, duplicateMessages: 0, suppressedTransitions: 0, published: 0, publishErrors: 0, checkpoints: 0, deltaCheckpoints: 0 };
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

  const checkpointFile = scope.checkpointFile;
  const journal = checkpointFile ? new TransitionJournal(`${checkpointFile}.journal`) : undefined;
  /** How far the transitions of the previous run since its last checkpoint got; the redelivered readings produce them again. */
  const previous = journal?.load() ?? { done: new Set<string>(), outboxed: new Map<string, string | undefined>() };
  const journaledAtStart = previous.done.size + previous.outboxed.size;
  /** Journal lines since the last checkpoint, by emission number, so a checkpoint keeps only what it does not cover. */
  let journaled: { n: number; plant: string; key: string; topicState?: string; done: boolean }[] = [];
  let emitted = 0;
  /** Retained alert states of the topics the previous run may or may not have published to (read before any publish). */
  let retainedAtStart = new Map<string, string>();
  /** Outboxed transitions of the previous run that the retained states show on their topics already. */
  let onTopicAlready = new Set<string>();
  const publishedBeforeCrash = (key: string, t: AlertTransition): boolean => {
    if (onTopicAlready.has(key)) return true;
    // a journal line without a recorded state (older format): only the retained state itself is recognised
    if (previous.outboxed.get(key) !== undefined) return false;
    const a = t.alert;
    return retainedAtStart.get(topics.alert(a.plant, a.rule, a.meter)) === alertTopicState(a);
  };

  const client = connect(config.mqtt.url, { ...mqttOptions(config, scope.clientId), manualConnect: true });
  watchClientIdClash(client, scope.clientId, (message, context) => log.warn(context, message));
  // At most MAX_ALERTS_IN_FLIGHT alert PUBLISHes wait for their PUBACK: MQTT.js numbers packets 1..65535 and wraps
  // without checking what is still in flight, so an alert storm of more would reuse ids, lose PUBACK callbacks and
  // stall every later checkpoint. Past the bound alerts queue here, in order (a freed slot goes to the oldest).
  let alertsInFlight = 0;
  const maxAlertsInFlight = opts.maxAlertsInFlight ?? MAX_ALERTS_IN_FLIGHT;
  // a queue with a head index: Array.shift() moves every waiting entry, quadratic in a storm of tens of thousands
  let waitingForSlot: (() => void)[] = [];
  let waitingHead = 0;
  const releaseSlot = (): void => {
    if (waitingHead === waitingForSlot.length) {
      alertsInFlight--;
      return;
    }
    const next = waitingForSlot[waitingHead++]!;
    if (waitingHead === waitingForSlot.length) {
      waitingForSlot = [];
      waitingHead = 0;
    }
    next();
  };
  const publishAlert = (t: AlertTransition): Promise<void> => {
    const a = t.alert;
    const go = (): Promise<void> =>
      client
        .publishAsync(topics.alert(a.plant, a.rule, a.meter), JSON.stringify(a), { qos: 1, retain: true })
        .then(
          () => void counters.published++,
          (err: Error) => {
            counters.publishErrors++;
            log.error({ err: err.message, alert: a.id }, 'publishing an alert failed');
          },
        )
        .finally(releaseSlot);
    if (alertsInFlight < maxAlertsInFlight && waitingHead === waitingForSlot.length) {
      alertsInFlight++;
      return go();
    }
    return new Promise<void>((resolve) => waitingForSlot.push(resolve)).then(go);
  };

  // Transitions are handed on in order, in batches: webhook outboxes, journal O, the retained topic, journal D.
  // Two chains: `sending` (outboxes, journal O, the PUBLISH written) runs batch after batch without waiting for
  // PUBACKs, so an alert is on its way as soon as it is raised, whatever is still unconfirmed before it; `confirming`
  // (PUBACKs, journal D, InfluxDB rows) follows in the same order, and is what a checkpoint waits for. One client
  // writes the PUBLISHes in order, so a topic's transitions reach the broker in order (MQTT 3.1.1 §4.6).
  // Nothing is sent until the retained states of the previous run's unconfirmed transitions are known
  // (`recovered`): the broker redelivers readings as soon as the session resumes, and their transitions must be
  // compared with what the topics show, not raced against reading it.
  type Keyed = { n: number; t: AlertTransition; key: string; topicState: string };
  let batch: { n: number; t: AlertTransition }[] = [];
  let recovered: () => void = () => undefined;
  let sending: Promise<void> = new Promise<void>((resolve) => (recovered = resolve));
  let confirming: Promise<void> = Promise.resolve();
  const journalFailed = (err: unknown): void => {
    log.error({ err: (err as Error).message, file: journal?.file }, 'writing the transition journal failed; a crash now could notify these transitions twice');
  };
  /** Journal lines; for O lines, resolves once they are on disk. */
  const journalWrite = async (what: 'outboxed' | 'done', items: Keyed[]): Promise<void> => {
    if (!journal || !items.length) return;
    try {
      const synced = what === 'outboxed' ? journal.outboxed(items) : journal.done(items.map((i) => i.key));
      for (const i of items) journaled.push({ n: i.n, plant: i.t.alert.plant, key: i.key, topicState: i.topicState, done: what === 'done' });
      await synced;
    } catch (err) {
      journalFailed(err);
    }
  };
  /** Outboxes, journal O, PUBLISH; resolves once the PUBLISHes are written, with their PUBACKs to wait for. */
  const send = async (items: { n: number; t: AlertTransition }[]): Promise<{ keyed: Keyed[]; acked: Promise<unknown> }> => {
    const keyed = items.map((i) => ({ ...i, key: transitionKey(i.t), topicState: alertTopicState(i.t.alert) }));
    const fresh = keyed.filter((i) => !previous.outboxed.has(i.key));
    await notifier.enqueue(fresh.map((i) => i.t));
    // The O lines are written now, before the PUBLISHes (a crash of the process cannot lose them), and synced in the
    // background: a PUBLISH does not wait for the disk, which a checkpoint being flushed can hold for a second; the
    // confirmation (and so the next checkpoint) does. A power cut between the two may notify a transition again
    // after the reboot (same Idempotency-Key, same retained state), never lose it.
    const synced = journalWrite('outboxed', fresh);
    const acked = Promise.all([
      synced,
      ...keyed.map((i) => {
        const replayed = previous.outboxed.has(i.key);
        previous.outboxed.delete(i.key);
        if (replayed && publishedBeforeCrash(i.key, i.t)) {
          counters.suppressedTransitions++;
          return undefined;
        }
        return publishAlert(i.t);
      }),
    ]);
    return { keyed, acked };
  };
  const failed = (err: unknown): void => log.error({ err: (err as Error).message }, 'handing on alert transitions failed');
  /** Hand what is batched on now; returns when everything handed on so far is confirmed. */
  // A send waiting its turn takes every transition batched by then: while one waits for its journal sync, the
  // transitions raised meanwhile go out together in the next (one sync for all of them), however many they are.
  let sendWaiting = false;
  const handOn = (): Promise<void> => {
    if (batch.length && !sendWaiting) {
      sendWaiting = true;
      const sent = sending.then(() => {
        sendWaiting = false;
        const items = batch;
        batch = [];
        return send(items);
      });
      sending = sent.then(() => undefined, failed);
      confirming = Promise.all([confirming, sent])
        .then(async ([, { keyed, acked }]) => {
          await acked;
          void journalWrite('done', keyed);
          for (const i of keyed) if (i.t.historyRow !== false) writer.push(i.t);
        })
        .catch(() => undefined); // reported by `sending`
    }
    return confirming;
  };

  function handTransition(t: AlertTransition): void {
    if (previous.done.size && previous.done.delete(transitionKey(t))) {
      counters.suppressedTransitions++;
      return;
    }
    log.info({ transition: t.transition, alert: t.alert.id, severity: t.alert.severity, value: t.alert.value, limit: t.alert.limit }, t.alert.message.en);
    opts.onTransition?.(t);
    if (batch.length === 0) queueMicrotask(handOn);
    batch.push({ n: ++emitted, t });
  }
  const baselines = baselinesOf(config);
  const energy = loadEnergyCoefficients();
  const engineFor = (rules: RulesConfig['rules'], limits: LimitsCatalog, baselines: BaselineBook): RulesEngine => new RulesEngine({
    rules,
    limits,
    baselines,
    energy,
    ...(registry ? { registry } : {}),
    allowedLatenessMs: config.eventTime.allowedLatenessMs,
    idleFlushMs: config.eventTime.idleFlushMs,
    clock,
    retriggerRowIntervalMs: config.history.retriggerRowIntervalMs,
    onTransition: handTransition,
    onLate: lateLogger(log),
  });
  let engine = engineFor(config.rules, limits, baselines);
  let rulesNow = config.rules;
  let baselinesNow = baselines;

  const recent = new RecentMessages();
  /**
   * Batches a restored checkpoint holds already although its acknowledgements do not cover them (judged for a plant
   * while the checkpoint was being taken, before the plant's turn), by plant: when the broker delivers them again
   * they are not judged twice. Each is forgotten once seen; the rest go on into the next checkpoint.
   */
  const alreadyJudged = new Map<string, Set<string>>();
  /** The capture in progress, and the batches judged for its plants still to be taken (message keys by plant). */
  let capture: SnapshotCapture | undefined;
  let judgedDuringCapture = new Map<string, string[]>();
  const judge = (b: ReadingBatch): void => {
    if (alreadyJudged.size) {
      const keys = alreadyJudged.get(b.plant);
      if (keys?.delete(messageKey(b))) {
        if (!keys.size) alreadyJudged.delete(b.plant);
        counters.duplicateMessages++;
        return;
      }
    }
    if (capture?.pending(b.plant)) {
      let keys = judgedDuringCapture.get(b.plant);
      if (!keys) judgedDuringCapture.set(b.plant, (keys = []));
      keys.push(messageKey(b));
    }
    engine.ingestBatch(b);
  };
  const inOrder = new Resequencer(judge, { waitMs: config.eventTime.reorderWaitMs, maxPending: config.eventTime.reorderMaxPending });
  if (checkpointFile) {
    const snap = readCheckpoint(checkpointFile);
    if (snap) {
      // a checkpoint of another partitioning: alerts (whole-snapshot head or per plant) of plants this partition no
      // longer owns are not its to keep open
      const owned = scope.owned;
      if (owned) {
        snap.alerts = snap.alerts.filter((a) => owned.has(a.key[1]));
        if (snap.plants) snap.plants = snap.plants.filter((p) => owned.has(p.plant));
      }
      const dropped = engine.restore(snap);
      recent.restore(snap.recentMessages);
      for (const p of snap.plants ?? []) if (p.included.length) alreadyJudged.set(p.plant, new Set(p.included));
      inOrder.restore(snap.reorder, clock());
      const openAlerts = snap.alerts.length + (snap.plants ?? []).reduce((n, p) => n + p.alerts.length, 0);
      log.info({ file: checkpointFile, takenAt: snap.takenAt, openAlerts, deltas: snap.deltasApplied ?? 0, journaled: journaledAtStart, ...dropped }, 'restored rules state from the checkpoint');
    }
  }

  let accepting = true;
  const acks = checkpointFile ? new CheckpointAcks(client, () => accepting) : undefined;
  let checkpointing: Promise<void> | undefined;
  /**
   * The chain of incremental checkpoints on disk: its base and how many deltas follow it. Undefined until this run
   * has written a full checkpoint (the first one is always full: the generations of a previous run mean nothing).
   */
  let chain: { baseId: string; deltas: number; baseBytes: number; deltaBytes: number; changedSince: number } | undefined;
  let bases = 0;
  const lastCheckpoint: RulesStats['lastCheckpoint'] = {};
  const checkpoint = (): Promise<void> => {
    if (!checkpointFile) return Promise.resolve();
    checkpointing ??= (async () => {
      const began = performance.now();
      const full = !chain || chain.deltas >= config.checkpoint.deltas || chain.deltaBytes >= chain.baseBytes;
      const baseId = full ? `${Date.now().toString(36)}-${process.pid}-${++bases}` : chain!.baseId;
      const seq = full ? 0 : chain!.deltas + 1;
      // Taken in slices while readings keep being judged, plant by plant, each plant as it is when its turn comes
      // (engine.ts SnapshotCapture): alerts raised meanwhile are handed on at once, not held behind the checkpoint.
      // The acknowledgements cover what arrived before the capture began (`mark`); batches judged after that for a
      // plant not yet taken are in the state too, and are listed with the plant (alreadyJudged after a restart).
      // The emission number each plant is taken at says which journal lines its state covers.
      const takenAt = new Map<string, number>();
      judgedDuringCapture = new Map();
      const series = engine.beginSnapshot({
        ...(full ? {} : { changedSince: chain!.changedSince }),
        includedOf: (plant) => {
          const keys = [...(judgedDuringCapture.get(plant) ?? []), ...(alreadyJudged.get(plant) ?? [])];
          judgedDuringCapture.delete(plant);
          return keys;
        },
        onTaken: (plant) => void takenAt.set(plant, emitted),
      });
      capture = series;
      const recentKeys = recent.beginSnapshot();
      const head: Omit<RulesCheckpoint, SlicedSection['key']> = { ...series.head, reorder: inOrder.snapshot(), ...(full ? { baseId } : { delta: { base: baseId, seq } }) };
      const headJson = JSON.stringify(head); // now: what it holds keeps changing
      const mark = acks?.mark();
      // the transitions the taken state produced must be durable before the checkpoint is: else a crash in
      // between restores a state that raised an alert nobody was told of
      const durable = (): Promise<void> => handOn();
      try {
        const sections: SlicedSection[] = [
          { key: 'series', kind: 'array', take: series.take },
          { key: 'plants', kind: 'array', take: series.takePlants },
          { key: 'recentMessages', kind: 'object', take: recentKeys.take },
        ];
        const bytes = await writeCheckpointInSlices(full ? checkpointFile : deltaFile(checkpointFile, seq), headJson, sections, durable);
        if (full) {
          // the new base stands alone: the old chain's deltas go (a crash before they do leaves deltas naming the old base, ignored)
          removeDeltas(checkpointFile);
          chain = { baseId, deltas: 0, baseBytes: bytes, deltaBytes: 0, changedSince: series.generation + 1 };
        } else {
          chain = { ...chain!, deltas: seq, deltaBytes: chain!.deltaBytes + bytes, changedSince: series.generation + 1 };
        }
        counters.checkpoints++;
        lastCheckpoint[full ? 'full' : 'delta'] = { bytes, ms: Math.round(performance.now() - began) };
        unackedBound = config.checkpoint.maxUnackedMessages;
        if (!full) counters.deltaCheckpoints++;
      } catch (err) {
        series.abandon();
        recentKeys.abandon();
        log.error({ err: (err as Error).message, file: checkpointFile }, 'writing the rules checkpoint failed; readings stay unacknowledged');
        return;
      } finally {
        if (capture === series) capture = undefined;
        judgedDuringCapture = new Map();
      }
      // a line stays while the state on disk may not hold its transition: its plant was not taken, or was taken before it
      journaled = journaled.filter((j) => !(j.n <= (takenAt.get(j.plant) ?? -1)));
      try {
        const keep = { done: new Set(previous.done), outboxed: new Map(previous.outboxed) };
        for (const j of journaled) {
          if (j.done) keep.done.add(j.key);
          else keep.outboxed.set(j.key, j.topicState);
        }
        for (const k of keep.done) keep.outboxed.delete(k);
        await journal?.reset(keep);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'resetting the transition journal failed');
      }
      if (mark) void acks?.release(mark);
    })().finally(() => (checkpointing = undefined));
    return checkpointing;
  };

  // Partitions of one feed fill up at the same pace: partition i of n takes its first checkpoint at (i + 1) / n of the
  // bounds, and keeps that phase, so that processes sharing a machine do not all checkpoint at once.
  const phase = config.partition && 'index' in config.partition ? (config.partition.index + 1) / config.partition.count : 1;
  let unackedBound = Math.max(1, Math.round(config.checkpoint.maxUnackedMessages * phase));
  const subscriptions = scope.subscriptions;
  client.on('message', (topic, payload) => {
    if (!accepting) return;
    if (topic.startsWith(`${TOPIC_ROOT}/alert-acks/`)) return onAck(topic, payload);
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
    if (acks && acks.outstanding >= unackedBound && !checkpointing) void checkpoint();
  });
  function onAck(topic: string, payload: Buffer): void {
    const [plant, rule, meter] = topic.split('/').slice(-3) as [string, string, string];
    if (scope.owned && !scope.owned.has(plant)) return; // another partition's alert
    const ack = parseAlertAck(payload);
    if (!ack) {
      log.warn({ topic }, 'acknowledgement without a "by" ignored');
      return;
    }
    const ok = engine.acknowledge({ rule, plant, meter }, ack.by, ack.comment);
    if (!ok) log.info({ topic }, 'acknowledgement for no unacknowledged alert ignored');
  }
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
    recovered();
    await client.endAsync(true);
    await notifier.stop();
    throw err;
  }

  if (previous.outboxed.size) {
    const wanted = new Set([...previous.outboxed.keys()].flatMap((k) => topicOfKey(k) ?? []));
    retainedAtStart = await readRetainedStates(config, wanted, log);
    onTopicAlready = alreadyOnTopic(previous.outboxed, retainedAtStart);
    log.info({ unconfirmed: previous.outboxed.size, onTopicAlready: onTopicAlready.size }, 'compared the last run\'s unconfirmed alert transitions with the retained alert topics');
  }
  recovered();

  const tickTimer = setInterval(() => {
    try {
      const now = clock();
      inOrder.tick(now);
      engine.tick(now);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'rules tick failed');
    }
    void writer.flush();
  }, config.tickMs);
  let checkpointTimer: NodeJS.Timeout | undefined;
  const everyInterval = (): void => {
    void checkpoint();
    checkpointTimer = setTimeout(everyInterval, config.checkpoint.intervalMs);
  };
  if (checkpointFile) checkpointTimer = setTimeout(everyInterval, Math.round(config.checkpoint.intervalMs * phase));
  const history = config.history;
  let stopHistory: (() => void) | undefined;
  if (history.enabled && registry) {
    const influx = createInfluxClient(config.influx, { queryTimeoutMs: 30_000 });
    stopHistory = scheduleHistoryJobs(() => runHistoryJobs(influx, registry, baselinesNow, { learn: history.learn, reductions: history.reductions }, clock()), history.everyMs, log);
  }

  let stopped = false;
  const flush = async (): Promise<void> => {
    await handOn();
    await writer.flush(true);
  };
  const reload = async (input: RulesConfig | RulesConfigInput): Promise<RulesReload> => {
    const next = parseRulesConfig(input);
    // baseline files are reloaded with the rules; the rest of `history` is not
    const comparable = (c: RulesConfig, key: (typeof RESTART_ONLY)[number]): string => JSON.stringify(key === 'history' ? { ...c.history, baselineFiles: [], builtinBaselines: false } : c[key]);
    const restartNeeded = RESTART_ONLY.filter((key) => comparable(next, key) !== comparable(config, key));
    const nextLimits = limitsOf(next);
    const nextBaselines = baselinesOf(next);
    // a checkpoint being taken belongs to the engine it began on
    while (checkpointing) await checkpointing;
    // from here to the swap nothing else runs: no reading is judged between the snapshot and the restore
    const fresh = engineFor(next.rules, nextLimits, nextBaselines);
    const dropped = fresh.restore(engine.snapshot());
    const before = new Map(rulesNow.map((r) => [r.id, JSON.stringify(r)]));
    const after = new Map(next.rules.map((r) => [r.id, JSON.stringify(r)]));
    // the open alerts of a removed rule are cleared, not left raised on their topics for ever
    const now = clock();
    for (const a of engine.openAlerts()) {
      if (after.has(a.rule)) continue;
      const cleared: Alert = { ...a, state: 'cleared', clearedAt: now, updatedAt: Math.max(a.updatedAt, now), message: { en: `Cleared (rule ${a.rule} removed): ${a.message.en}`, zh: `已恢复（规则 ${a.rule} 已删除）：${a.message.zh}` } };
      handTransition({ transition: 'cleared', alert: cleared });
    }
    engine = fresh;
    rulesNow = next.rules;
    baselinesNow = nextBaselines;
    chain = undefined; // the next checkpoint is full: deltas count the generations of the old engine
    return {
      added: [...after.keys()].filter((id) => !before.has(id)),
      removed: [...before.keys()].filter((id) => !after.has(id)),
      changed: [...after.keys()].filter((id) => before.has(id) && before.get(id) !== after.get(id)),
      ...dropped,
      restartNeeded,
    };
  };

  return {
    get engine() {
      return engine;
    },
    reload,
    flush,
    stats: () => ({
      ...counters,
      rejected: { ...rejected },
      unackedMessages: acks?.outstanding ?? 0,
      reorder: { waiting: inOrder.pending, reordered: inOrder.reordered, gapsSkipped: inOrder.gapsSkipped },
      webhooks: notifier.stats(),
      engine: engine.stats(),
      influx: { ...writer.stats },
      lastCheckpoint: { ...lastCheckpoint },
      connected: client.connected,
    }),
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(tickTimer);
      clearTimeout(checkpointTimer);
      stopHistory?.();
      // Stop judging but keep the subscription: with clean: false the broker queues for us while we are away, and
      // redelivers what arrived during the stop (never acknowledged).
      accepting = false;
      let flushTimer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([flush(), new Promise((r) => (flushTimer = setTimeout(r, 10_000)))]);
      // a pending timer would keep the process alive for the rest of the 10 s (Ctrl-C on `up` took 10 s)
      clearTimeout(flushTimer);
      await checkpointing;
      await checkpoint();
      await journal?.close();
      await notifier.stop();
      await client.endAsync();
    },
  };
}
