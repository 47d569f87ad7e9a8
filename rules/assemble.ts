/**
 * The rules sink assembled from a config, on whatever bus carries its messages: the modules of the rules service
 * (reload.ts, transitions.ts, alert-publisher.ts, checkpoint-cycle.ts, bus/held-acks.ts, recovery.ts, jobs.ts) built and
 * joined. startRules puts it on the MQTT durable subscriber; the sink contract suite on a bus of its own.
 */
import type { Logger } from 'pino';
import type { RecentMessages } from '../bus/dedup.ts';
import { Resequencer } from '../bus/resequence.ts';
import type { BusPublisher, DurableSubscriber } from '../bus/subscriber.ts';
import { ConfigError } from '../core/errors.ts';
import type { AlertTransition } from './alerts.ts';
import { AlertPublisher } from './alert-publisher.ts';
import { CheckpointCycle } from './checkpoint-cycle.ts';
import type { RulesConfig } from './config.ts';
import { HeldAcks } from '../bus/held-acks.ts';
import { AlertWriter } from './influx.ts';
import { startHistoryJobs } from './jobs.ts';
import { TransitionJournal } from './journal.ts';
import { lateLogger } from './late-log.ts';
import { WebhookNotifier } from './notify/webhook.ts';
import type { RulesScope } from './partition.ts';
import { publishedBeforeCrash } from './recovery.ts';
import { LiveRules } from './reload.ts';
import { RulesSink } from './sink.ts';
import { TransitionOutlet } from './transitions.ts';

/** What the sink needs of the bus: publishing (retained alert states) and how the subscription is doing. */
export type RulesBus = BusPublisher & Pick<DurableSubscriber, 'connected' | 'stats'>;

export interface RulesSinkOptions {
  clock: () => number;
  log: Logger;
  /** Environment for webhook secrets (default process.env). */
  env?: NodeJS.ProcessEnv | undefined;
  onTransition?: ((t: AlertTransition) => void) | undefined;
  maxAlertsInFlight?: number | undefined;
}

/** Builds the sink (and opens its webhook outboxes); `recent` is the dedup state the bus's subscriber uses, kept in the checkpoints. */
export async function assembleRulesSink(config: RulesConfig, scope: RulesScope, bus: RulesBus, recent: RecentMessages, opts: RulesSinkOptions): Promise<RulesSink> {
  const { clock, log } = opts;
  const registry = scope.registry;
  if (config.history.enabled && !registry) throw new ConfigError('rules config', [{ path: 'history.enabled', expected: 'a plant registry (`plants:`) for baselines and reductions' }]);
  const live = new LiveRules(config, { registry, clock, onTransition: (t) => transitions.hand(t), onLate: lateLogger(log) });
  const writer = new AlertWriter(config.influx, (err) => log.error({ err: err.message, code: err.code }, 'alerts to InfluxDB'));

  const notifier = await WebhookNotifier.open({ ...config.notify, ...(scope.outboxDir ? { outboxDir: scope.outboxDir } : {}) }, { registry, ...(opts.env ? { env: opts.env } : {}) });
  notifier.on('retry', (i) => log.warn(i, `webhook ${i.route}: attempt ${i.attempt} failed (${i.reason}); retrying in ${i.delayMs} ms`));
  notifier.on('deadLetter', (i) => log.error(i, `webhook ${i.route}: gave up on ${i.key} after ${i.attempts} attempts (${i.reason}); kept in its dead-letters.ndjson`));
  notifier.on('error', (err) => log.error({ err: err.message }, 'webhooks'));

  const publisher = new AlertPublisher((topic, payload) => bus.publish(topic, payload, { retain: true }), log, opts.maxAlertsInFlight);
  const checkpointFile = scope.checkpointFile;
  const transitions = new TransitionOutlet({ journal: checkpointFile ? new TransitionJournal(`${checkpointFile}.journal`) : undefined, notifier, publisher, writer, log, onTransition: opts.onTransition });
  const reorder = new Resequencer((b) => sink.judge(b), { waitMs: config.eventTime.reorderWaitMs, maxPending: config.eventTime.reorderMaxPending });
  const cycle = new CheckpointCycle({ file: checkpointFile, settings: config.checkpoint, phase: scope.checkpointPhase, engine: () => live.engine, recent, reorder, transitions, log });
  const sink: RulesSink = new RulesSink({
    name: `rules ${scope.clientId}`,
    config,
    owned: scope.owned,
    live,
    transitions,
    cycle,
    acks: checkpointFile ? new HeldAcks() : undefined,
    reorder,
    publisher,
    writer,
    notifier,
    bus,
    recover: () => publishedBeforeCrash(config, transitions.previous.outboxed, log),
    startHistory: () => startHistoryJobs(config, registry, () => live.baselines, clock, log),
    clock,
    log,
  });
  return sink;
}
