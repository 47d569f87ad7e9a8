/**
 * The checkpoint cycle of the rules service: when checkpoints are taken (every `checkpoint.intervalMs`, early once
 * `checkpoint.maxUnackedMessages` readings wait for one, and at stop), full or incremental (checkpoint.ts), what must
 * be durable before one is (the transitions its state produced), and what follows one (the journal trimmed, the
 * readings it covers acknowledged to the broker). Also the restore at start, and the batches a restored state holds
 * although the broker will deliver them again (`admit`).
 */
import type { Logger } from 'pino';
import type { ReadingBatch } from '../core/reading.ts';
import type { AckMark } from '../bus/mqtt-acks.ts';
import type { RecentMessages } from '../bus/dedup.ts';
import type { Resequencer } from '../bus/resequence.ts';
import { deltaFile, readCheckpoint, removeDeltas, writeCheckpointInSlices, type RulesCheckpoint, type SlicedSection } from './checkpoint.ts';
import type { RulesConfig } from './config.ts';
import type { RulesEngine, SnapshotCapture } from './engine.ts';
import type { TransitionOutlet } from './transitions.ts';

export interface CheckpointFigures {
  bytes: number;
  ms: number;
}

/** Readings acknowledged to the broker only once a checkpoint covers them (bus/held-acks.ts). */
export interface CheckpointAckSource {
  /** Messages handled and not yet acknowledged. */
  readonly outstanding: number;
  /** What a checkpoint whose state is taken now covers. */
  mark(): AckMark;
  /** The checkpoint taken at `mark` is durable: acknowledge what it covers. */
  release(mark: AckMark): Promise<void>;
}

export interface CheckpointCycleParts {
  /** Undefined: no checkpoints (every method is a no-op, readings are acknowledged on arrival). */
  file: string | undefined;
  settings: RulesConfig['checkpoint'];
  /** Partition i of n starts at (i + 1) / n of the bounds (partition.ts RulesScope.checkpointPhase). */
  phase: number;
  engine: () => RulesEngine;
  recent: RecentMessages;
  reorder: Pick<Resequencer, 'snapshot' | 'restore'>;
  transitions: Pick<TransitionOutlet, 'handOn' | 'emitted' | 'checkpointed'>;
  log: Logger;
}

/** A batch's identity for alreadyJudged: its gateway, seq and send time (as RecentMessages knows it). */
function messageKey(b: ReadingBatch): string {
  return `${b.gateway}|${b.seq}:${b.sentAt}`;
}

export class CheckpointCycle {
  checkpoints = 0;
  /** Of those, incremental ones (only the series changed since the checkpoint before). */
  deltaCheckpoints = 0;
  /** The last full and the last incremental checkpoint written: size, and time from the capture's start to the rename. */
  readonly lastCheckpoint: { full?: CheckpointFigures; delta?: CheckpointFigures } = {};
  private acks: CheckpointAckSource | undefined;
  private running: Promise<void> | undefined;
  private releasing: Promise<void> = Promise.resolve();
  /**
   * The chain of incremental checkpoints on disk: its base and how many deltas follow it. Undefined until this run
   * has written a full checkpoint (the first one is always full: the generations of a previous run mean nothing).
   */
  private chain: { baseId: string; deltas: number; baseBytes: number; deltaBytes: number; changedSince: number } | undefined;
  private bases = 0;
  private unackedBound: number;
  private timer: NodeJS.Timeout | undefined;
  /**
   * Batches a restored checkpoint holds already although its acknowledgements do not cover them (judged for a plant
   * while the checkpoint was being taken, before the plant's turn), by plant: when the broker delivers them again
   * they are not judged twice. Each is forgotten once seen; the rest go on into the next checkpoint.
   */
  private readonly alreadyJudged = new Map<string, Set<string>>();
  /** The capture in progress, and the batches judged for its plants still to be taken (message keys by plant). */
  private capture: SnapshotCapture | undefined;
  private judgedDuringCapture = new Map<string, string[]>();

  constructor(private readonly parts: CheckpointCycleParts) {
    this.unackedBound = Math.max(1, Math.round(parts.settings.maxUnackedMessages * parts.phase));
  }

  /** The checkpoint being written, if any. */
  get inProgress(): Promise<void> | undefined {
    return this.running;
  }

  /**
   * Restore the engine, the recent messages and the reorder state from the last checkpoint (if any). `owned`: a
   * partition's plants; alerts of others (a checkpoint of another partitioning) are not its to keep open.
   */
  restore(owned: ReadonlySet<string> | undefined, now: number, journaledAtStart: number): void {
    const { file } = this.parts;
    if (!file) return;
    const snap = readCheckpoint(file);
    if (!snap) return;
    if (owned) {
      snap.alerts = snap.alerts.filter((a) => owned.has(a.key[1]));
      if (snap.plants) snap.plants = snap.plants.filter((p) => owned.has(p.plant));
    }
    const dropped = this.parts.engine().restore(snap);
    this.parts.recent.restore(snap.recentMessages);
    for (const p of snap.plants ?? []) if (p.included.length) this.alreadyJudged.set(p.plant, new Set(p.included));
    this.parts.reorder.restore(snap.reorder, now);
    const openAlerts = snap.alerts.length + (snap.plants ?? []).reduce((n, p) => n + p.alerts.length, 0);
    this.parts.log.info({ file, takenAt: snap.takenAt, openAlerts, deltas: snap.deltasApplied ?? 0, journaled: journaledAtStart, ...dropped }, 'restored rules state from the checkpoint');
  }

  /** Where the acknowledgements come from (set once the connection exists; without it nothing is acknowledged here). */
  useAcks(acks: CheckpointAckSource | undefined): void {
    this.acks = this.parts.file ? acks : undefined;
  }

