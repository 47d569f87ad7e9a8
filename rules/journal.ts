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
 * topic got (rules/recovery.ts). Lines are fsync'd in batches (transitions are rare).
 *
 * Keys are `<alert id>:<transition>:<count>`; alert ids derive from the rule, plant, meter and event time of the
 * raise, so the same readings give the same keys.
 */
import { closeSync, fdatasyncSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
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

  outboxed(entries: readonly OutboxedEntry[]): void {
    this.write(entries.map((e) => `O ${e.key} ${e.topicState}`));
  }

  done(keys: readonly string[]): void {
    this.write(keys.map((k) => `D ${k}`));
  }

  /** Start afresh after a checkpoint, keeping what it does not cover. Atomic: write, fsync, rename. */
  reset(keep: JournalState): void {
    const lines = [...[...keep.outboxed].map(([k, st]) => (st ? `O ${k} ${st}` : `O ${k}`)), ...[...keep.done].map((k) => `D ${k}`)];
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, lines.length ? `${lines.join('\n')}\n` : '');
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.close();
    renameSync(tmp, this.file);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private write(lines: string[]): void {
    if (!lines.length) return;
    this.fd ??= openSync(this.file, 'a');
    writeSync(this.fd, `${lines.join('\n')}\n`);
    fdatasyncSync(this.fd);
  }
}
