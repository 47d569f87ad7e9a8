import { describe, expect, it } from 'vitest';
import { chunkLines, droppedCount, splitRefusedBatch, type Refusal } from './partial-write.ts';

class Refused extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}
const asRefusal = (err: unknown): Refusal | undefined => (err instanceof Refused ? { reason: err.reason } : undefined);

/** A fake InfluxDB that refuses lines containing "bad" and reports dropped=N like 1.x does. */
function fakeServer(): { write: (body: string) => Promise<void>; bodies: string[] } {
  const bodies: string[] = [];
  return {
    bodies,
    async write(body: string) {
      bodies.push(body);
      const bad = body.split('\n').filter((l) => l.includes('bad'));
      if (bad.length) throw new Refused(`partial write: field type conflict: ${bad[0]} dropped=${bad.length}`);
    },
  };
}

describe('splitRefusedBatch', () => {
  it('finds exactly the refused lines of a batch and writes all the others', async () => {
    const lines = Array.from({ length: 37 }, (_, i) => (i === 3 || i === 20 || i === 21 ? `bad${i}` : `ok${i}`));
    const server = fakeServer();
    const outcome = await splitRefusedBatch(lines, { reason: 'first' }, server.write, asRefusal);
    expect(outcome.refused.map((r) => r.line)).toEqual(['bad3', 'bad20', 'bad21']);
    expect(outcome.refused.map((r) => r.index)).toEqual([3, 20, 21]);
    expect(outcome.acceptedLines).toBe(34);
    const accepted = new Set(server.bodies.filter((b) => !b.includes('bad')).flatMap((b) => b.split('\n')));
    expect(accepted.size).toBe(34);
    expect(outcome.refused[0]!.reason).toContain('bad3');
  });

  it('refuses a part whole when the server says it dropped every line of it, without splitting further', async () => {
    const lines = Array.from({ length: 64 }, (_, i) => (i >= 32 ? `bad${i}` : `ok${i}`));
    const server = fakeServer();
    const outcome = await splitRefusedBatch(lines, { reason: 'partial write: x dropped=32' }, server.write, asRefusal);
    expect(outcome.refused).toHaveLength(32);
    expect(outcome.acceptedLines).toBe(32);
    expect(outcome.requests).toBe(2);
  });

  it('stops and throws when the server becomes unreachable during the split', async () => {
    const unreachable = new Error('ECONNREFUSED');
    await expect(
      splitRefusedBatch(['a', 'bad'], { reason: 'x' }, async () => Promise.reject(unreachable), asRefusal),
    ).rejects.toBe(unreachable);
  });

  it('reads dropped=N from InfluxDB 1.x messages', () => {
    expect(droppedCount('partial write: field type conflict: input field "cod" on measurement "water" is type float, already exists as type string dropped=2')).toBe(2);
    expect(droppedCount('unable to parse')).toBeUndefined();
  });
});

describe('refused lines in dead letters', () => {
  it('go in as many texts of at most the cap as needed, whole lines each, none lost', () => {
    const lines = Array.from({ length: 1000 }, (_, i) => `water,meter=m,plant=p cod=${i},cod_quality="good" ${1_700_000_000_000 + i}`);
    const chunks = chunkLines(lines, 4096);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) expect(Buffer.byteLength(chunk)).toBeLessThanOrEqual(4096);
    expect(chunks.flatMap((c) => c.split('\n'))).toEqual(lines);
    expect(chunkLines(['a'], 4096)).toEqual(['a']);
  });
});
