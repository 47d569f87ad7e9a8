/**
 * One station's link to the regulator's platform: a TCP connection that sends the station's packets one at a time and
 * waits for each one's answer (HJ 212-2017 upload flow, docs/hj212.md: the field side sends with Flag=5,
 * the platform answers 9014 with the original QN; without an answer in OverTime the packet is resent, up to ReCount
 * times).
 *
 * Interval data comes from a durable outbox (core/disk-queue.ts) and is acknowledged there only when its 9014 has
 * arrived, so an outage (connection refused, dropped mid-stream, packets ignored) loses nothing: after ReCount
 * unanswered resends the connection is dropped and re-opened, and sending resumes at the oldest unacknowledged
 * interval, in order. A packet refused with 9011 will not succeed by resending; it is reported and skipped.
 * Real-time data (2011) is latest-only: it is sent before queued intervals, and dropped when it is not answered.
 *
 * The platform may send CN 1000 (set OverTime and ReCount); it is applied and answered with 9011 and 9012.
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { CleanstreamError, TransportError } from '../core/errors.ts';
import type { DiskQueue } from '../core/disk-queue.ts';
import { Backoff, cancellableDelay } from '../core/backoff.ts';
import { buildPacket, parsePacket, type Hj212Packet, type ReceiverVersion } from '../protocols/hj212/codec.ts';
import type { CrcVariant } from '../protocols/hj212/crc.ts';
import type { Hj212CpGroup } from '../protocols/hj212/cp.ts';
import { buildExecutionResult, buildHeartbeat, buildRequestAnswer, EXE_RTN, NOTICE_ANSWER_CN, QN_RTN } from '../protocols/hj212/replies.ts';
import type { Hj212Sm4 } from '../protocols/hj212/sm4.ts';
import { CHINA_STANDARD_TIME_OFFSET_MINUTES, formatHj212Time } from '../protocols/hj212/time.ts';
import { Hj212StreamDecoder } from '../protocols/hj212/stream.ts';

/** What the outbox holds per interval: enough to rebuild the same packet (with the station's current PW). */
export interface OutboxRecord {
  qn: string;
  cn: string;
  dataTime: number;
  cp: Hj212CpGroup[];
}

export interface StationLinkOptions {
  host: string;
  port: number;
  mn: string;
  pw: string;
  st: string;
  version: ReceiverVersion;
  crc: CrcVariant;
  overTimeMs: number;
  reCount: number;
  backoff: { initialMs: number; maxMs: number };
  /** HJ 212-2025: the station's SM4 key; data CPs are sent encrypted, the platform's packets read with it. */
  sm4?: Hj212Sm4;
  /** HJ 212-2025: a heartbeat (9015) this often while connected. */
  heartbeatIntervalMs?: number;
}

export interface StationLinkStats {
  connected: boolean;
  connections: number;
  /** Intervals in the outbox not yet acknowledged. */
  queued: number;
  /** Packets written, resends included. */
  sent: number;
  resends: number;
  acknowledged: number;
  refused: number;
  realtimeSent: number;
  realtimeDropped: number;
  /** HJ 212-2025 heartbeats (9015) sent, and notice answers (9013) the platform sent back. */
  heartbeats: number;
  noticeAnswers: number;
}

export interface StationLinkEvents {
  error: [err: CleanstreamError];
  connected: [];
  disconnected: [];
  /** An interval the platform acknowledged (9014). */
  acknowledged: [record: OutboxRecord];
}

type Outcome = { kind: 'answer'; answer: Hj212Packet } | { kind: 'unanswered' } | { kind: 'closed' };

export class StationLink extends EventEmitter<StationLinkEvents> {
  private socket: Socket | undefined;
  private decoder = new Hj212StreamDecoder();
  private abort = new AbortController();
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** Set by notify() so that one arriving while the outbox is being read is not missed. */
  private nudged = false;
  private waiting: { qn: string; resolve: (outcome: Outcome) => void } | undefined;
  private realtime: { qn: string; cp: Hj212CpGroup[] } | undefined;
  private overTimeMs: number;
  private reCount: number;
  private readonly backoff: Backoff;
  private readonly counters = { connections: 0, sent: 0, resends: 0, acknowledged: 0, refused: 0, realtimeSent: 0, realtimeDropped: 0, heartbeats: 0, noticeAnswers: 0 };
  private lastHeartbeatQnMs = 0;

  constructor(
    private readonly options: StationLinkOptions,
    private readonly outbox: DiskQueue,
  ) {
    super();
    this.overTimeMs = options.overTimeMs;
    this.reCount = options.reCount;
    this.backoff = new Backoff({ ...options.backoff, jitter: 0.2 });
  }

