/**
 * HJ 212 receiver: the platform side of the upload flow, as an input driver. Data loggers connect over TCP and upload
 * real-time (2011), minute (2051), hourly (2061) and daily (2031) data; each packet from a known device (MN) with the
 * right password (PW) becomes readings in a 'scan', and is answered as its Flag asks (HJ 212-2017, communication
 * procedures, docs/hj212.md: 9014 with the original QN for uploaded data, 9011 with a QnRtn for refusals).
 *
 * Per connection: Hj212StreamDecoder (frames, bounded by maxPacketBytes) -> header read leniently for MN, so the
 * device's CRC variant can be applied -> parsePacket -> MN and PW checked -> Hj212Reassembler (split packets) ->
 * toReadings. Memory per connection is bounded by the decoder buffer, the reassembler's character limit and the reply
 * backlog; a connection is closed when it idles, sends an over-long frame, sends more junk than one frame's worth
 * between frames, keeps being refused, or does not read its answers.
 */
import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { CleanstreamError, TransportError, type ErrorCode, type ErrorContext } from '../../../core/errors.ts';
import type { Reading } from '../../../core/reading.ts';
import type { DriverContext, DriverEvents, InputDriver } from '../../driver.ts';
import { decodeFlag, FRAME_OVERHEAD_BYTES, parsePacket, type BuildOptions, type Hj212Packet, type Hj212Version, type ParseOptions } from '../../../protocols/hj212/codec.ts';
import type { Hj212DeviceConfig, Hj212InputConfig } from './config.ts';
import { Hj212Error, type Hj212ErrorReason } from '../../../protocols/hj212/errors.ts';
import type { Hj212ReceiverReason } from './reasons.ts';
import { isDataCommand, toReadings } from '../../../protocols/hj212/readings.ts';
import { buildDataAnswer, buildNoticeAnswer, buildRequestAnswer, HEARTBEAT_CN, needsDataAnswer, QN_RTN, qnRtnFor, type QnRtn } from '../../../protocols/hj212/replies.ts';
import type { Hj212Sm4 } from '../../../protocols/hj212/sm4.ts';
import { resolveSm4 } from '../../../protocols/hj212/sm4-config.ts';
import { Hj212Reassembler } from '../../../protocols/hj212/split.ts';
import { Hj212StreamDecoder, type Hj212StreamItem } from '../../../protocols/hj212/stream.ts';

/** Consecutive refused packets after which a connection is closed: a logger with a wrong PW will not fix itself. */
const MAX_CONSECUTIVE_REFUSALS = 16;
/** A device sending another version than configured is warned about again after this long (the packets are accepted). */
const VERSION_WARNING_INTERVAL_MS = 3_600_000;
/** Uploads remembered per device to recognise a resend: a logger resends within ReCount × OverTime, a few packets back. */
const RECENT_UPLOADS_PER_DEVICE = 64;

export interface Hj212ReceiverStats {
  /** Open connections now. */
  connections: number;
  acceptedConnections: number;
  /** Connections closed by the receiver (limit reached, idle, abuse), by reason. */
  closedConnections: Record<string, number>;
  /** Frames parsed and accepted (from a known device with the right PW). */
  packets: number;
  /** Accepted frames by the version their Flag declares ('2005', '2017', '2025'; 'none' without a Flag); they add up to `packets`. */
  packetsByVersion: Record<string, number>;
  readings: number;
  /**
   * Frames refused, by reason: parse errors, unknown MN, wrong PW, bytes the stream decoder discarded (one count per
   * discarded run: garbage, a frame cut short, over-long, incomplete at the end of the connection), and
   * `connection_closed` for frames left unread in the chunk during which the receiver closed the connection. Every
   * frame and discarded run is counted once, here or in `packets`.
   */
  refused: Record<string, number>;
  /** Accepted packets (or complete split messages) whose data could not be read as readings (bad DataTime, value), by reason. */
  refusedData: Record<string, number>;
  /** Split messages dropped incomplete or inconsistent (split_timeout, split_evicted, split_inconsistent, too_long). */
  droppedSplitMessages: Record<string, number>;
  /** Bytes the stream decoder discarded (garbage, cut frames, over-long frames). */
  discardedBytes: number;
  answers: number;
  /** HJ 212-2025 heartbeats (9015) accepted, by MN. */
  heartbeats: Record<string, number>;
  /** Accepted packets whose CP arrived SM4-encrypted (HJ 212-2025) and was decrypted. */
  encryptedPackets: number;
  /**
   * Uploads (CN 2xxx) that repeat the MN, CN, QN (and PNO) of one accepted shortly before, by MN: a logger's resend after
   * OverTime without our 9014. They are answered and their readings given again (writing the same points again changes
   * nothing); this says how often it happens. No HJ 212-2025 resend marker is read: no public source shows one.
   */
  resentPackets: Record<string, number>;
}

