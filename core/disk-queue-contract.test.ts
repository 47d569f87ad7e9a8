/**
 * The disk queue contract (core/disk-queue-contract.ts) with every kind of record kept in a disk queue: raw records,
 * the gateway's store-and-forward records and ingest's spool batches (plain and gzipped).
 */
import { diskQueueContract } from './disk-queue-contract.ts';
import { decodeSpoolRecord, encodeSpoolRecord, type SpoolRecord } from '../gateway/spool-record.ts';
import { encodeSpoolRecord as encodeIngestRecord, readSpoolRecord, type SpooledBatch } from '../ingest/spool.ts';

/** Sizes from a few bytes to a few hundred, so records straddle segment boundaries differently. */
const filler = (i: number): string => 'x'.repeat((i * 37) % 300);

diskQueueContract<Buffer>({
  name: 'raw records',
  item: (i) => Buffer.from(`record-${i}-${filler(i)}`),
  encode: (item) => item,
  decode: (record) => Buffer.from(record),
});

diskQueueContract<SpoolRecord>({
  name: "the gateway's store-and-forward records",
  item: (i) => ({ topic: `cleanstream/v1/readings/paper-01/gw-${i % 3}`, readings: i, payload: Buffer.from(JSON.stringify({ seq: i, pad: filler(i) })) }),
  encode: (item) => encodeSpoolRecord(item),
  decode: (record) => {
    const decoded = decodeSpoolRecord(record);
    return { ...decoded, payload: Buffer.from(decoded.payload) };
  },
});

const ingestBatch = (i: number): SpooledBatch => ({
  sources: [
    { topic: `cleanstream/v1/readings/paper-01/gw-${i % 2}`, lines: 1 },
    { topic: 'cleanstream/v1/readings/steel-01/gw-1', lines: 1 },
  ],
  body: `water,plant=paper-01,meter=m cod=${i} ${i}\nenergy,plant=steel-01,meter=p active_power=${filler(i).length} ${i}`,
});

for (const gzipLevel of [0, 6]) {
  diskQueueContract<SpooledBatch>({
    name: `ingest's spool batches${gzipLevel ? ', gzipped' : ''}`,
    item: ingestBatch,
    encode: (item) => encodeIngestRecord(item, gzipLevel),
    decode: async (record) => {
      const batch = await readSpoolRecord(record);
      return { sources: batch.sources, body: batch.body.toString('utf8') };
    },
  });
}