  /** Settles once the acknowledgements of the last checkpoint written are all sent (the last one before a stop). */
  get acknowledged(): Promise<void> {
    return this.releasing;
  }

  /** Messages judged but not yet acknowledged to the broker. */
  get unacked(): number {
    return this.acks?.outstanding ?? 0;
  }

  /**
   * Before a batch is judged: false when the restored state holds it already (a redelivery); else it is noted for the
   * plant's entry if a capture has not taken the plant yet.
   */
  admit(b: ReadingBatch): boolean {
    if (this.alreadyJudged.size) {
      const keys = this.alreadyJudged.get(b.plant);
      if (keys?.delete(messageKey(b))) {
        if (!keys.size) this.alreadyJudged.delete(b.plant);
        return false;
      }
    }
    if (this.capture?.pending(b.plant)) {
      let keys = this.judgedDuringCapture.get(b.plant);
      if (!keys) this.judgedDuringCapture.set(b.plant, (keys = []));
      keys.push(messageKey(b));
    }
    return true;
  }

  /** After each reading message: a checkpoint early when many wait for one. */
  afterMessage(): void {
    if (this.acks && this.acks.outstanding >= this.unackedBound && !this.running) void this.checkpoint();
  }

  /** Every `intervalMs` from now, the first at the partition's phase of it. */
  startTimer(): void {
    if (!this.parts.file) return;
    const every = (): void => {
      void this.checkpoint();
      this.timer = setTimeout(every, this.parts.settings.intervalMs);
    };
    this.timer = setTimeout(every, Math.round(this.parts.settings.intervalMs * this.parts.phase));
  }

  stopTimer(): void {
    clearTimeout(this.timer);
  }

  /** The engine was replaced (a reload): the next checkpoint is full, deltas count the generations of the old engine. */
  restartChain(): void {
    this.chain = undefined;
  }

  /** Take and write a checkpoint, or join the one being written. */
  checkpoint(): Promise<void> {
    const file = this.parts.file;
    if (!file) return Promise.resolve();
    this.running ??= this.write(file).finally(() => (this.running = undefined));
    return this.running;
  }

  private async write(file: string): Promise<void> {
    const { settings, transitions, log } = this.parts;
    const engine = this.parts.engine();
    const began = performance.now();
    const chain = this.chain;
    const full = !chain || chain.deltas >= settings.deltas || chain.deltaBytes >= chain.baseBytes;
    const baseId = full ? `${Date.now().toString(36)}-${process.pid}-${++this.bases}` : chain.baseId;
    const seq = full ? 0 : chain.deltas + 1;
    // Taken in slices while readings keep being judged, plant by plant, each plant as it is when its turn comes
    // (engine.ts SnapshotCapture): alerts raised meanwhile are handed on at once, not held behind the checkpoint.
    // The acknowledgements cover what arrived before the capture began (`mark`); batches judged after that for a
    // plant not yet taken are in the state too, and are listed with the plant (alreadyJudged after a restart).
    // The emission number each plant is taken at says which journal lines its state covers.
    const takenAt = new Map<string, number>();
    this.judgedDuringCapture = new Map();
    const series = engine.beginSnapshot({
      ...(full ? {} : { changedSince: chain.changedSince }),
      includedOf: (plant) => {
        const keys = [...(this.judgedDuringCapture.get(plant) ?? []), ...(this.alreadyJudged.get(plant) ?? [])];
        this.judgedDuringCapture.delete(plant);
        return keys;
      },
      onTaken: (plant) => void takenAt.set(plant, transitions.emitted),
    });
    this.capture = series;
    const recentKeys = this.parts.recent.beginSnapshot();
    const head: Omit<RulesCheckpoint, SlicedSection['key']> = { ...series.head, reorder: this.parts.reorder.snapshot(), ...(full ? { baseId } : { delta: { base: baseId, seq } }) };
    const headJson = JSON.stringify(head); // now: what it holds keeps changing
    const mark = this.acks?.mark();
    // the transitions the taken state produced must be durable before the checkpoint is: else a crash in
    // between restores a state that raised an alert nobody was told of
    const durable = (): Promise<void> => transitions.handOn();
    try {
      const sections: SlicedSection[] = [
        { key: 'series', kind: 'array', take: series.take },
        { key: 'plants', kind: 'array', take: series.takePlants },
        { key: 'recentMessages', kind: 'object', take: recentKeys.take },
      ];
      const bytes = await writeCheckpointInSlices(full ? file : deltaFile(file, seq), headJson, sections, durable);
      if (full) {
        // the new base stands alone: the old chain's deltas go (a crash before they do leaves deltas naming the old base, ignored)
        removeDeltas(file);
        this.chain = { baseId, deltas: 0, baseBytes: bytes, deltaBytes: 0, changedSince: series.generation + 1 };
      } else {
        this.chain = { ...chain, deltas: seq, deltaBytes: chain.deltaBytes + bytes, changedSince: series.generation + 1 };
      }
      this.checkpoints++;
      this.lastCheckpoint[full ? 'full' : 'delta'] = { bytes, ms: Math.round(performance.now() - began) };
      this.unackedBound = settings.maxUnackedMessages;
      if (!full) this.deltaCheckpoints++;
    } catch (err) {
      series.abandon();
      recentKeys.abandon();
      log.error({ err: (err as Error).message, file }, 'writing the rules checkpoint failed; readings stay unacknowledged');
      return;
    } finally {
      if (this.capture === series) this.capture = undefined;
      this.judgedDuringCapture = new Map();
    }
    await transitions.checkpointed(takenAt);
    if (mark && this.acks) this.releasing = this.acks.release(mark);
  }
}
