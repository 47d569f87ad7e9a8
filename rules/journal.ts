/**
 * The journal of alert transitions handed on since the last checkpoint. After a crash the restored snapshot predates
 * them, the redelivered readings produce them again, and the journal says how far each got, so that nobody is
 * notified twice:
 *
 *   O <key>   its webhook notifications are in the outboxes (fsync'd)      → not queued again
 *   D <key>   and the broker acknowledged it on the retained alert topic   → not published again either
 *
 * A transition with an O line but no D line may or may not have reached the topic; the service compares it with
 * the retained state before publishing it again. Lines are fsync'd in batches (transitions are rare).
 *
 * Keys are `<alert id>:<transition>:<count>`; alert ids derive from the rule, plant, meter and event time of the
 * raise, so the same readings give the same keys.
 */
import { closeSync, fdatasyncSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import type { AlertTransition } from './alerts.ts';

export function transitionKey(t: AlertTransition): string {
  return `${t.alert.id}:${t.transition}:${t.alert.count}`;
}

/** Rule, plant and meter of a key (ids never contain '.' or ':'). */
export function keyParts(key: string): { rule: string; plant: string; meter: string } | undefined {
  const [rule, plant, meter] = key.split(':')[0]!.split('.');
  return rule && plant && meter ? { rule, plant, meter } : undefined;
}

export interface JournalState {
  /** Notified everywhere. */
  done: Set<string>;
  /** In the outboxes; the retained topic unknown. */
  outboxed: Set<string>;
}

export class TransitionJournal {
  private fd: number | undefined;

  constructor(readonly file: string) {}

  /** What the previous run left (empty when there is no journal). */
  load(): JournalState {
    const state: JournalState = { done: new Set(), outboxed: new Set() };
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return state;
      throw err;
    }
    for (const line of text.split('\n')) {
      const key = line.slice(2);
      if (line.startsWith('O ')) state.outboxed.add(key);
      else if (line.startsWith('D ')) state.done.add(key);
    }
    for (const key of state.done) state.outboxed.delete(key);
    return state;
  }

  outboxed(keys: readonly string[]): void {
    this.write(keys.map((k) => `O ${k}`));
  }

  done(keys: readonly string[]): void {
    this.write(keys.map((k) => `D ${k}`));
  }

  /** Start afresh after a checkpoint, keeping what it does not cover. Atomic: write, fsync, rename. */
  reset(keep: JournalState): void {
    const lines = [...[...keep.outboxed].map((k) => `O ${k}`), ...[...keep.done].map((k) => `D ${k}`)];
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
