/**
 * How one batch is kept in the store-and-forward queue: the topic it goes to, how many readings it holds (so that
 * counters need not parse the JSON again) and the exact payload that will be published. Binary and versioned, so a
 * spool written by this release can be replayed by the next.
 *
 *   [u8 format = 1][u16 topic length][u32 readings][topic UTF-8][payload]
 */
import { CleanstreamError } from '../core/errors.ts';

const FORMAT = 1;
const HEADER = 7;

export interface SpoolRecord {
  topic: string;
  readings: number;
  payload: Buffer;
}

/**
 * The payload may be given as the JSON text itself: it is then encoded straight into the record, saving a copy of
 * every batch (the gateway writes megabytes a second through here, and each copy is memory the GC must reclaim).
 */
export function encodeSpoolRecord(record: Omit<SpoolRecord, 'payload'> & { payload: Buffer | string }): Buffer {
  const topicLength = Buffer.byteLength(record.topic, 'utf8');
  const payloadLength = typeof record.payload === 'string' ? Buffer.byteLength(record.payload, 'utf8') : record.payload.length;
  const out = Buffer.allocUnsafe(HEADER + topicLength + payloadLength);
  out.writeUInt8(FORMAT, 0);
  out.writeUInt16BE(topicLength, 1);
  out.writeUInt32BE(record.readings, 3);
  out.write(record.topic, HEADER, 'utf8');
  if (typeof record.payload === 'string') out.write(record.payload, HEADER + topicLength, 'utf8');
  else record.payload.copy(out, HEADER + topicLength);
  return out;
}

export function decodeSpoolRecord(data: Buffer): SpoolRecord {
  if (data.length < HEADER || data.readUInt8(0) !== FORMAT) {
    throw new CleanstreamError('SPOOL_RECORD_INVALID', `spool record of ${data.length} bytes has format ${data.length ? data.readUInt8(0) : 'none'}, expected ${FORMAT}`, { bytes: data.length });
  }
  const topicLength = data.readUInt16BE(1);
  if (HEADER + topicLength > data.length) {
    throw new CleanstreamError('SPOOL_RECORD_INVALID', `spool record of ${data.length} bytes announces a ${topicLength}-byte topic`, { bytes: data.length });
  }
  return {
    topic: data.toString('utf8', HEADER, HEADER + topicLength),
    readings: data.readUInt32BE(3),
    payload: data.subarray(HEADER + topicLength),
  };
}
