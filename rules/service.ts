/**
 * The rules service: readings from the bus in, alert transitions out (retained on the alert topic at QoS 1, webhooks
 * to regulators through a durable outbox, and a row per transition in InfluxDB's `alerts` measurement). startRules
 * wires the bus's durable subscriber (bus/subscriber.ts: session, subscriptions, deferred acks, decode, dedup) to the
 * rules sink (sink.ts), whose jobs are modules of their own: the engine in force and reloads (reload.ts), the
 * transitions handed on (transitions.ts, alert-publisher.ts), the checkpoint cycle (checkpoint-cycle.ts, bus/held-acks.ts),
 * restart recovery (recovery.ts), acknowledgements (acknowledgements.ts), history jobs (jobs.ts), scope (partition.ts).
 *
 * Crash safety (with a checkpoint file): readings are acknowledged to the broker only once a checkpoint covers them,
 * and a checkpoint is written only after the transitions its snapshot produced are durable. After a SIGKILL the broker
 * redelivers what the restored snapshot has not seen, the engine produces the same transitions again (same alert
 * ids), and what was already notified before the crash is recognised by the journal (rules/journal.ts) and, for the
 * transitions in flight at the crash, by the retained state of their topics, read before anything is published
 * (rules/recovery.ts): exactly once on the topic. What is left: a crash between a webhook outbox append and its
 * journal line (one fsync) queues that notification again, with the same Idempotency-Key; alert rows not yet written
 * to InfluxDB when the process dies are missing from the history (the retained topic and webhooks are not).
 *
 * Latency: an alert is published as soon as it is raised (its outbox and journal O lines first, fsync'd), without
 * waiting for the PUBACKs of earlier ones; checkpoints are written in slices while readings keep being judged
 * (RulesEngine.beginSnapshot), and the acks of readings released a few thousand per event-loop turn.
 *
 * Acknowledgements arrive on `cleanstream/v1/alert-acks/{plant}/{rule}/{meter}` as `{"by": "...", "comment": "..."}`.
 * Malformed reading messages are counted, not dead-lettered: ingest dead-letters the same messages already.
 */
import { pino } from 'pino';
import type { Logger } from 'pino';
import { RecentMessages } from '../bus/dedup.ts';
import { createMqttSubscriber } from '../bus/mqtt/durable-subscriber.ts';
import { topics } from '../bus/topics.ts';
import { TransportError } from '../core/errors.ts';
import { loadPlantRegistry, type PlantRegistry } from '../core/plants.ts';
import type { AlertTransition } from './alerts.ts';
import { assembleRulesSink } from './assemble.ts';
import { parseRulesConfig, type RulesConfig, type RulesConfigInput } from './config.ts';
import type { RulesEngine } from './engine.ts';
import { scopeOf } from './partition.ts';
import type { RulesReload } from './reload.ts';
import { rulesDecoding, type RulesMessage, type RulesStats } from './sink.ts';

export type { CheckpointFigures } from './checkpoint-cycle.ts';
export type { RulesReload } from './reload.ts';
export type { RulesStats } from './sink.ts';

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

export async function startRules(input: RulesConfig | RulesConfigInput, opts: RulesOptions = {}): Promise<RulesService> {
  const config = parseRulesConfig(input);
  const log = opts.logger ?? pino({ name: 'cleanstream-rules' });
  const clock = opts.clock ?? Date.now;
  const scope = scopeOf(config, opts.registry ?? (config.plants ? loadPlantRegistry(config.plants) : undefined));
  const recent = new RecentMessages();
  const subscriber = createMqttSubscriber<RulesMessage>({
    mqtt: config.mqtt,
    clientId: scope.clientId,
    sessionExpirySeconds: config.sessionExpirySeconds,
    subscriptions: [...scope.subscriptions, topics.alertAcksFilter()],
    connectTimeoutMs: opts.connectTimeoutMs ?? 30_000,
    decode: rulesDecoding(clock, recent),
  });
  subscriber.on('transportError', (err) => {
    if (err instanceof TransportError && err.code === 'MQTT_CLIENT_ID_CLASH') log.warn(err.context, err.message);
    else log.error({ err: err.message }, 'mqtt');
  });
  const sink = await assembleRulesSink(config, scope, subscriber, recent, { clock, log, env: opts.env, onTransition: opts.onTransition, maxAlertsInFlight: opts.maxAlertsInFlight });
  subscriber.on('disconnected', () => sink.connectionLost());

  try {
    await sink.start();
    await subscriber.start((message) => sink.write(message, message.ack));
  } catch (err) {
    await sink.abandon();
    throw err;
  }
  sink.startClock();

  return {
    get engine() {
      return sink.engine;
    },
    reload: (input) => sink.reload(input),
    flush: () => sink.publishPending(),
    stats: () => sink.stats(),
    // Stop judging but keep the subscription: the session is persistent, the broker queues for us while we are away
    // and redelivers what arrived during the stop (never acknowledged).
    stop: () => subscriber.stop(() => sink.stop()),
  };
}
