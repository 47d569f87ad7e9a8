/**
 * The rules engine as a sink of the bus (bus/sink.ts): each message its durable subscriber hands over is judged (a
 * reading batch, put in its gateway's seq order first) or applied (an operator's acknowledgement), and its ack is
 * held until a checkpoint covers it (bus/held-acks.ts, checkpoint-cycle.ts). Alert transitions leave through
 * transitions.ts; the engine in force is reload.ts's.
 *
 *   subscriber ──▶ decode, dedup (bus) ──▶ write ─▶ seq order ─▶ RulesEngine ─▶ transitions ─▶ outboxes, journal, topic, InfluxDB
 *        ▲                                   │ ack held                                   │
 *        └──── acks called after the checkpoint ◀──── checkpoint cycle ◀──────────────────┘ (durable first)
 *
 * Lifecycle: start() before the subscription (restore, recovery, checkpoints), startClock() once it is live (ticks),
 * stop() inside the subscriber's stop (publishes what is pending within 10 s, writes a last checkpoint, sends its
 * acks before the disconnect).
 */
import type { Logger } from 'pino';
import type { RecentMessages } from '../bus/dedup.ts';
import type { Resequencer } from '../bus/resequence.ts';
import type { Ack, Sink, SinkStats } from '../bus/sink.ts';
import type { BusMessage, DecodeOptions, DurableSubscriber } from '../bus/subscriber.ts';
import { PayloadError } from '../core/errors.ts';
import { decodeBatch, DEFAULT_MAX_FUTURE_SKEW_MS, type ReadingBatch } from '../core/reading.ts';
import { acknowledgementHandler, isAcknowledgementTopic } from './acknowledgements.ts';
import type { AlertPublisher } from './alert-publisher.ts';
import type { CheckpointCycle, CheckpointFigures } from './checkpoint-cycle.ts';
import type { RulesConfig, RulesConfigInput } from './config.ts';
import type { EngineStats, RulesEngine } from './engine.ts';
import type { HeldAcks } from '../bus/held-acks.ts';
import type { AlertWriter, AlertWriterStats } from './influx.ts';
import type { RouteStats, WebhookNotifier } from './notify/webhook.ts';
import type { LiveRules, RulesReload } from './reload.ts';
import type { PublishedBeforeCrash } from './recovery.ts';
import type { TransitionOutlet } from './transitions.ts';

export interface RulesStats extends SinkStats {
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

/** What the rules engine reads from the bus: reading batches on its readings filters, acknowledgements on the alert-acks filter. */
export type RulesMessage = { kind: 'readings'; batch: ReadingBatch } | { kind: 'acknowledgement' };

/**
 * Decoding and dedup for the subscriber. A reading from the future would move the event-time windows past every
 * real reading: refused as ingest refuses it (ts_in_future, and ts_too_old for a clock reset before 2000). No age
 * limit: replays and backfills of history are judged in event time, the windows' lateness rules decide what is too late.
 */
export function rulesDecoding(clock: () => number, recent: RecentMessages): DecodeOptions<RulesMessage> {
  return {
    decode: (topic, payload) => (isAcknowledgementTopic(topic) ? { kind: 'acknowledgement' } : { kind: 'readings', batch: decodeBatch(payload, { now: clock(), maxFutureSkewMs: DEFAULT_MAX_FUTURE_SKEW_MS, maxAgeMs: undefined }) }),
    dedup: { recent, identify: (m) => (m.kind === 'readings' ? { source: m.batch.gateway, seq: m.batch.seq, sentAt: m.batch.sentAt } : undefined) },
  };
}

export interface RulesSinkParts {
  name: string;
  config: RulesConfig;
  owned: ReadonlySet<string> | undefined;
  live: LiveRules;
  transitions: TransitionOutlet;
  cycle: CheckpointCycle;
  /** Undefined without a checkpoint file: every message is acknowledged as it is handled. */
  acks: HeldAcks | undefined;
  reorder: Resequencer;
  publisher: AlertPublisher;
  writer: AlertWriter;
  notifier: WebhookNotifier;
  bus: Pick<DurableSubscriber, 'connected' | 'stats'>;
  /** The restart's comparison with the retained alert topics (recovery.ts publishedBeforeCrash). */
  recover: () => Promise<PublishedBeforeCrash>;
  /** Starts the history jobs; returns their stop function. */
  startHistory: () => (() => void) | undefined;
  clock: () => number;
  log: Logger;
}

export class RulesSink implements Sink<BusMessage<RulesMessage>, RulesStats> {
  readonly name: string;
  private readonly counters = { receivedMessages: 0, duplicateMessages: 0 };
  private readonly rejected: Record<string, number> = {};
  private readonly onAcknowledgement: (topic: string, payload: Buffer) => void;
  private tickTimer: NodeJS.Timeout | undefined;
  private stopHistory: (() => void) | undefined;
  private stopped: Promise<void> | undefined;

  constructor(private readonly parts: RulesSinkParts) {
    this.name = parts.name;
    this.onAcknowledgement = acknowledgementHandler(() => parts.live.engine, parts.owned, parts.log);
  }

  get engine(): RulesEngine {
    return this.parts.live.engine;
  }

  /** New rules, limits and baseline files without losing state (reload.ts); never while a checkpoint is being taken. */
  reload(input: RulesConfig | RulesConfigInput): Promise<RulesReload> {
    const { live, cycle } = this.parts;
    return live.reload(input, {
      settled: async () => {
        while (cycle.inProgress) await cycle.inProgress;
      },
      swapped: () => cycle.restartChain(),
    });
  }

