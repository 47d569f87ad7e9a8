/**
 * Reassembles messages split over several packets (HJ 212-2017 data segment structure table: Flag bit 1, PNUM total packets, PNO this
 * packet's number, all parts sharing the QN). Parts are keyed by MN + QN, may arrive in any order and may be repeated
 * (a logger resends when unanswered); once all PNUM parts are in, their CP groups are combined in PNO order.
 *
 * Pending parts are bounded three ways, since they are held for a remote peer: an age limit per message, a count of
 * pending messages and a total of buffered CP characters. What is dropped is returned as Hj212Error, not lost silently.
 */
import { interpretCp, type Hj212CpGroup } from './cp.ts';
import type { Hj212Packet } from './codec.ts';
import { Hj212Error } from './errors.ts';

export interface ReassemblerOptions {
  /** Drop a message whose first part is older than this. Default 60 s. */
  timeoutMs?: number;
  /** Most messages pending at once; the oldest is dropped beyond it. Default 64. */
  maxPendingMessages?: number;
  /** Most parts (PNUM) accepted for one message. Default 100. */
  maxParts?: number;
  /** Most CP characters held over all pending messages; the oldest are dropped beyond it. Default 1 MB. */
  maxPendingChars?: number;
  utcOffsetMinutes?: number;
}

export interface ReassemblyResult {
  /** The packet itself when it was not split, or the combined message when this part completed it. */
  complete?: Hj212Packet;
  /** Messages dropped while handling this part (timed out, evicted, or inconsistent with it). */
  dropped: Hj212Error[];
}

interface PendingMessage {
  key: string;
  firstSeen: number;
  pnum: number;
  parts: Map<number, Hj212Packet>;
  chars: number;
}

export class Hj212Reassembler {
  private readonly timeoutMs: number;
  private readonly maxPendingMessages: number;
  private readonly maxParts: number;
  private readonly maxPendingChars: number;
  private readonly utcOffsetMinutes: number | undefined;
  /** Insertion order is arrival order of each message's first part: the first entry is the oldest. */
  private readonly pending = new Map<string, PendingMessage>();
  private pendingChars = 0;

  constructor(options: ReassemblerOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.maxPendingMessages = options.maxPendingMessages ?? 64;
    this.maxParts = options.maxParts ?? 100;
    this.maxPendingChars = options.maxPendingChars ?? 1_000_000;
    this.utcOffsetMinutes = options.utcOffsetMinutes;
  }

  get pendingMessages(): number {
    return this.pending.size;
  }

  add(packet: Hj212Packet, now: number = Date.now()): ReassemblyResult {
    const dropped = this.expire(now);
    if (packet.pnum === undefined || packet.pno === undefined || packet.pnum === 1) {
      return { complete: packet.pnum === undefined ? packet : this.combine([packet]), dropped };
    }
    const key = `${packet.mn}\u0000${packet.qn ?? ''}`;
    if (packet.pnum > this.maxParts) {
      dropped.push(new Hj212Error('too_long', `split message MN=${packet.mn} QN=${packet.qn ?? '-'} declares PNUM=${packet.pnum}; at most ${this.maxParts} parts are accepted`, { mn: packet.mn, qn: packet.qn }));
      return { dropped };
    }
    let message = this.pending.get(key);
    if (message && (message.pnum !== packet.pnum || firstPart(message).cn !== packet.cn)) {
      const first = firstPart(message);
      dropped.push(
        new Hj212Error(
          'split_inconsistent',
          `split message MN=${packet.mn} QN=${packet.qn ?? '-'}: part ${packet.pno} has PNUM=${packet.pnum} CN=${packet.cn}, earlier parts PNUM=${message.pnum} CN=${first.cn}; earlier parts dropped`,
          { mn: packet.mn, qn: packet.qn },
        ),
      );
      this.remove(message);
      message = undefined;
    }
    if (!message) {
      message = { key, firstSeen: now, pnum: packet.pnum, parts: new Map(), chars: 0 };
      this.pending.set(key, message);
    }
    const chars = cpChars(packet.cp);
    const previous = message.parts.get(packet.pno);
    if (previous) {
      const before = cpChars(previous.cp);
      message.chars -= before;
      this.pendingChars -= before;
    }
    message.parts.set(packet.pno, packet);
    message.chars += chars;
    this.pendingChars += chars;

    if (message.parts.size === message.pnum) {
      this.remove(message);
      const parts = [...message.parts.values()].sort((a, b) => (a.pno ?? 0) - (b.pno ?? 0));
      try {
        return { complete: this.combine(parts), dropped };
      } catch (err) {
        if (err instanceof Hj212Error) {
          dropped.push(err);
          return { dropped };
        }
        throw err;
      }
    }
    dropped.push(...this.enforceLimits(message));
    return { dropped };
  }

  /** Drop messages older than the timeout; call it from a timer too, so that a silent peer's parts do not linger. */
  expire(now: number = Date.now()): Hj212Error[] {
    const dropped: Hj212Error[] = [];
    for (const message of this.pending.values()) {
      if (now - message.firstSeen < this.timeoutMs) break;
      this.remove(message);
      dropped.push(this.describeDrop('split_timeout', message, `not complete after ${this.timeoutMs} ms`));
    }
    return dropped;
  }

  private enforceLimits(current: PendingMessage): Hj212Error[] {
    const dropped: Hj212Error[] = [];
    for (const message of this.pending.values()) {
      if (this.pending.size <= this.maxPendingMessages && this.pendingChars <= this.maxPendingChars) break;
      if (message === current) continue;
      this.remove(message);
      dropped.push(this.describeDrop('split_evicted', message, `dropped to stay within ${this.maxPendingMessages} pending messages and ${this.maxPendingChars} CP characters`));
    }
    if (this.pendingChars > this.maxPendingChars && this.pending.has(current.key)) {
      this.remove(current);
      dropped.push(this.describeDrop('too_long', current, `its parts exceed ${this.maxPendingChars} CP characters`));
    }
    return dropped;
  }

  private remove(message: PendingMessage): void {
    this.pending.delete(message.key);
    this.pendingChars -= message.chars;
  }

  private describeDrop(reason: 'split_timeout' | 'split_evicted' | 'too_long', message: PendingMessage, why: string): Hj212Error {
    const first = firstPart(message);
    const have = [...message.parts.keys()].sort((a, b) => a - b);
    return new Hj212Error(reason, `split message MN=${first.mn} QN=${first.qn ?? '-'} (${have.length} of ${message.pnum} parts: ${have.join(',')}) ${why}`, {
      mn: first.mn,
      qn: first.qn,
      partsReceived: have.length,
      pnum: message.pnum,
    });
  }

  /** One packet carrying every part's CP groups, the first part's header, and no PNUM/PNO or split bit. */
  private combine(parts: Hj212Packet[]): Hj212Packet {
    const first = parts[0] as Hj212Packet;
    const cp = parts.flatMap((p) => p.cp);
    const { pnum: _pnum, pno: _pno, frame: _frame, ...header } = first;
    const combined: Hj212Packet = { ...header, cp, data: interpretCp(cp, { utcOffsetMinutes: this.utcOffsetMinutes }) };
    if (first.flag) combined.flag = { ...first.flag, raw: first.flag.raw & ~2, splitPacket: false };
    return combined;
  }
}

function firstPart(message: PendingMessage): Hj212Packet {
  return message.parts.values().next().value as Hj212Packet;
}

function cpChars(cp: readonly Hj212CpGroup[]): number {
  let total = 0;
  for (const group of cp) for (const item of group) total += item.key.length + item.value.length + 2;
  return total;
}