/** What the header says before the frame is checked: enough to pick the device's CRC and to address a refusal. */
interface PeekedHeader {
  qn?: string;
  pw?: string;
  mn?: string;
  replyRequested?: boolean;
  /** The version the Flag declares, to answer in it. */
  version?: Hj212Version;
}

const QN_TEXT = /^\d{17}$/;
const MN_TEXT = /^[0-9A-Za-z_-]{1,32}$/;
const PW_TEXT = /^[^;,&\r\n]{0,32}$/;

/**
 * Reads QN, PW, MN and Flag from a frame without checking it. Only used to choose the CRC variant of the device the
 * frame claims to come from and to address a refusal; everything acted upon comes from parsePacket.
 */
export function peekHeader(frame: Buffer): PeekedHeader {
  if (frame.length < FRAME_OVERHEAD_BYTES) return {};
  const segment = frame.toString('latin1', 6, Math.max(6, frame.length - 6));
  const cpAt = segment.indexOf('CP=');
  const header = cpAt >= 0 ? segment.slice(0, cpAt) : segment.slice(0, 256);
  const out: PeekedHeader = {};
  for (const item of header.split(';')) {
    const eq = item.indexOf('=');
    if (eq <= 0) continue;
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (key === 'QN' && QN_TEXT.test(value)) out.qn = value;
    else if (key === 'MN' && MN_TEXT.test(value)) out.mn = value;
    else if (key === 'PW' && PW_TEXT.test(value)) out.pw = value;
    else if (key === 'Flag' && /^\d{1,3}$/.test(value) && Number(value) <= 255) {
      const flag = decodeFlag(Number(value));
      out.replyRequested = flag.replyRequested;
      if (flag.version) out.version = flag.version;
    }
  }
  return out;
}

/** A parsed packet without a Flag (2005-era uploads) expects no answer. */
function addressOf(packet: Hj212Packet): PeekedHeader {
  return {
    ...(packet.qn !== undefined ? { qn: packet.qn } : {}),
    pw: packet.pw,
    mn: packet.mn,
    replyRequested: packet.flag?.replyRequested ?? false,
    ...(packet.flag?.version ? { version: packet.flag.version } : {}),
  };
}

interface Connection {
  socket: Socket;
  remote: string;
  decoder: Hj212StreamDecoder;
  reassembler?: Hj212Reassembler;
  /** The MN of the last accepted packet, for error context. */
  mn?: string;
  junkBytes: number;
  refusals: number;
}

export class Hj212Receiver extends EventEmitter<DriverEvents> implements InputDriver {
  readonly name: string;
  private readonly devices: ReadonlyMap<string, Hj212DeviceConfig>;
  /** Each device's SM4 key, read from its environment variable at construction (never from the config file). */
  private readonly keys = new Map<string, Hj212Sm4>();
  private readonly parseBase: ParseOptions;
  private readonly connections = new Set<Connection>();
  private readonly reportedSkips = new Set<string>();
  /** When a device was last warned about sending another version than configured, by MN and declared version. */
  private readonly versionWarnedAt = new Map<string, number>();
  private server: Server | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private boundPort: number | undefined;
  private readonly counters = {
    acceptedConnections: 0,
    closedConnections: {} as Record<string, number>,
    packets: 0,
    packetsByVersion: {} as Record<string, number>,
    readings: 0,
    refused: {} as Record<string, number>,
    refusedData: {} as Record<string, number>,
    droppedSplitMessages: {} as Record<string, number>,
    discardedBytes: 0,
    answers: 0,
    heartbeats: {} as Record<string, number>,
    encryptedPackets: 0,
    resentPackets: {} as Record<string, number>,
  };
  /** The last RECENT_UPLOADS_PER_DEVICE uploads of each MN (CN, QN, PNO), oldest first, to recognise a resend. */
  private readonly recentUploads = new Map<string, Set<string>>();

