/**
 * A station's aggregation checkpoint: the open intervals (aggregate.ts `AggregatorState`) and the end of the last
 * closed interval per kind, in `<outbox.dir>/<MN>/state.json`, so that a restart of the uplink neither loses the
 * readings already counted for intervals still open nor produces a closed interval twice.
 *
 * Written atomically (temp file, fsync, rename, fsync of the folder): a crash leaves the previous checkpoint or the
 * new one, never half of one. A checkpoint from before this file existed (`closed.json`, closed ends only) is still read.
 */
import { closeSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { AggregatorState, IntervalKind } from './aggregate.ts';

export const CHECKPOINT_FILE = 'state.json';
const LEGACY_FILE = 'closed.json';

const finite = z.number().finite();
const kind = z.enum(['minute', 'hour', 'day']);
const statsTuple = z.tuple([z.number().int().positive(), finite, finite, finite]).nullable();
const sample = z.tuple([finite, finite]);

const stateSchema = z.strictObject({
  v: z.literal(1),
  newest: finite.nullable(),
  closedUpTo: z.partialRecord(kind, finite),
  open: z.array(
    z.strictObject({
      kind,
      start: finite,
      codes: z.array(z.strictObject({ code: z.string().min(1), readings: z.number().int().nonnegative(), good: statsTuple, uncertain: statsTuple, cou: finite.optional() })),
    }),
  ),
  samples: z.array(z.strictObject({ start: finite, codes: z.array(z.strictObject({ code: z.string().min(1), good: z.array(sample), uncertain: z.array(sample) })) })),
  latest: z.array(z.strictObject({ code: z.string().min(1), value: finite.nullable(), quality: z.enum(['good', 'uncertain', 'bad']), ts: finite })),
  /** The batches these statistics hold (recent.ts); checkpoints from before it have none. */
  recent: z.array(z.string()).optional(),
});

export type CheckpointRead = { kind: 'state'; state: AggregatorState; recent: string[] } | { kind: 'closed'; closedUpTo: Partial<Record<IntervalKind, number>> } | { kind: 'none' };

/**
 * The station's checkpoint in `dir`. Throws an Error naming the file when it exists but is not a valid checkpoint
 * (the caller decides whether to start afresh).
 */
export function readCheckpoint(dir: string): CheckpointRead {
  const file = path.join(dir, CHECKPOINT_FILE);
  const text = readIfExists(file);
  if (text !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new Error(`${file}: not JSON: ${(err as Error).message}`, { cause: err });
    }
    const parsed = stateSchema.safeParse(raw);
    if (!parsed.success) throw new Error(`${file}: not a checkpoint: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`);
    const { recent, ...state } = parsed.data;
    return { kind: 'state', state: state as AggregatorState, recent: recent ?? [] };
  }
  const legacy = readIfExists(path.join(dir, LEGACY_FILE));
  if (legacy === undefined) return { kind: 'none' };
  let raw: unknown;
  try {
    raw = JSON.parse(legacy);
  } catch (err) {
    throw new Error(`${path.join(dir, LEGACY_FILE)}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = z.partialRecord(kind, finite).safeParse(raw);
  if (!parsed.success) throw new Error(`${path.join(dir, LEGACY_FILE)}: not a closed-interval record`);
  return { kind: 'closed', closedUpTo: parsed.data };
}

/** Replaces the checkpoint in `dir` atomically: the station's statistics and the batches they hold. */
export async function writeCheckpoint(dir: string, state: AggregatorState, recent: readonly string[]): Promise<void> {
  const file = path.join(dir, CHECKPOINT_FILE);
  const tmp = `${file}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(JSON.stringify({ ...state, recent }));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
