/**
 * Checkpoints on disk: the engine's snapshot as JSON, written to a temp file in the same folder and renamed over the
 * old one, so a crash mid-write leaves the previous checkpoint intact (rename is atomic within a file system).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import path from 'node:path';
import { CleanstreamError } from '../core/errors.ts';
import type { EngineSnapshot } from './engine.ts';
import type { GatewayOrderState } from './resequence.ts';

/** What the service keeps: the engine's state, the messages judged recently (rules/dedup.ts) and those waiting for their turn (rules/resequence.ts). */
export type RulesCheckpoint = EngineSnapshot & { recentMessages?: Record<string, string[]>; reorder?: Record<string, GatewayOrderState> };

export function writeCheckpoint(file: string, snapshot: RulesCheckpoint): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(snapshot));
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** The last checkpoint, or undefined when there is none yet. A file that cannot be read is an error, not a fresh start. */
export function readCheckpoint(file: string): RulesCheckpoint | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CleanstreamError('CHECKPOINT_READ', `cannot read the rules checkpoint ${file}: ${(err as Error).message}`, { file }, { cause: err });
  }
  let snap: unknown;
  try {
    snap = JSON.parse(text);
  } catch (err) {
    throw new CleanstreamError('CHECKPOINT_READ', `the rules checkpoint ${file} is not JSON: ${(err as Error).message}; move it away to start fresh`, { file }, { cause: err });
  }
  if (typeof snap !== 'object' || snap === null || (snap as { version?: unknown }).version !== 1) {
    throw new CleanstreamError('CHECKPOINT_READ', `the rules checkpoint ${file} is not a version 1 checkpoint; move it away to start fresh`, { file });
  }
  return snap as RulesCheckpoint;
}