  stats(): StationLinkStats {
    return { connected: this.socket !== undefined && !this.socket.destroyed, queued: this.outbox.length, ...this.counters };
  }

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.socket?.destroy();
    this.waiting?.resolve({ kind: 'closed' });
    this.wake?.();
    await this.running;
  }

  /** New intervals are in the outbox. */
  notify(): void {
    this.nudged = true;
    this.wake?.();
  }

  /** Replace the pending real-time packet (only the latest values matter). */
  setRealtime(qn: string, cp: Hj212CpGroup[]): void {
    if (this.realtime) this.counters.realtimeDropped++;
    this.realtime = { qn, cp };
    this.nudged = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const socket = await this.open();
      if (!socket) {
        await cancellableDelay(this.backoff.next(), signal);
        continue;
      }
      await this.sendWhileConnected(socket);
      socket.destroy();
      this.outbox.rewind();
      if (!signal.aborted) await cancellableDelay(this.backoff.next(), signal);
    }
  }

  private async sendWhileConnected(socket: Socket): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted && !socket.destroyed) {
      if (this.realtime) {
        const { qn, cp } = this.realtime;
        this.realtime = undefined;
        const outcome = await this.exchange(socket, qn, '2011', cp);
        if (outcome.kind === 'answer' && outcome.answer.cn === '9014') this.counters.realtimeSent++;
        else this.counters.realtimeDropped++;
        if (outcome.kind !== 'answer') return;
        continue;
      }
      let next;
      this.nudged = false;
      try {
        [next] = await this.outbox.read(1);
      } catch (err) {
        this.emit('error', new CleanstreamError('UPLINK_OUTBOX', `station ${this.options.mn}: reading the outbox failed: ${(err as Error).message}`, { mn: this.options.mn }, { cause: err }));
        return;
      }
      if (!next) {
        if (this.nudged) continue;
        let onClose: (() => void) | undefined;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          onClose = resolve;
          socket.once('close', onClose);
        });
        if (onClose) socket.off('close', onClose);
        this.wake = undefined;
        continue;
      }
      const record = JSON.parse(next.data.toString('utf8')) as OutboxRecord;
      const outcome = await this.exchange(socket, record.qn, record.cn, record.cp);
      if (outcome.kind !== 'answer') return;
      // Removed from the outbox before it is counted, so that `acknowledged` and `queued` in stats() agree.
      await this.outbox.ack(next.id);
      if (outcome.answer.cn === '9014') {
        this.counters.acknowledged++;
        this.backoff.reset();
        this.emit('acknowledged', record);
      } else {
        this.counters.refused++;
        this.emit(
          'error',
          new CleanstreamError('UPLINK_REFUSED', `station ${this.options.mn}: the platform refused CN=${record.cn} QN=${record.qn} with QnRtn=${outcome.answer.data.fields.get('QnRtn') ?? '?'}; skipped`, {
            mn: this.options.mn,
            qn: record.qn,
            cn: record.cn,
          }),
        );
      }
    }
  }

  /** Send one packet and wait for its answer, resending after OverTime up to ReCount times; then drop the connection. */
  private async exchange(socket: Socket, qn: string, cn: string, cp: Hj212CpGroup[]): Promise<Outcome> {
    const { mn, pw, st } = this.options;
    const frame = buildPacket({ qn, st, cn, pw, mn, replyRequested: true, cp }, this.buildOptions());
    for (let attempt = 0; attempt <= this.reCount; attempt++) {
      if (socket.destroyed || this.abort.signal.aborted) return { kind: 'closed' };
      const outcome = new Promise<Outcome>((resolve) => (this.waiting = { qn, resolve }));
      const timer = setTimeout(() => this.waiting?.resolve({ kind: 'unanswered' }), this.overTimeMs);
      const onClose = (): void => this.waiting?.resolve({ kind: 'closed' });
      socket.once('close', onClose);
      socket.write(frame);
      this.counters.sent++;
      if (attempt > 0) this.counters.resends++;
      const result = await outcome;
      clearTimeout(timer);
      socket.off('close', onClose);
      this.waiting = undefined;
      if (result.kind !== 'unanswered') return result;
    }
    this.emit('error', new TransportError('UPLINK_NO_ANSWER', `station ${mn}: no answer to CN=${cn} QN=${qn} after ${this.reCount + 1} attempts ${this.overTimeMs} ms apart; reconnecting`, true, { mn, qn, cn }));
    socket.destroy();
    return { kind: 'unanswered' };
  }

  private async open(): Promise<Socket | undefined> {
    const { host, port, mn } = this.options;
    const socket = connect({ host, port, noDelay: true });
    this.decoder = new Hj212StreamDecoder();
    const ok = await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true));
      socket.once('error', (err) => {
        this.emit('error', new TransportError('UPLINK_CONNECT', `station ${mn}: cannot reach the platform at ${host}:${port}: ${err.message}`, true, { mn, host, port }, { cause: err }));
        resolve(false);
      });
      this.abort.signal.addEventListener('abort', () => resolve(false), { once: true });
    });
    if (!ok) {
      socket.destroy();
      return undefined;
    }
    socket.on('error', (err) => this.emit('error', new TransportError('UPLINK_CONNECTION', `station ${mn}: connection to ${host}:${port} failed: ${err.message}`, true, { mn, host, port }, { cause: err })));
    socket.on('data', (chunk) => this.receive(socket, chunk));
    const heartbeat = this.options.heartbeatIntervalMs === undefined ? undefined : setInterval(() => this.sendHeartbeat(socket), this.options.heartbeatIntervalMs);
    socket.once('close', () => {
      clearInterval(heartbeat);
      if (this.socket === socket) this.socket = undefined;
      this.emit('disconnected');
    });
    this.socket = socket;
    this.counters.connections++;
    this.emit('connected');
    return socket;
  }

  private buildOptions(): { version: ReceiverVersion; crc: CrcVariant; sm4?: Hj212Sm4 } {
    const { version, crc, sm4 } = this.options;
    return { version, crc, ...(sm4 ? { sm4 } : {}) };
  }

  /** Heartbeats go between packets without waiting: the platform's 9013 is counted, a missing one changes nothing. */
  private sendHeartbeat(socket: Socket): void {
    if (socket.destroyed || !socket.writable) return;
    // A QN of its own, never one of a data packet in flight (the answer to a heartbeat is not a 9014).
    const now = Math.max(Date.now(), this.lastHeartbeatQnMs + 1);
    this.lastHeartbeatQnMs = now;
    const { mn, pw } = this.options;
    socket.write(buildHeartbeat({ qn: formatHj212Time(now, CHINA_STANDARD_TIME_OFFSET_MINUTES, true), mn, pw, replyRequested: true }, this.buildOptions()));
    this.counters.heartbeats++;
  }

  private receive(socket: Socket, chunk: Buffer): void {
    const { mn, version, crc, sm4 } = this.options;
    for (const item of this.decoder.push(chunk)) {
      if (item.kind !== 'frame') {
        this.emit('error', new CleanstreamError('UPLINK_INVALID', `station ${mn}: from the platform: ${item.error.message}`, { mn, reason: item.error.reason }, { cause: item.error }));
        continue;
      }
      let packet: Hj212Packet;
      try {
        packet = parsePacket(item.frame, { crc, version, ...(sm4 ? { sm4 } : {}) });
      } catch (err) {
        this.emit('error', new CleanstreamError('UPLINK_INVALID', `station ${mn}: from the platform: ${(err as Error).message}`, { mn }, { cause: err }));
        continue;
      }
      if (packet.cn === NOTICE_ANSWER_CN) {
        this.counters.noticeAnswers++;
        continue;
      }
      if (packet.cn === '9014' || packet.cn === '9011') {
        const answered = packet.cn === '9014' ? (packet.data.fields.get('QN') ?? packet.qn) : packet.qn;
        if (this.waiting && answered === this.waiting.qn) this.waiting.resolve({ kind: 'answer', answer: packet });
        continue;
      }
      this.handleRequest(socket, packet);
    }
  }

  private handleRequest(socket: Socket, request: Hj212Packet): void {
    if (!request.flag?.replyRequested || request.qn === undefined || request.cn.startsWith('9')) return;
    const original = { qn: request.qn, pw: this.options.pw, mn: this.options.mn };
    const build = { version: this.options.version, crc: this.options.crc };
    if (request.cn === '1000') {
      const overTime = Number(request.data.fields.get('OverTime'));
      const reCount = Number(request.data.fields.get('ReCount'));
      const valid = Number.isInteger(overTime) && overTime > 0 && Number.isInteger(reCount) && reCount >= 0 && reCount <= 100;
      socket.write(buildRequestAnswer(original, valid ? QN_RTN.ok : QN_RTN.refused, build));
      if (!valid) return;
      this.overTimeMs = overTime * 1000;
      this.reCount = reCount;
      socket.write(buildExecutionResult(original, EXE_RTN.ok, build));
      return;
    }
    // Other commands (time, intervals, history requests, control) are not implemented by this uplink.
    socket.write(buildRequestAnswer(original, QN_RTN.refused, build));
  }
}