  constructor(
    private readonly config: Hj212InputConfig,
    _context?: DriverContext,
  ) {
    super();
    this.name = config.name ?? `hj212:${config.host}:${config.port}`;
    this.devices = new Map(config.devices.map((d) => [d.mn, d]));
    for (const device of config.devices) {
      const sm4 = resolveSm4(device.sm4);
      if (sm4) this.keys.set(device.mn, sm4);
    }
    // No version limit: each packet is read as its own Flag declares (a device's configured version only warns).
    this.parseBase = { maxLength: config.maxPacketBytes - FRAME_OVERHEAD_BYTES, utcOffsetMinutes: config.utcOffsetMinutes };
  }

  /** The port listened on (useful with port 0); undefined before start. */
  get port(): number | undefined {
    return this.boundPort;
  }

  stats(): Hj212ReceiverStats {
    return {
      connections: this.connections.size,
      ...this.counters,
      closedConnections: { ...this.counters.closedConnections },
      packetsByVersion: { ...this.counters.packetsByVersion },
      refused: { ...this.counters.refused },
      refusedData: { ...this.counters.refusedData },
      droppedSplitMessages: { ...this.counters.droppedSplitMessages },
      heartbeats: { ...this.counters.heartbeats },
      resentPackets: { ...this.counters.resentPackets },
    };
  }

  async start(): Promise<void> {
    if (this.server) return;
    this.emit('state', 'connecting');
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    server.on('error', (err) => this.emit('error', new TransportError('HJ212_SERVER', `${this.name}: server error: ${err.message}`, true, { input: this.name }, { cause: err })));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void =>
        reject(new TransportError('HJ212_LISTEN', `${this.name}: cannot listen on ${this.config.host}:${this.config.port}: ${err.message}`, false, { host: this.config.host, port: this.config.port }, { cause: err }));
      server.once('error', onError);
      server.listen(this.config.port, this.config.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    const address = server.address();
    this.boundPort = typeof address === 'object' && address ? address.port : this.config.port;
    this.server = server;
    const every = Math.max(100, Math.min(5000, Math.floor(this.config.splitTimeoutMs / 2)));
    this.expiryTimer = setInterval(() => this.expireSplits(), every);
    this.expiryTimer.unref();
    this.emit('state', 'connected');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    clearInterval(this.expiryTimer);
    for (const conn of this.connections) conn.socket.destroy();
    this.connections.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.emit('state', 'stopped');
  }

  private accept(socket: Socket): void {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    if (!this.server || this.connections.size >= this.config.maxConnections) {
      this.countClose('max_connections');
      this.report('HJ212_CONNECTION', `refused a connection from ${remote}: ${this.connections.size} of at most ${this.config.maxConnections} connections are open`, { address: remote, reason: 'max_connections' });
      socket.destroy();
      return;
    }
    const conn: Connection = { socket, remote, decoder: new Hj212StreamDecoder({ maxFrameBytes: this.config.maxPacketBytes }), junkBytes: 0, refusals: 0 };
    this.connections.add(conn);
    this.counters.acceptedConnections++;
    socket.setNoDelay(true);
    socket.setTimeout(this.config.idleTimeoutMs, () => this.close(conn, 'idle', `nothing received for ${this.config.idleTimeoutMs} ms`));
    socket.on('data', (chunk) => this.receive(conn, chunk));
    socket.on('error', (err) => this.report('HJ212_CONNECTION', `connection from ${remote} failed: ${err.message}`, { address: remote, mn: conn.mn, reason: 'socket_error' }, err));
    socket.on('close', () => {
      this.connections.delete(conn);
      // A frame cut short by the end of the connection is a refusal like any other.
      this.countUnread(conn.decoder.reset());
    });
  }

  private receive(conn: Connection, chunk: Buffer): void {
    if (conn.socket.destroyed) return;
    const items = conn.decoder.push(chunk);
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as Hj212StreamItem;
      if (conn.socket.destroyed) {
        this.countUnread(items.slice(i));
        return;
      }
      if (item.kind === 'discarded') {
        const bytes = Number(item.error.context.discardedBytes ?? 0);
        this.counters.discardedBytes += bytes;
        this.counters.refused[item.error.reason] = (this.counters.refused[item.error.reason] ?? 0) + 1;
        this.report('HJ212_INVALID', `from ${conn.remote}: ${item.error.message}`, { address: conn.remote, mn: conn.mn, reason: item.error.reason }, item.error);
        conn.junkBytes += bytes;
        if (item.error.reason === 'too_long') {
          this.close(conn, 'too_long', `sent a frame longer than ${this.config.maxPacketBytes} bytes`);
          this.countUnread(items.slice(i + 1));
          return;
        }
        if (conn.junkBytes > this.config.maxPacketBytes) {
          this.close(conn, 'junk', `sent ${conn.junkBytes} bytes outside frames, more than one frame's worth (${this.config.maxPacketBytes})`);
          this.countUnread(items.slice(i + 1));
          return;
        }
        continue;
      }
      try {
        this.handleFrame(conn, item.frame);
      } catch (err) {
        // A bug, not a bad frame (those are Hj212Errors): keep the process and the other connections alive.
        this.counters.refused.internal_error = (this.counters.refused.internal_error ?? 0) + 1;
        this.close(conn, 'internal_error', `handling a frame failed: ${(err as Error).message}`);
        this.countUnread(items.slice(i + 1));
        return;
      }
    }
  }

