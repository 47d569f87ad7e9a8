/**
 * Alert transitions handed on, in order and in batches: webhook outboxes, journal O, the retained topic, journal D,
 * then the InfluxDB row (journal.ts says what the lines mean after a crash).
 *
 * Two chains: `sending` (outboxes, journal O, the PUBLISH written) runs batch after batch without waiting for
 * PUBACKs, so an alert is on its way as soon as it is raised, whatever is still unconfirmed before it; `confirming`
 * (PUBACKs, journal D, InfluxDB rows) follows in the same order, and is what a checkpoint waits for. One client
 * writes the PUBLISHes in order, so a topic's transitions reach the broker in order (MQTT 3.1.1 §4.6).
 * Nothing is sent until `open` is called: at a restart the broker redelivers readings as soon as the session resumes,
 * and their transitions must be compared with what the alert topics show (recovery.ts), not raced against reading it.
 */
import type { Logger } from 'pino';
import type { AlertTransition } from './alerts.ts';
import type { AlertPublisher } from './alert-publisher.ts';
import type { AlertWriter } from './influx.ts';
import { alertTopicState, transitionKey, type JournalState, type TransitionJournal } from './journal.ts';
import type { WebhookNotifier } from './notify/webhook.ts';
import type { PublishedBeforeCrash } from './recovery.ts';

interface Keyed {
  n: number;
  t: AlertTransition;
  key: string;
  topicState: string;
}

/** A journal line since the last checkpoint, by emission number, so that a checkpoint keeps only what it does not cover. */
interface Journaled {
  n: number;
  plant: string;
  key: string;
  topicState?: string;
  done: boolean;
}

export interface TransitionOutletParts {
  /** Undefined without a checkpoint file: nothing survives a restart, nothing is journaled. */
  journal: TransitionJournal | undefined;
  notifier: WebhookNotifier;
  publisher: AlertPublisher;
  writer: AlertWriter;
  log: Logger;
  onTransition?: ((t: AlertTransition) => void) | undefined;
}

export class TransitionOutlet {
  /** Transitions produced again after a restart and recognised as already notified. */
  suppressed = 0;
  /** How far the transitions of the previous run since its last checkpoint got; the redelivered readings produce them again. */
  readonly previous: JournalState;
  /** Journal lines the previous run left (for the restart's log line). */
  readonly journaledAtStart: number;
  private emittedCount = 0;
  private journaled: Journaled[] = [];
  private batch: { n: number; t: AlertTransition }[] = [];
  private opened: () => void = () => undefined;
  private sending: Promise<void>;
  private confirming: Promise<void> = Promise.resolve();
  private sendWaiting = false;
  private publishedBeforeCrash: PublishedBeforeCrash = () => false;

  constructor(private readonly parts: TransitionOutletParts) {
    this.previous = parts.journal?.load() ?? { done: new Set<string>(), outboxed: new Map<string, string | undefined>() };
    this.journaledAtStart = this.previous.done.size + this.previous.outboxed.size;
    this.sending = new Promise<void>((resolve) => (this.opened = resolve));
  }

  /** Transitions handed to the outlet so far: a checkpoint notes the number each plant's state was taken at. */
  get emitted(): number {
    return this.emittedCount;
  }

  /** Start sending; `publishedBeforeCrash` (recovery.ts) recognises what the previous run got onto its topics. */
  open(publishedBeforeCrash?: PublishedBeforeCrash): void {
    if (publishedBeforeCrash) this.publishedBeforeCrash = publishedBeforeCrash;
    this.opened();
  }

  /** One transition from the engine (or a reload), in order. */
  hand(t: AlertTransition): void {
    const { previous } = this;
    if (previous.done.size && previous.done.delete(transitionKey(t))) {
      this.suppressed++;
      return;
    }
    this.parts.log.info({ transition: t.transition, alert: t.alert.id, severity: t.alert.severity, value: t.alert.value, limit: t.alert.limit }, t.alert.message.en);
    this.parts.onTransition?.(t);
    if (this.batch.length === 0) queueMicrotask(() => void this.handOn());
    this.batch.push({ n: ++this.emittedCount, t });
  }

