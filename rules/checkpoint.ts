/**
 * Checkpoints on disk: the engine's snapshot as JSON, written to a temp file in the same folder and renamed over the
 * old one, so a crash mid-write leaves the previous checkpoint intact (rename is atomic within a file system).
 * Checkpoints are written in slices, so that they do not stop the event loop for the seconds a snapshot of 20,000
 * series can take.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import path from 'node:path';
import { CleanstreamError } from '../core/errors.ts';
import type { EngineSnapshot } from './engine.ts';
import type { GatewayOrderState } from './resequence.ts';

/** What the service keeps: the engine's state, the messages judged recently (rules/dedup.ts) and those waiting for their turn (rules/resequence.ts). */
export type RulesCheckpoint = EngineSnapshot & { recentMessages?: Record<string, string[]>; reorder?: Record<string, GatewayOrderState> };

/** Slices of a checkpoint are sized to take about this long, so that alerts never wait longer behind one. */
const SLICE_TARGET_MS = 4;

/** A part of a checkpoint that comes in slices: the JSON texts of an array's items or an object's members. */
export interface SlicedSection {
  key: 'series' | 'recentMessages';
  kind: 'array' | 'object';
  take(max: number): { pieces: string[]; done: boolean };
}

/**
 * Write a checkpoint whose large parts come in slices (RulesEngine.beginSnapshot, RecentMessages.beginSnapshot)
 * while the service keeps running: the event loop is given back between slices, and each slice is sized to take
 * about SLICE_TARGET_MS. Same file format and the same atomic rename.
 */
export async function writeCheckpointInSlices(
  file: string,
  /** JSON of the rest of the checkpoint (Omit<RulesCheckpoint, SlicedSection['key']>), made when the capture began. */
  headJson: string,
  sections: readonly SlicedSection[],
  /** Settles when what must be durable before this checkpoint is; the file replaces the old one only then. */
  before: Promise<void> = Promise.resolve(),
): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.write(headJson.slice(0, -1));
    for (const section of sections) {
      await fh.write(`,${JSON.stringify(section.key)}:${section.kind === 'array' ? '[' : '{'}`);
      let first = true;
      let max = 16;
      for (;;) {
        const started = performance.now();
        const { pieces, done } = section.take(max);
        const elapsed = performance.now() - started;
        // at most doubled per slice: one that was quick because its series were copied already says little
        max = Math.max(1, Math.min(100_000, Math.round(max * Math.min(2, SLICE_TARGET_MS / Math.max(elapsed, 0.05)))));
        if (pieces.length) {
          await fh.write(`${first ? '' : ','}${pieces.join(',')}`);
          first = false;
        } else if (!done) {
          await new Promise((resolve) => setImmediate(resolve));
        }
        if (done) break;
      }
      await fh.write(section.kind === 'array' ? ']' : '}');
    }
    await fh.write('}');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await before;
  await rename(tmp, file);
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
