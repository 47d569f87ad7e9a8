/**
 * Checkpoints are taken plant by plant while readings keep being judged (rules/engine.ts SnapshotCapture): a plant
 * taken late holds readings that arrived after the checkpoint's acknowledgements were counted. A rules process killed
 * with SIGKILL after such a checkpoint, and started again, must judge every reading exactly once: the broker
 * redelivers everything unacknowledged, and what the checkpoint holds already is recognised and skipped.
 *
 * The witness: a daily mean per series (one tumbling window over the whole feed) counts the readings its series
 * judged; after the run every series' count must equal the readings published for it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectAsync } from 'mqtt';
import { stringify } from 'yaml';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { encodeBatch } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { readCheckpoint, type RulesCheckpoint } from '../../../rules/checkpoint.ts';
import { freePort } from '../../harness/ports.ts';
import { startRulesProcess, until, type RulesProcess } from './support.ts';

const PLANTS = 200;
const METERS = 10;
const ROUNDS = 40;
const T0 = Date.UTC(2024, 0, 1);


/** The engine counters of the newest stats line. */
function lastStats(child: RulesProcess): { readings: number; waiting: number } | undefined {
  for (let i = child.log.length - 1; i >= 0; i--) {
    const line = child.log[i]!;
    if (!line.includes('"stats"')) continue;
    const stats = (JSON.parse(line) as { stats: { engine: { readings: number }; reorder: { waiting: number } } }).stats;
    return { readings: stats.engine.readings, waiting: stats.reorder.waiting };
  }
  return undefined;
}

/** Batches the checkpoint on disk holds although its acknowledgements do not cover them. */
function includedOnDisk(file: string): number {
  try {
    const snap = JSON.parse(readFileSync(file, 'utf8')) as RulesCheckpoint;
    return (snap.plants ?? []).reduce((n, p) => n + p.included.length, 0);
  } catch {
    return 0; // not there yet
  }
}

describe('rules process killed after a checkpoint taken while readings kept coming', () => {
  let broker: RunningBroker;
  let dir: string;
  const children: RulesProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-capture-crash-'));
    broker = await startBroker();
  });
  afterAll(async () => {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('judges every reading exactly once across the SIGKILL and restart', async () => {
    const plantIds = Array.from({ length: PLANTS }, (_, p) => `plant-${p}`);
    const meterIds = Array.from({ length: METERS }, (_, m) => `m${m}`);
    const plantsFile = path.join(dir, 'plants.yaml');
    writeFileSync(
      plantsFile,
      stringify({
        regions: [{ id: 'test', name: { en: 'Test', zh: '测试' } }],
        plants: plantIds.map((id) => ({ id, name: { en: id, zh: id }, region: 'test', industry: 'pulp-paper', category: 'integrated', outfalls: [{ id: 'outfall-1' }], meters: meterIds.map((m) => ({ id: m, location: 'outfall-1', quantities: ['cod'] })) })),
      }),
    );
    const checkpoint = path.join(dir, 'checkpoint.json');
    const config = path.join(dir, 'rules.yaml');
    writeFileSync(
      config,
      stringify({
        mqtt: { url: broker.url, protocolVersion: 4 },
        clientId: 'rules-capture-crash',
        influx: { url: `http://127.0.0.1:${await freePort()}`, database: 'cleanstream', createDatabase: false },
        plants: plantsFile,
        eventTime: { allowedLatenessMs: 0, idleFlushMs: 600_000 },
        // checkpoints back to back, each spanning many batches (2,000 series with windowed rules)
        checkpoint: { file: checkpoint, intervalMs: 100, maxUnackedMessages: 50_000 },
        rules: [
          { id: 'cod-daily-count', kind: 'limit', severity: 'minor', selector: { quantity: 'cod' }, limit: { max: 1000 }, averaging: { meanOverMs: 86_400_000, minSamples: 1 } },
          { id: 'cod-rate', kind: 'rate', severity: 'minor', selector: { quantity: 'cod' }, maxPerMinute: 1000, windowMs: 600_000, resolutionMs: 1_000 },
          { id: 'cod-quality', kind: 'quality', severity: 'minor', selector: { quantity: 'cod' }, windowMs: 600_000, resolutionMs: 1_000, maxShare: 0.5 },
        ],
      }),
    );

    const first = startRulesProcess(config, { statsIntervalS: 0.2 });
    children.push(first);
    await until('the first rules process to run', () => (first.log.some((l) => l.includes('"rules running"')) ? true : undefined), 30_000);
    const publisher = await connectAsync(broker.url, { protocolVersion: 4, clientId: 'feed' });
    let second: RulesProcess | undefined;
    let killedWithIncluded = 0;
    try {
      let published = 0;
      for (let round = 0; round < ROUNDS; round++) {
        for (const [p, plant] of plantIds.entries()) {
          const ts = T0 + round * 1_000;
          const readings = meterIds.map((meter, m) => ({ meter, quantity: 'cod' as const, value: 40 + ((round * 7 + p + m) % 20), unit: 'mg/L', ts, quality: 'good' as const }));
          await publisher.publishAsync(topics.readings(plant, `gw-${plant}`), encodeBatch({ v: 1, gateway: `gw-${plant}`, plant, seq: round, sentAt: ts, readings }), { qos: 1 });
          // From half way: kill as soon as the checkpoint on disk holds batches its acknowledgements do not cover.
          if (!second && round >= ROUNDS / 2 && ++published % 25 === 0) {
            const n = includedOnDisk(checkpoint);
            if (n === 0) continue;
            first.proc.kill('SIGKILL');
            await first.exited;
            killedWithIncluded = n;
            second = startRulesProcess(config, { statsIntervalS: 0.2 });
            children.push(second);
          }
        }
      }
    } finally {
      await publisher.endAsync();
    }
    expect(killedWithIncluded).toBeGreaterThan(0);
    // done once the count of judged readings has not moved for 2 s (ten stats lines) with nothing waiting for order
    let last = -1;
    let movedAt = Date.now();
    await until(
      'the second process to judge everything redelivered and published',
      () => {
        const s = lastStats(second!);
        if (!s || s.waiting > 0 || s.readings !== last) {
          last = s?.readings ?? -1;
          movedAt = Date.now();
          return undefined;
        }
        return Date.now() - movedAt >= 2_000 ? true : undefined;
      },
      60_000,
    );
    second!.proc.kill('SIGTERM'); // writes its last checkpoint
    expect(await second!.exited).toBe(0);

    const final = readCheckpoint(checkpoint)!;
    const counts = new Map<string, number>();
    for (const s of final.series) {
      const op = s.ops.find((o) => (Array.isArray(o) ? o[0] : o.rule) === 'cod-daily-count');
      const state = (Array.isArray(op) ? op[1] : op?.state) as { count: number } | undefined;
      counts.set(`${s.key[0]}/${s.key[1]}`, state?.count ?? 0);
    }
    expect(counts.size).toBe(PLANTS * METERS);
    const wrong = [...counts].filter(([, n]) => n !== ROUNDS);
    expect(wrong, 'series whose readings were judged more or less than once').toEqual([]);
  }, 120_000);
});