  /**
   * Hand what is batched on now; settles when everything handed on so far is confirmed. A send waiting its turn takes
   * every transition batched by then: while one waits for its journal sync, the transitions raised meanwhile go out
   * together in the next (one sync for all of them), however many they are.
   */
  handOn(): Promise<void> {
    if (this.batch.length && !this.sendWaiting) {
      this.sendWaiting = true;
      const sent = this.sending.then(() => {
        this.sendWaiting = false;
        const items = this.batch;
        this.batch = [];
        return this.send(items);
      });
      this.sending = sent.then(
        () => undefined,
        (err: unknown) => this.parts.log.error({ err: (err as Error).message }, 'handing on alert transitions failed'),
      );
      this.confirming = Promise.all([this.confirming, sent])
        .then(async ([, { keyed, acked }]) => {
          await acked;
          void this.journalWrite('done', keyed);
          for (const i of keyed) if (i.t.historyRow !== false) this.parts.writer.push(i.t);
        })
        .catch(() => undefined); // reported by `sending`
    }
    return this.confirming;
  }

  /**
   * A checkpoint is durable: the journal keeps only the lines whose transitions the state on disk may not hold (their
   * plant was not taken, or was taken before them). `takenAt`: plant → the emission number its state was taken at.
   */
  async checkpointed(takenAt: ReadonlyMap<string, number>): Promise<void> {
    this.journaled = this.journaled.filter((j) => !(j.n <= (takenAt.get(j.plant) ?? -1)));
    try {
      const keep = { done: new Set(this.previous.done), outboxed: new Map(this.previous.outboxed) };
      for (const j of this.journaled) {
        if (j.done) keep.done.add(j.key);
        else keep.outboxed.set(j.key, j.topicState);
      }
      for (const k of keep.done) keep.outboxed.delete(k);
      await this.parts.journal?.reset(keep);
    } catch (err) {
      this.parts.log.error({ err: (err as Error).message }, 'resetting the transition journal failed');
    }
  }

  close(): Promise<void> {
    return this.parts.journal?.close() ?? Promise.resolve();
  }

  /** Outboxes, journal O, PUBLISH; resolves once the PUBLISHes are written, with their PUBACKs to wait for. */
  private async send(items: { n: number; t: AlertTransition }[]): Promise<{ keyed: Keyed[]; acked: Promise<unknown> }> {
    const { previous } = this;
    const keyed = items.map((i) => ({ ...i, key: transitionKey(i.t), topicState: alertTopicState(i.t.alert) }));
    const fresh = keyed.filter((i) => !previous.outboxed.has(i.key));
    await this.parts.notifier.enqueue(fresh.map((i) => i.t));
    // The O lines are written now, before the PUBLISHes (a crash of the process cannot lose them), and synced in the
    // background: a PUBLISH does not wait for the disk, which a checkpoint being flushed can hold for a second; the
    // confirmation (and so the next checkpoint) does. A power cut between the two may notify a transition again
    // after the reboot (same Idempotency-Key, same retained state), never lose it.
    const synced = this.journalWrite('outboxed', fresh);
    const acked = Promise.all([
      synced,
      ...keyed.map((i) => {
        const replayed = previous.outboxed.has(i.key);
        previous.outboxed.delete(i.key);
        if (replayed && this.publishedBeforeCrash(i.key, i.t)) {
          this.suppressed++;
          return undefined;
        }
        return this.parts.publisher.publish(i.t.alert);
      }),
    ]);
    return { keyed, acked };
  }

  /** Journal lines; for O lines, resolves once they are on disk. */
  private async journalWrite(what: 'outboxed' | 'done', items: Keyed[]): Promise<void> {
    const { journal } = this.parts;
    if (!journal || !items.length) return;
    try {
      const synced = what === 'outboxed' ? journal.outboxed(items) : journal.done(items.map((i) => i.key));
      for (const i of items) this.journaled.push({ n: i.n, plant: i.t.alert.plant, key: i.key, topicState: i.topicState, done: what === 'done' });
      await synced;
    } catch (err) {
      this.parts.log.error({ err: (err as Error).message, file: journal.file }, 'writing the transition journal failed; a crash now could notify these transitions twice');
    }
  }
}
