/**
 * Cuts a TCP byte stream into HJ 212 frames. TCP chunks split and join frames arbitrarily, loggers send noise (modem
 * AT responses, keep-alive bytes) and restart mid-frame, and a hostile client may send bytes that never end a frame.
 *
 * A frame runs from `##` to CR LF. When the declared length points at a CR LF, that frame is taken whole (so a CR LF
 * inside a long CP cannot cut it); otherwise the first CR LF ends it, and if another `##` starts before that CR LF the
 * bytes before it are a truncated frame and are discarded. Whatever is discarded is reported, never silently dropped.
 * The buffer never holds more than `maxFrameBytes`: a frame longer than that is discarded as too_long.
 */
import { preview } from './cp.ts';
import { Hj212Error } from './errors.ts';

const HASH = 0x23;
const CR = 0x0d;
const LF = 0x0a;
const START = Buffer.from('##');
const CRLF = Buffer.from('\r\n');

/** The longest frame HJ 212-2017 allows: 12 bytes of framing + a 9999-byte data segment. */
export const DEFAULT_MAX_FRAME_BYTES = 12 + 9999;

export type Hj212StreamItem = { kind: 'frame'; frame: Buffer } | { kind: 'discarded'; error: Hj212Error };

export interface StreamDecoderOptions {
  maxFrameBytes?: number;
}

export class Hj212StreamDecoder {
  readonly maxFrameBytes: number;
  private buffer: Buffer = Buffer.alloc(0);

  constructor(options: StreamDecoderOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!(this.maxFrameBytes >= 12)) throw new RangeError(`maxFrameBytes must be at least 12, got ${this.maxFrameBytes}`);
  }

  /** Bytes held waiting for the rest of a frame; never more than maxFrameBytes after push returns. */
  get bufferedBytes(): number {
    return this.buffer.length;
  }

  /** Feed one chunk; returns the complete frames (copies) and the discarded stretches, in stream order. */
  push(chunk: Uint8Array): Hj212StreamItem[] {
    const buf = this.buffer.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffer, chunk]);
    const out: Hj212StreamItem[] = [];
    // Adjacent discarded stretches of the same kind are reported once (a run of '#' is one event, not thousands).
    let pending: DiscardRange | undefined;
    const discardRange = (reason: DiscardReason, from: number, to: number, what: string): void => {
      if (pending && pending.reason === reason && pending.to === from) {
        pending.to = to;
        return;
      }
      if (pending) out.push(discard(buf, pending));
      pending = { reason, from, to, what };
    };
    const emitFrame = (from: number, to: number): void => {
      if (pending) out.push(discard(buf, pending));
      pending = undefined;
      out.push({ kind: 'frame', frame: Buffer.from(buf.subarray(from, to)) });
    };
    let pos = 0;
    while (pos < buf.length) {
      const start = buf.indexOf(START, pos);
      if (start < 0) {
        // A lone trailing '#' may be the first half of the next '##'.
        const keepFrom = buf[buf.length - 1] === HASH ? buf.length - 1 : buf.length;
        if (keepFrom > pos) discardRange('garbage', pos, keepFrom, 'bytes outside any frame');
        pos = keepFrom;
        break;
      }
      if (start > pos) discardRange('garbage', pos, start, 'bytes outside any frame');
      pos = start;
      const byLength = lengthFramedEnd(buf, start);
      if (byLength > 0 && byLength - start <= this.maxFrameBytes) {
        emitFrame(start, byLength);
        pos = byLength;
        continue;
      }
      // Look for CR LF only up to the next '##', so that a stream of '#' costs linear time.
      const restart = buf.indexOf(START, start + 1);
      const crlf = buf.subarray(0, restart < 0 ? buf.length : restart).indexOf(CRLF, start + 2);
      if (restart >= 0 && crlf < 0) {
        discardRange('bad_tail', start, restart, 'a frame cut short by the start of another');
        pos = restart;
        continue;
      }
      if (crlf < 0) {
        if (buf.length - start > this.maxFrameBytes) {
          const keepFrom = buf[buf.length - 1] === HASH ? buf.length - 1 : buf.length;
          discardRange('too_long', start, keepFrom, `no CR LF within ${this.maxFrameBytes} bytes of '##'`);
          pos = keepFrom;
        }
        break;
      }
      const end = crlf + 2;
      if (end - start > this.maxFrameBytes) {
        discardRange('too_long', start, end, `a frame longer than ${this.maxFrameBytes} bytes`);
      } else {
        emitFrame(start, end);
      }
      pos = end;
    }
    if (pending) out.push(discard(buf, pending));
    // Copy the remainder so that a small tail does not pin a large chunk in memory.
    this.buffer = pos >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(pos));
    return out;
  }

  /** Drop buffered bytes (connection closed); reports them if there were any. */
  reset(): Hj212StreamItem[] {
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    return rest.length > 0 ? [discard(rest, { reason: 'bad_tail', from: 0, to: rest.length, what: 'an incomplete frame at the end of the stream' })] : [];
  }
}

/** End (exclusive) of the frame at `start` if its declared length lands on CR LF within `buf`, else -1. */
function lengthFramedEnd(buf: Buffer, start: number): number {
  if (buf.length < start + 12) return -1;
  let declared = 0;
  for (let i = start + 2; i < start + 6; i++) {
    const b = buf[i] as number;
    if (b < 0x30 || b > 0x39) return -1;
    declared = declared * 10 + (b - 0x30);
  }
  const end = start + 12 + declared;
  if (end > buf.length) return -1;
  return buf[end - 2] === CR && buf[end - 1] === LF ? end : -1;
}

type DiscardReason = 'garbage' | 'too_long' | 'bad_tail';
interface DiscardRange {
  reason: DiscardReason;
  from: number;
  to: number;
  what: string;
}

function discard(buf: Buffer, { reason, from, to, what }: DiscardRange): Hj212StreamItem {
  const text = buf.toString('latin1', from, Math.min(to, from + 64)).replace(/[^\x20-\x7e]/g, '.');
  return {
    kind: 'discarded',
    error: new Hj212Error(reason, `discarded ${to - from} bytes: ${what} (starting ${JSON.stringify(preview(text))})`, { discardedBytes: to - from }),
  };
}