  /** What the decoder cut but the receiver did not handle (the connection was closed): counted, not lost silently. */
  private countUnread(items: readonly Hj212StreamItem[]): void {
    for (const item of items) {
      const reason: Hj212ErrorReason | Hj212ReceiverReason = item.kind === 'discarded' ? item.error.reason : 'connection_closed';
      if (item.kind === 'discarded') this.counters.discardedBytes += Number(item.error.context.discardedBytes ?? 0);
      this.counters.refused[reason] = (this.counters.refused[reason] ?? 0) + 1;
    }
  }

  private handleFrame(conn: Connection, frame: Buffer): void {
    const peeked = peekHeader(frame);
    const device = peeked.mn === undefined ? undefined : this.devices.get(peeked.mn);
    let packet: Hj212Packet;
    try {
      const sm4 = device ? this.keys.get(device.mn) : undefined;
      packet = parsePacket(frame, { ...this.parseBase, crc: device?.crc ?? 'hj212', ...(sm4 ? { sm4 } : {}) });
    } catch (err) {
      if (!(err instanceof Hj212Error)) throw err;
      const field = typeof err.context.field === 'string' ? err.context.field : undefined;
      this.refuse(conn, peeked, qnRtnFor(err.reason, field), err.reason, err.message, err);
      return;
    }
    if (!device) {
      this.refuse(conn, addressOf(packet), QN_RTN.badMn, 'unknown_mn', `MN=${packet.mn} is not a configured device`);
      return;
    }
    if (packet.pw !== device.pw) {
      this.refuse(conn, addressOf(packet), QN_RTN.badPassword, 'bad_password', `wrong PW for MN=${packet.mn}`);
      return;
    }
    conn.mn = packet.mn;
    conn.junkBytes = 0;
    conn.refusals = 0;
    this.counters.packets++;
    const declared = packet.flag?.version;
    this.counters.packetsByVersion[declared ?? 'none'] = (this.counters.packetsByVersion[declared ?? 'none'] ?? 0) + 1;
    if (declared !== undefined) this.checkVersion(conn, packet.mn, declared, device);
    if (packet.encrypted) this.counters.encryptedPackets++;
    this.noteResend(packet);
    if (packet.cn === HEARTBEAT_CN) {
      this.counters.heartbeats[packet.mn] = (this.counters.heartbeats[packet.mn] ?? 0) + 1;
      if (device.answerHeartbeats && packet.flag?.replyRequested && packet.qn !== undefined) {
        this.answer(conn, buildNoticeAnswer(packet, this.answerOptions(device, packet.flag.version)));
      }
      return;
    }
    // Answers from the logger to the platform's own requests: nothing to do, and never answered (no answer loops).
    if (packet.cn.startsWith('9')) return;

    if (packet.pnum !== undefined && packet.pnum > 1) {
      conn.reassembler ??= new Hj212Reassembler({
        timeoutMs: this.config.splitTimeoutMs,
        maxPendingChars: this.config.maxSplitBytesPerConnection,
        maxPendingMessages: 16,
        utcOffsetMinutes: this.config.utcOffsetMinutes,
      });
      const result = conn.reassembler.add(packet);
      for (const dropped of result.dropped) this.dropSplit(conn, packet.mn, dropped);
      // Each part is its own transmission with its own OverTime/ReCount at the logger, so each is answered; a message
      // whose other parts never come is reported (split_timeout) rather than held back from the logger.
      if (result.complete) this.handleMessage(conn, result.complete, device);
      else if (needsDataAnswer(packet)) this.answer(conn, buildDataAnswer(packet, this.answerOptions(device, packet.flag?.version)));
      return;
    }
    this.handleMessage(conn, packet, device);
  }