  /** A batch out of the reorder buffer, in its gateway's order: judged unless the restored state holds it already. */
  readonly judge = (b: ReadingBatch): void => {
    if (this.parts.cycle.admit(b)) this.parts.live.engine.ingestBatch(b);
    else this.counters.duplicateMessages++;
  };

  /**
   * Ready for writes: the InfluxDB database created (or its absence logged), the last checkpoint restored, so that the
   * messages of a resumed session are judged on the restored state, and the last run's unconfirmed transitions
   * compared with the retained alert topics before anything is published (recovery.ts); checkpoints and history jobs
   * begin.
   */
  async start(): Promise<void> {
    const { writer, cycle, transitions, owned, clock, log } = this.parts;
    try {
      await writer.createDatabase();
    } catch (err) {
      // InfluxDB down at start is not fatal: rows wait in the writer until it answers.
      log.error({ err: (err as Error).message }, 'could not create the InfluxDB database; alert rows are kept until it can be written');
    }
    cycle.restore(owned, clock(), transitions.journaledAtStart);
    cycle.useAcks(this.parts.acks);
    transitions.open(await this.parts.recover());
    cycle.startTimer();
    this.stopHistory = this.parts.startHistory();
  }

  /**
   * The subscription is live: processing time starts to count (reorder gaps given up on, deadman rules, escalation).
   * Not before: after a restart the broker's backlog must be judged before a meter is called silent.
   */
  startClock(): void {
    const { reorder, live, writer, config, clock, log } = this.parts;
    this.tickTimer = setInterval(() => {
      try {
        const now = clock();
        reorder.tick(now);
        live.engine.tick(now);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'rules tick failed');
      }
      void writer.flush();
    }, config.tickMs);
  }

  /** The start failed (the checkpoint unreadable, the subscription never came up): stop what start began, without a checkpoint. */
  async abandon(): Promise<void> {
    this.parts.cycle.stopTimer();
    this.stopHistory?.();
    await this.parts.notifier.stop();
  }

  write(message: BusMessage<RulesMessage>, ack: Ack): void {
    const { acks, cycle, log } = this.parts;
    if (acks) acks.hold(ack);
    else ack();
    const decoded = message.decoded;
    if (decoded?.kind === 'acknowledgement') return this.onAcknowledgement(message.topic, message.payload);
    this.counters.receivedMessages++;
    try {
      if (message.decodeError) throw message.decodeError;
      if (decoded) this.parts.reorder.push(decoded.batch, this.parts.clock());
    } catch (err) {
      const reason = err instanceof PayloadError ? err.reason : 'internal_error';
      this.rejected[reason] = (this.rejected[reason] ?? 0) + 1;
      if (!(err instanceof PayloadError)) log.error({ err: (err as Error).message, topic: message.topic }, 'judging a batch failed');
    }
    cycle.afterMessage();
  }

  /** The connection the held acks came on was lost: the transport delivers their messages again. */
  connectionLost(): void {
    this.parts.acks?.connectionLost();
  }

  /** Every transition handed on so far confirmed (outboxes, journal, topic), and the alert rows written to InfluxDB. */
  async publishPending(): Promise<void> {
    await this.parts.transitions.handOn();
    await this.parts.writer.flush(true);
  }

  /** The Sink contract's flush: what was written so far judged, published, covered by a checkpoint and acknowledged. */
  async flush(): Promise<void> {
    await this.publishPending();
    await this.parts.cycle.checkpoint();
    await this.parts.cycle.acknowledged;
  }

  /** Publishes and writes what is pending (at most 10 s), writes a checkpoint, closes the journal and the webhooks. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      const { cycle, transitions, notifier } = this.parts;
      clearInterval(this.tickTimer);
      cycle.stopTimer();
      this.stopHistory?.();
      let flushTimer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.publishPending(), new Promise((r) => (flushTimer = setTimeout(r, 10_000)))]);
      // a pending timer would keep the process alive for the rest of the 10 s (Ctrl-C on `up` took 10 s)
      clearTimeout(flushTimer);
      await cycle.inProgress;
      await cycle.checkpoint();
      await cycle.acknowledged;
      await transitions.close();
      await notifier.stop();
    })();
    return this.stopped;
  }

  stats(): RulesStats {
    const { cycle, reorder, transitions, publisher, notifier, writer, live, bus } = this.parts;
    const { duplicates } = bus.stats();
    const unacked = cycle.unacked;
    return {
      // the bus drops the duplicates it recognises before they reach the sink: they were received all the same
      receivedMessages: this.counters.receivedMessages + duplicates,
      duplicateMessages: this.counters.duplicateMessages + duplicates,
      pendingMessages: unacked,
      suppressedTransitions: transitions.suppressed,
      published: publisher.published,
      publishErrors: publisher.publishErrors,
      checkpoints: cycle.checkpoints,
      deltaCheckpoints: cycle.deltaCheckpoints,
      rejected: { ...this.rejected },
      unackedMessages: unacked,
      reorder: { waiting: reorder.pending, reordered: reorder.reordered, gapsSkipped: reorder.gapsSkipped },
      webhooks: notifier.stats(),
      engine: live.engine.stats(),
      influx: { ...writer.stats },
      lastCheckpoint: { ...cycle.lastCheckpoint },
      connected: bus.connected,
    };
  }
}
