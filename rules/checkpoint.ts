/**
 * Checkpoints on disk: the engine's snapshot as JSON, written to a temp file in the same folder and renamed over the
 * old one, so a crash mid-write leaves the previous checkpoint intact (rename is atomic within a file system).
 * Checkpoints are written in slices, so that they do not stop the event loop for the seconds a snapshot of 20,000
 * series can take.
 *
 * Incremental: a full checkpoint (the base, `checkpoint.json`, with a `baseId`) is followed by delta files
 * (`checkpoint.json.delta-1`, `-2`, ...) holding only the plants changed since the checkpoint before (each with all
 * its series, its meter-wide operators and open alerts), and the small parts (reorder state, recent messages) whole. Reading takes the base and applies its deltas in order; a
 * delta naming another base (left by a crash between a new base's rename and the old deltas' removal) is ignored,
 * and so is everything after a missing delta. The service writes a new base every so many deltas (compaction).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import path from 'node:path';
import { CleanstreamError } from '../core/errors.ts';
import type { EngineSnapshot } from './engine.ts';
import type { GatewayOrderState } from '../bus/resequence.ts';

/** What the service keeps: the engine's state, the messages judged recently (bus/dedup.ts) and those waiting for their turn (bus/resequence.ts). */
export type RulesCheckpoint = EngineSnapshot & {
  recentMessages?: Record<string, string[]>;
  reorder?: Record<string, GatewayOrderState>;
  /** A base (full) checkpoint's identity, named by its deltas. */
  baseId?: string;
  /** A delta: the base it applies to, and its place after it (1, 2, ...). */
  delta?: { base: string; seq: number };
  /** Set by readCheckpoint: how many deltas were applied to the base (for the restart's log line). */
  deltasApplied?: number;
};

/** The file of a base's n-th delta. */
export function deltaFile(file: string, seq: number): string {
  return `${file}.delta-${seq}`;
}

/** Remove every delta file of `file` (after a new base is in place: they belong to the old one). */
export function removeDeltas(file: string): void {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.delta-`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) if (name.startsWith(prefix)) rmSync(path.join(dir, name), { force: true });
}

/** Slices of a checkpoint are sized to take about this long, so that alerts never wait longer behind one. */
const SLICE_TARGET_MS = 4;
/**
 * The share of the event loop the slices may take: after a slice the writer waits three times as long, so that a
 * checkpoint of a large state (a second of CPU for 10,000 series × 100 rules) is spread over a few seconds and the
 * readings arriving meanwhile are judged without queueing behind it, on a machine whose cores are busy already.
 */
const SLICE_DUTY = 0.25;

/** A part of a checkpoint that comes in slices: the JSON texts of an array's items or an object's members. */
export interface SlicedSection {
  key: 'series' | 'plants' | 'recentMessages';
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
  /**
   * Called once every section is written: settles when what must be durable before this checkpoint is (what the
   * state taken produced); the file replaces the old one only then.
   */
  before: () => Promise<void> = () => Promise.resolve(),
): Promise<number> {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w');
  let bytes = 0;
  const write = async (text: string): Promise<void> => {
    bytes += text.length;
    await fh.write(text);
  };
  try {
    await write(headJson.slice(0, -1));
    for (const section of sections) {
      await write(`,${JSON.stringify(section.key)}:${section.kind === 'array' ? '[' : '{'}`);
      let first = true;
      let max = 16;
      for (;;) {
        const started = performance.now();
        const { pieces, done } = section.take(max);
        const elapsed = performance.now() - started;
        if (elapsed >= 1) await new Promise((resolve) => setTimeout(resolve, elapsed * (1 / SLICE_DUTY - 1)));
        // at most doubled per slice: one that was quick because its pieces were taken already (a capture finished early) says little
        max = Math.max(1, Math.min(100_000, Math.round(max * Math.min(2, SLICE_TARGET_MS / Math.max(elapsed, 0.05)))));
        if (pieces.length) {
          await write(`${first ? '' : ','}${pieces.join(',')}`);
          first = false;
        } else if (!done) {
          await new Promise((resolve) => setImmediate(resolve));
        }
        if (done) break;
      }
      await write(section.kind === 'array' ? ']' : '}');
    }
    await write('}');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await before();
  await rename(tmp, file);
  return bytes;
}

/**
 * The last checkpoint (the base with its deltas applied), or undefined when there is none yet. A file that cannot be
 * read is an error, not a fresh start.
 */
export function readCheckpoint(file: string): RulesCheckpoint | undefined {
  const base = readCheckpointFile(file);
  if (!base?.baseId) return base;
  const deltas: RulesCheckpoint[] = [];
  for (let seq = 1; ; seq++) {
    // deltas are renamed into place whole, like the base: one that is there but unreadable is an error too
    const delta = readCheckpointFile(deltaFile(file, seq));
    // none, or one of an older base (a crash after a new base's rename, before the old deltas were removed)
    if (!delta || delta.delta?.base !== base.baseId || delta.delta.seq !== seq) break;
    deltas.push(delta);
  }
  return deltas.length ? applyDeltas(base, deltas) : base;
}

/** A base with its deltas: series by key and plants by id from the newest file that has them, everything else from the last delta. */
export function applyDeltas(base: RulesCheckpoint, deltas: readonly RulesCheckpoint[]): RulesCheckpoint {
  const series = new Map<string, RulesCheckpoint['series'][number]>();
  const plants = new Map<string, NonNullable<RulesCheckpoint['plants']>[number]>();
  for (const part of [base, ...deltas]) {
    for (const s of part.series) series.set(s.key.join('\u0000'), s);
    for (const p of part.plants ?? []) plants.set(p.plant, p);
  }
  const merged: RulesCheckpoint = { ...deltas.at(-1)!, baseId: base.baseId!, series: [...series.values()], ...(plants.size ? { plants: [...plants.values()] } : {}), deltasApplied: deltas.length };
  delete merged.delta;
  return merged;
}

function readCheckpointFile(file: string): RulesCheckpoint | undefined {
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