  private handleMessage(conn: Connection, packet: Hj212Packet, device: Hj212DeviceConfig): void {
    if (isDataCommand(packet.cn)) {
      let readings: Reading[];
      try {
        const result = toReadings(packet, { plant: device.plant, meters: device.meters }, { converted: device.converted });
        readings = result.readings;
        for (const skip of result.skipped) {
          const key = `${packet.mn}|${skip.code}|${skip.reason}`;
          if (this.reportedSkips.has(key) || this.reportedSkips.size > 10_000) continue;
          this.reportedSkips.add(key);
          this.report('HJ212_SKIPPED', `MN=${packet.mn}: pollutant ${skip.code} gives no reading: ${skip.reason} (reported once)`, { address: conn.remote, mn: packet.mn, code: skip.code, reason: 'skipped' });
        }
      } catch (err) {
        if (!(err instanceof Hj212Error)) throw err;
        const field = typeof err.context.field === 'string' ? err.context.field : undefined;
        this.refuse(conn, addressOf(packet), qnRtnFor(err.reason, field), err.reason, err.message, err, 'data');
        return;
      }
      if (readings.length > 0) {
        this.counters.readings += readings.length;
        this.emit('scan', readings);
      }
      // Answered once the readings are with the gateway's publisher, which owns delivery from here on.
      if (needsDataAnswer(packet)) this.answer(conn, buildDataAnswer(packet, this.answerOptions(device, packet.flag?.version)));
      return;
    }
    if (packet.cn.startsWith('2')) {
      // Other uploads (2021 run state, 2041 run time, 2081 boot time): accepted, no readings.
      if (needsDataAnswer(packet)) this.answer(conn, buildDataAnswer(packet, this.answerOptions(device, packet.flag?.version)));
      return;
    }
    if (packet.flag?.replyRequested && packet.qn !== undefined) {
      // A request this receiver does not execute (it accepts uploads only).
      this.answer(conn, buildRequestAnswer(packet, QN_RTN.refused, this.answerOptions(device, packet.flag?.version)));
    }
  }

  /**
   * A refusal is answered (9011) when it can be addressed (QN and MN readable) and the sender did not say it wants no
   * answer: a frame too broken to parse is answered unless its Flag is readable and says no reply.
   */
  private refuse(conn: Connection, header: PeekedHeader, qnRtn: QnRtn, reason: Hj212ErrorReason | Hj212ReceiverReason, detail: string, cause?: Error, what: 'frame' | 'data' = 'frame'): void {
    const counter = what === 'frame' ? this.counters.refused : this.counters.refusedData;
    counter[reason] = (counter[reason] ?? 0) + 1;
    conn.refusals++;
    const mn = header.mn;
    this.report('HJ212_REFUSED', `refused a packet from ${conn.remote}${mn ? ` (MN=${mn})` : ''}: ${detail}; QnRtn=${qnRtn}`, { address: conn.remote, mn, reason, qnRtn }, cause);
    if (header.qn !== undefined && mn !== undefined && header.replyRequested !== false) {
      let refusal: string;
      try {
        refusal = buildRequestAnswer({ qn: header.qn, mn, pw: header.pw ?? '' }, qnRtn, this.answerOptions(this.devices.get(mn), header.version));
      } catch (err) {
        // The refused packet's own fields cannot be echoed in a frame (a separator in them): no answer, not a crash.
        if (!(err instanceof Hj212Error)) throw err;
        this.report('HJ212_REFUSED', `cannot answer the refused packet from ${conn.remote} (MN=${mn}): ${err.message}`, { address: conn.remote, mn, reason: 'unanswerable' }, err);
        refusal = '';
      }
      if (refusal !== '') this.answer(conn, refusal);
    }
    if (conn.refusals >= MAX_CONSECUTIVE_REFUSALS) this.close(conn, 'refused', `${conn.refusals} packets in a row were refused`);
  }

