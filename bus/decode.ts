/**
 * Decode and dedup of one delivery, as every durable subscriber (bus/subscriber.ts) does them before handing a message
 * over: one function, so that the transports cannot drift apart.
 */
import { toError } from '../core/errors.ts';
import type { DecodeOptions } from './subscriber.ts';

export type Decoding<T> =
  /** A batch seen before: acknowledge it, count it, do not hand it over. */
  | { duplicate: true }
  | { duplicate: false; decoded: T | undefined; decodeError: Error | undefined };

export function decodeDelivery<T>(decoding: DecodeOptions<T> | undefined, topic: string, payload: Buffer): Decoding<T> {
  if (!decoding) return { duplicate: false, decoded: undefined, decodeError: undefined };
  let decoded: T | undefined;
  let decodeError: Error | undefined;
  try {
    decoded = decoding.decode(topic, payload);
  } catch (err) {
    decodeError = toError(err);
  }
  const dedup = decoding.dedup;
  if (decoded !== undefined && dedup) {
    const id = dedup.identify(decoded);
    if (id && !dedup.recent.firstSight(id.source, id.seq, id.sentAt)) return { duplicate: true };
  }
  return { duplicate: false, decoded, decodeError };
}
