/**
 * Ingest whose spool was damaged on disk while it was down (a bad sector in an old segment, not a crash): it starts,
 * replays every batch the damage spared to InfluxDB, and says what it lost: a warning naming the segment file, the
 * byte range and the batch ids, `spool_lost_batches_total` in /metrics. Before, the spool refused to open
 * (DISK_QUEUE_CORRUPT thrown while recovering) and ingest did not start at all.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startBroker } from '../../../bus/broker.ts';
import { DiskQueue } from '../../../core/disk-queue.ts';
import { encodeSpoolRecord } from '../../../ingest/spool.ts';
import { startInfluxd } from '../../harness/influxd.ts';
import { freePort } from '../../harness/ports.ts';
import { ingestConfig, spawnIngest, T0, tempDir, until, type IngestProcess } from './fault-kit.ts';

const work = tempDir('spool-damage');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Spooled batch i: one point of measurement `spooled` at T0 + i with value i. */
const spooledBatch = (i: number): Promise<Buffer> => encodeSpoolRecord({ sources: [{ topic: 'cleanstream/v1/readings/paper-01/gw-1', lines: 1 }], body: `spooled,plant=paper-01 v=${i} ${T0 + i}` }, 0);

describe('ingest with a damaged spool', () => {
  it('starts, replays every batch before and after the damage, and reports the lost one in its log and /metrics', async () => {
    const spoolDir = path.join(work, 'spool');
    // a previous run spooled batches 1-9 (ids 1-9), three to a segment file, and stopped
    const previous = await DiskQueue.open({ dir: spoolDir, maxBytes: 1 << 20, segmentBytes: 1 });
    for (let i = 1; i <= 9; i += 3) await previous.append(await Promise.all([spooledBatch(i), spooledBatch(i + 1), spooledBatch(i + 2)]));
    await previous.close();
    const middle = path.join(spoolDir, readdirSync(spoolDir).filter((f) => f.endsWith('.log')).sort()[1]!);
    const bytes = readFileSync(middle);
    const second = 8 + bytes.readUInt32LE(0); // the second record of the middle segment: batch 5
    const at = second + 8 + Math.floor(bytes.readUInt32LE(second) / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    writeFileSync(middle, bytes);

    const [influx, broker] = await Promise.all([startInfluxd(), startBroker({ port: 0 })]);
    let child: IngestProcess | undefined;
    try {
      const database = 'spool_damage';
      child = await spawnIngest(ingestConfig({ mqttUrl: broker.url, influxUrl: influx.url, database, clientId: 'spool-damage', httpPort: await freePort(), spoolDir }), work);
      await until('the spool replayed', async () => (await child!.metrics()).spool_batches === 0, 20_000);
      const rows = await influx.query<{ time: number; v: number }>('SELECT v FROM spooled', database);
      expect(rows.map((r) => r.v)).toEqual([1, 2, 3, 4, 6, 7, 8, 9]);
      expect((await child.metrics()).spool_lost_batches_total).toBe(1);
      const warning = child
        .log()
        .split('\n')
        .filter((l) => l.includes('DISK_QUEUE_CORRUPT'))
        .map((l) => JSON.parse(l) as { file: string; bytes: { from: number; to: number }; ids: { from: number; to: number }; lostBatches: number; msg: string });
      expect(warning).toHaveLength(1);
      expect(warning[0]).toMatchObject({ file: middle, bytes: { from: second, to: second + 8 + bytes.readUInt32LE(second) }, ids: { from: 5, to: 5 }, lostBatches: 1 });
      expect(warning[0]!.msg).toContain(middle);
    } finally {
      await child?.kill('SIGTERM');
      await broker.stop();
      await influx.stop();
    }
  }, 60_000);
});