  /**
   * Answers carry the device's own CRC variant (a logger that computes the Modbus CRC checks answers with it too) and
   * the version the packet declared: a 2017 logger may not take an answer with 2025 version bits, nor the reverse.
   * Without a readable version, the device's configured one.
   */
  private answerOptions(device: Hj212DeviceConfig | undefined, declared: Hj212Version | undefined): BuildOptions {
    return { version: declared ?? device?.version ?? this.config.version, crc: device?.crc ?? 'hj212' };
  }

  private noteResend(packet: Hj212Packet): void {
    if (!packet.cn.startsWith('2') || packet.qn === undefined) return;
    let recent = this.recentUploads.get(packet.mn);
    if (!recent) this.recentUploads.set(packet.mn, (recent = new Set()));
    const key = `${packet.cn}|${packet.qn}|${packet.pno ?? ''}`;
    if (recent.has(key)) {
      this.counters.resentPackets[packet.mn] = (this.counters.resentPackets[packet.mn] ?? 0) + 1;
      return;
    }
    recent.add(key);
    if (recent.size > RECENT_UPLOADS_PER_DEVICE) recent.delete(recent.values().next().value as string);
  }

  /** A packet in another version than the device is configured for is accepted; it is worth a warning, not one per packet. */
  private checkVersion(conn: Connection, mn: string, declared: Hj212Version, device: Hj212DeviceConfig): void {
    const expected = device.version ?? this.config.version;
    if (declared === expected) return;
    const key = `${mn}|${declared}`;
    const now = Date.now();
    const last = this.versionWarnedAt.get(key);
    if (last !== undefined && now - last < VERSION_WARNING_INTERVAL_MS) return;
    this.versionWarnedAt.set(key, now);
    this.report(
      'HJ212_VERSION_MISMATCH',
      `MN=${mn} sends HJ 212-${declared} packets (Flag version bits), configured for HJ 212-${expected}: accepted and answered in HJ 212-${declared} (warned at most once an hour)`,
      { address: conn.remote, mn, reason: 'version_mismatch', declared, expected },
    );
  }

  private answer(conn: Connection, frame: string): void {
    if (conn.socket.destroyed || !conn.socket.writable) return;
    conn.socket.write(frame);
    this.counters.answers++;
    if (conn.socket.writableLength > this.config.maxReplyBacklogBytes) {
      this.close(conn, 'not_reading', `${conn.socket.writableLength} bytes of answers are not being read`);
    }
  }

  private close(conn: Connection, reason: Hj212ErrorReason | Hj212ReceiverReason, detail: string): void {
    if (conn.socket.destroyed) return;
    this.countClose(reason);
    this.report('HJ212_CONNECTION', `closed the connection from ${conn.remote}${conn.mn ? ` (MN=${conn.mn})` : ''}: ${detail}`, { address: conn.remote, mn: conn.mn, reason });
    conn.socket.destroy();
  }

  private countClose(reason: Hj212ErrorReason | Hj212ReceiverReason): void {
    this.counters.closedConnections[reason] = (this.counters.closedConnections[reason] ?? 0) + 1;
  }

  private dropSplit(conn: Connection, mn: string | undefined, dropped: Hj212Error): void {
    this.counters.droppedSplitMessages[dropped.reason] = (this.counters.droppedSplitMessages[dropped.reason] ?? 0) + 1;
    this.report('HJ212_INVALID', `from ${conn.remote}: ${dropped.message}`, { address: conn.remote, mn, reason: dropped.reason }, dropped);
  }

  private expireSplits(): void {
    const now = Date.now();
    for (const conn of this.connections) {
      if (!conn.reassembler || conn.reassembler.pendingMessages === 0) continue;
      for (const dropped of conn.reassembler.expire(now)) this.dropSplit(conn, conn.mn, dropped);
    }
  }

  private report(code: ErrorCode, message: string, context: ErrorContext, cause?: Error): void {
    const clean: ErrorContext = { input: this.name };
    for (const [key, value] of Object.entries(context)) if (value !== undefined) clean[key] = value;
    this.emit('error', new CleanstreamError(code, `${this.name}: ${message}`, clean, cause ? { cause } : undefined));
  }
}
