/**
 * The journal of alert transitions handed on since the last checkpoint. After a crash the restored snapshot predates
 * them, the redelivered readings produce them again, and the journal says how far each got, so that nobody is
 * notified twice:
 *
 *   O <key> <state>   its webhook notifications are in the outboxes (fsync'd)      → not queued again
 *   D <key>           and the broker acknowledged it on the retained alert topic   → not published again either
 *
 * A transition with an O line but no D line may or may not have reached the topic; `<state>` is what the retained
 * alert topic shows once it has (alertTopicState), so that the restart can tell from the retained state how far the
 * topic got (rules/recovery.ts).
 *
 * O lines are written before their transition is published (a crash of the process cannot lose them) and synced
 * (fdatasync) off the event loop, shared by every line waiting (group commit), before the transition counts as
 * confirmed and so before the next checkpoint; the PUBLISH does not wait for the sync (rules/service.ts). D lines are
 * written but not synced: one lost with the machine leaves its O line, and the restart then reads the retained topic
 * instead (the same path as a crash between the two).
 *
 * Keys are `<alert id>:<transition>:<count>`; alert ids derive from the rule, plant, meter and event time of the
 * raise, so the same readings give the same keys.
 */
import { closeSync, fdatasync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import type { Alert, AlertTransition } from './alerts.ts';

export function transitionKey(t: AlertTransition): string {
  return `${t.alert.id}:${t.transition}:${t.alert.count}`;
}

/**
 * What distinguishes one transition of an alert from the others in the alert JSON alone (the retained payload has no
 * transition kind): each transition changes the state, the count or the escalated flag. Times are left out on
 * purpose: acknowledgements and escalations replayed after a restart carry a later processing time.
 */
export function alertTopicState(a: Pick<Alert, 'id' | 'state' | 'count' | 'escalated'>): string {
  return `${a.id}:${a.state}:${a.count}:${a.escalated ? 'e' : '-'}`;
}

/** Rule, plant and meter of a key (ids never contain '.' or ':'). */
export function keyParts(key: string): { rule: string; plant: string; meter: string } | undefined {
  const [rule, plant, meter] = key.split(':')[0]!.split('.');
  return rule && plant && meter ? { rule, plant, meter } : undefined;
}

export interface JournalState {
  /** Notified everywhere. */
  done: Set<string>;
  /**
   * In the outboxes; the retained topic unknown. Key → the alert topic state it publishes (undefined for lines of
   * journals written before states were recorded), in the order the transitions were handed on.
   */
  outboxed: Map<string, string | undefined>;
}

export interface OutboxedEntry {
  key: string;
  topicState: string;
}

export class TransitionJournal {
  private fd: number | undefined;
  /** The fdatasync running, and the one queued behind it (it covers every line written before it starts). */
  private syncing: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  /** The new file while reset() syncs it: lines go to both. */
  private mirror: number | undefined;

  constructor(readonly file: string) {}

  /** What the previous run left (empty when there is no journal). */
  load(): JournalState {
    const state: JournalState = { done: new Set(), outboxed: new Map() };
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return state;
      throw err;
    }
    for (const line of text.split('\n')) {
      const [mark, key, topicState] = line.split(' ');
      if (!key) continue;
      if (mark === 'O') state.outboxed.set(key, topicState);
      else if (mark === 'D') state.done.add(key);
    }
    for (const key of state.done) state.outboxed.delete(key);
    return state;
  }

  /** Resolves once the lines are on disk. */
  outboxed(entries: readonly OutboxedEntry[]): Promise<void> {
    if (!entries.length) return Promise.resolve();
    this.write(entries.map((e) => `O ${e.key} ${e.topicState}`));
    return this.sync();
  }

  done(keys: readonly string[]): void {
    this.write(keys.map((k) => `D ${k}`));
  }

  /**
   * Start afresh after a checkpoint, keeping what it does not cover. Atomic: write, fsync, rename. Lines written
   * while the new file is being synced go to both files, so whichever survives a crash has them.
   */
  async reset(keep: JournalState): Promise<void> {
    const lines = [...[...keep.outboxed].map(([k, st]) => (st ? `O ${k} ${st}` : `O ${k}`)), ...[...keep.done].map((k) => `D ${k}`)];
    const tmp = `${this.file}.tmp`;
    const fresh = openSync(tmp, 'w');
    try {
      if (lines.length) writeSync(fresh, `${lines.join('\n')}\n`);
      this.mirror = fresh;
      await this.sync();
    } catch (err) {
      this.mirror = undefined;
      closeSync(fresh);
      throw err;
    }
    renameSync(tmp, this.file);
    const old = this.fd;
    this.fd = fresh;
    this.mirror = undefined;
    // a sync still running on the old file finishes first
    if (old !== undefined) void Promise.allSettled([this.syncing, this.queued]).then(() => closeSync(old));
  }

  /** Close the file once no sync is running on it. */
  async close(): Promise<void> {
    while (this.syncing || this.queued) await (this.queued ?? this.syncing)!.catch(() => undefined);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private write(lines: string[]): void {
    if (!lines.length) return;
    const text = `${lines.join('\n')}\n`;
    this.fd ??= openSync(this.file, 'a');
    writeSync(this.fd, text);
    if (this.mirror !== undefined) writeSync(this.mirror, text);
  }

  /** Group commit: one fdatasync at a time; what is written while it runs is covered by the next, shared by all. */
  private sync(): Promise<void> {
    if (this.queued) return this.queued;
    if (!this.syncing) return this.start();
    const queued = this.syncing.catch(() => undefined).then(() => {
      this.queued = undefined;
      return this.start();
    });
    this.queued = queued;
    return queued;
  }

  private start(): Promise<void> {
    const fds = [this.fd, this.mirror].filter((fd): fd is number => fd !== undefined);
    const running = Promise.all(fds.map((fd) => new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())))))
      .then(() => undefined)
      .finally(() => {
        if (this.syncing === running) this.syncing = undefined;
      });
    this.syncing = running;
    return running;
  }
}
