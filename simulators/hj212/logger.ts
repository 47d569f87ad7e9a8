/**
 * A simulated HJ 212-2017 data logger (数采仪) for tests and demos: connects to a platform (or the gateway's HJ 212
 * receiver), uploads real-time (2011), minute (2051) or hourly (2061) data with Flag=5 (or the Flag of another version,
 * or without asking for an answer), and follows the upload flow:
 * it waits OverTime for the 9014 carrying its QN and resends up to ReCount times, then gives up on that packet
 * (HJ 212-2017 communication procedures, docs/hj212.md). A 9011 refusal (wrong PW, unknown MN) ends
 * the packet's attempts.
 *
 * Event time is decoupled from wall time: DataTime advances by one period (30 s, 1 min, 1 h) per packet while
 * packets are sent every `intervalMs`, so hours of data pass in seconds. Values are deterministic: a registry plant's
 * model (simulators/model.ts, canonical units converted to the code's HJ 212 unit) or a function given by the caller.
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { unitFactor } from '../../core/catalog.ts';
import { CleanstreamError, TransportError } from '../../core/errors.ts';
import { buildPacket, parsePacket, type Hj212Packet, type Hj212Version } from '../../protocols/hj212/codec.ts';
import type { CrcVariant } from '../../protocols/hj212/crc.ts';
import { dataCp, type Hj212PollutantInput } from '../../protocols/hj212/cp.ts';
import { flowVolume } from '../../protocols/hj212/cumulative.ts';
import { codeDef, quantityForCode, unitForCode } from '../../protocols/hj212/codes.ts';
import { buildHeartbeat, NOTICE_ANSWER_CN } from '../../protocols/hj212/replies.ts';
import type { Hj212Sm4 } from '../../protocols/hj212/sm4.ts';
import { Hj212StreamDecoder } from '../../protocols/hj212/stream.ts';
import { CHINA_STANDARD_TIME_OFFSET_MINUTES, formatHj212Time } from '../../protocols/hj212/time.ts';
import type { PlantModel } from '../model.ts';

export type Hj212LoggerCn = '2011' | '2051' | '2061';

/** Event-time period of one packet per command: RtdInterval's usual 30 s, a minute, an hour. */
export const PERIOD_MS: Readonly<Record<Hj212LoggerCn, number>> = { '2011': 30_000, '2051': 60_000, '2061': 3_600_000 };

/** A value in the code's HJ 212 unit (codes.ts unitForCode) at event time t. */
export type LoggerValueFunction = (code: string, tMs: number) => number;

export type LoggerSource = { model: PlantModel; meters: Readonly<Record<string, string>> } | { value: LoggerValueFunction };

export interface Hj212LoggerOptions {
  host: string;
  port: number;
  mn: string;
  pw: string;
  /** System code; default 31 (flue gas) when every code is an a-code, else 32 (wastewater). */
  st?: string;
  codes: readonly string[];
  source: LoggerSource;
  cn: Hj212LoggerCn;
  /** Wall-clock time between packets. */
  intervalMs: number;
  /** DataTime of the first packet (ms); default the start of the current period. */
  startDataTime?: number;
  /** Event time between packets; default PERIOD_MS[cn]. */
  stepMs?: number;
  /** Stop after this many packets (default: until stop()). */
  count?: number;
  crc?: CrcVariant;
  /** The version in the Flag's bits 7..2 (default 2017: Flag=5). */
  version?: Hj212Version;
  /**
   * Ask for an answer (Flag bit 0, default true). Without, each packet is sent once and not waited for (outcome 'sent'),
   * as public real-time uploads with Flag=4 (2017) or Flag=8 (2025) are.
   */
  replyRequested?: boolean;
  /** Reconnect after the connection drops (default true); otherwise the logger ends. */
  reconnect?: boolean;
  reconnectDelayMs?: number;
  /** OverTime: how long to wait for the answer (default 5000 ms). */
  overTimeMs?: number;
  /** ReCount: resends after the first attempt (default 3). */
  reCount?: number;
  /** Data flag per code and DataTime (default N). */
  flag?: (code: string, dataTime: number) => string;
  /** Samples per interval behind Avg/Min/Max of 2051/2061 (default 6). */
  samplesPerInterval?: number;
  /** Decimals of the values sent (default 3). */
  decimals?: number;
  utcOffsetMinutes?: number;
  /** HJ 212-2025: encrypt the data CP with this SM4 key (and read answers with it). Default: clear text. */
  sm4?: Hj212Sm4;
  /** HJ 212-2025: send a heartbeat (9015, answer requested) before each data packet; 9013 answers are counted. Default false. */
  heartbeat?: boolean;
}

export type SentValues = Partial<Record<'Rtd' | 'Avg' | 'Min' | 'Max' | 'Cou', number>>;

export interface SentPacket {
  qn: string;
  cn: Hj212LoggerCn;
  dataTime: number;
  /** Per code: the values as sent (HJ 212 units) and the data flag. */
  pollutants: Record<string, { values: SentValues; flag: string }>;
  attempts: number;
  outcome: 'acknowledged' | 'refused' | 'unanswered' | 'sent' | 'pending';
  /** QnRtn of a 9011 refusal. */
  qnRtn?: number;
  /** The version the answer's Flag declared. */
  answerVersion?: Hj212Version;
}

export interface Hj212LoggerStats {
  sent: number;
  acknowledged: number;
  refused: number;
  unanswered: number;
  resends: number;
  connections: number;
  /** Heartbeats (9015) sent and notice answers (9013) received. */
  heartbeats: number;
  noticeAnswers: number;
}

export interface Hj212LoggerEvents {
  packet: [packet: SentPacket];
  error: [err: CleanstreamError];
  connected: [];
  disconnected: [];
}

export interface RunningHj212Logger extends EventEmitter<Hj212LoggerEvents> {
  /** Every packet so far, in sending order, with its outcome. */
  readonly sent: readonly SentPacket[];
  /** Resolves when `count` packets are done (answered, refused or given up), or after stop(). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
  stats(): Hj212LoggerStats;
}

/** The value function of a registry plant's model: canonical units (core/catalog.ts) converted to the code's HJ 212 unit. */
export function modelValueFunction(model: PlantModel, meters: Readonly<Record<string, string>>): LoggerValueFunction {
  return (code, tMs) => {
    const quantity = quantityForCode(code);
    const unit = unitForCode(code);
    const meter = meters[code];
    if (!quantity || !unit || !meter) throw new CleanstreamError('SIM_HJ212_CODE', `no meter or catalog quantity for pollutant code ${code}`, { code, plant: model.plant.id });
    const factor = unitFactor(quantity, unit);
    if (factor === undefined) throw new CleanstreamError('SIM_HJ212_CODE', `unit ${unit} of ${code} is not a unit of ${quantity}`, { code, unit, quantity });
    return model.sample(meter, quantity, tMs).value / factor;
  };
}

const round = (value: number, decimals: number): number => Number(value.toFixed(decimals));

/** The CP values of one packet, deterministic in (source, code, DataTime). */
export function packetValues(cn: Hj212LoggerCn, code: string, dataTime: number, stepMs: number, value: LoggerValueFunction, samples: number, decimals: number): SentValues {
  if (cn === '2011') return { Rtd: round(value(code, dataTime), decimals) };
  const points = Array.from({ length: samples }, (_, i) => value(code, dataTime + Math.floor((i * stepMs) / samples)));
  const avg = points.reduce((a, b) => a + b, 0) / points.length;
  const values: SentValues = { Avg: round(avg, decimals), Min: round(Math.min(...points), decimals), Max: round(Math.max(...points), decimals) };
  const volume = flowVolume(code, avg, stepMs);
  if (volume !== undefined) values.Cou = round(volume, decimals);
  return values;
}

export function startHj212Logger(options: Hj212LoggerOptions): RunningHj212Logger {
  return new SimulatedLogger(options);
}

class SimulatedLogger extends EventEmitter<Hj212LoggerEvents> implements RunningHj212Logger {
  readonly sent: SentPacket[] = [];
  readonly done: Promise<void>;
  private readonly value: LoggerValueFunction;
  private readonly stepMs: number;
  private readonly offset: number;
  private readonly st: string;
  private socket: Socket | undefined;
  private decoder = new Hj212StreamDecoder();
  private stopped = false;
  private lastQnMs = 0;
  private connections = 0;
  private resends = 0;
  private heartbeats = 0;
  private noticeAnswers = 0;
  /** The answer awaited for the packet in flight: resolved with the answer, or with 'closed' when the socket drops. */
  private waiting: { qn: string; resolve: (answer: Hj212Packet | 'closed' | 'timeout') => void } | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly options: Hj212LoggerOptions) {
    super();
    this.value = 'model' in options.source ? modelValueFunction(options.source.model, options.source.meters) : options.source.value;
    this.stepMs = options.stepMs ?? PERIOD_MS[options.cn];
    this.offset = options.utcOffsetMinutes ?? CHINA_STANDARD_TIME_OFFSET_MINUTES;
    this.st = options.st ?? (options.codes.every((c) => c.startsWith('a')) ? '31' : '32');
    for (const code of options.codes) {
      if (!codeDef(code)) throw new CleanstreamError('SIM_HJ212_CODE', `unknown pollutant code ${code}`, { code });
    }
    this.done = this.run();
  }

  stats(): Hj212LoggerStats {
    const count = (outcome: SentPacket['outcome']): number => this.sent.filter((p) => p.outcome === outcome).length;
    return { sent: this.sent.length, acknowledged: count('acknowledged'), refused: count('refused'), unanswered: count('unanswered'), resends: this.resends, connections: this.connections, heartbeats: this.heartbeats, noticeAnswers: this.noticeAnswers };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.socket?.destroy();
    this.waiting?.resolve('closed');
    this.wake?.();
    await this.done;
  }

  private async run(): Promise<void> {
    const periodStart = Math.floor((Date.now() + this.offset * 60_000) / this.stepMs) * this.stepMs - this.offset * 60_000;
    let dataTime = this.options.startDataTime ?? periodStart;
    const count = this.options.count ?? Number.POSITIVE_INFINITY;
    try {
      for (let i = 0; i < count && !this.stopped; i++) {
        const started = Date.now();
        await this.upload(dataTime);
        dataTime += this.stepMs;
        const rest = this.options.intervalMs - (Date.now() - started);
        if (i + 1 < count && rest > 0) await this.sleep(rest);
      }
    } finally {
      this.socket?.destroy();
      this.socket = undefined;
    }
  }

  private buildOptions(): { crc: CrcVariant; version: Hj212Version; sm4?: Hj212Sm4 } {
    return { crc: this.options.crc ?? 'hj212', version: this.options.version ?? '2017', ...(this.options.sm4 ? { sm4: this.options.sm4 } : {}) };
  }

  private nextQn(): string {
    const now = Math.max(Date.now(), this.lastQnMs + 1);
    this.lastQnMs = now;
    return formatHj212Time(now, this.offset, true);
  }

  private async upload(dataTime: number): Promise<void> {
    const { cn, codes, decimals = 3, samplesPerInterval = 6 } = this.options;
    const pollutants: SentPacket['pollutants'] = {};
    const inputs: Hj212PollutantInput[] = [];
    for (const code of codes) {
      const values = packetValues(cn, code, dataTime, this.stepMs, this.value, samplesPerInterval, decimals);
      const flag = this.options.flag?.(code, dataTime) ?? 'N';
      pollutants[code] = { values, flag };
      inputs.push({ code, values, flag });
    }
    const qn = this.nextQn();
    const frame = buildPacket(
      { qn, st: this.st, cn, pw: this.options.pw, mn: this.options.mn, replyRequested: this.options.replyRequested ?? true, cp: dataCp(dataTime, inputs, this.offset) },
      this.buildOptions(),
    );
    if (this.options.heartbeat) {
      const socket = await this.connected();
      if (socket) {
        socket.write(buildHeartbeat({ qn: this.nextQn(), pw: this.options.pw, mn: this.options.mn, replyRequested: true }, this.buildOptions()));
        this.heartbeats++;
      }
    }
    const packet: SentPacket = { qn, cn, dataTime, pollutants, attempts: 0, outcome: 'pending' };
    this.sent.push(packet);
    if (this.options.replyRequested === false) {
      const socket = await this.connected();
      if (socket) {
        // Flushed to the kernel before the next packet, or before the socket is destroyed after the last one.
        await new Promise<void>((resolve) => socket.write(frame, () => resolve()));
        packet.attempts = 1;
        packet.outcome = 'sent';
      } else packet.outcome = 'unanswered';
      this.emit('packet', packet);
      return;
    }
    const reCount = this.options.reCount ?? 3;
    while (!this.stopped && packet.attempts <= reCount) {
      const socket = await this.connected();
      if (!socket) break;
      packet.attempts++;
      if (packet.attempts > 1) this.resends++;
      const answer = new Promise<Hj212Packet | 'closed' | 'timeout'>((resolve) => (this.waiting = { qn, resolve }));
      const timer = setTimeout(() => this.waiting?.resolve('timeout'), this.options.overTimeMs ?? 5000);
      socket.write(frame);
      const result = await answer;
      clearTimeout(timer);
      this.waiting = undefined;
      if (result === 'closed') {
        // The packet did not get its chance: resend on the next connection without spending an attempt.
        packet.attempts--;
        if (this.options.reconnect === false) break;
        continue;
      }
      if (result === 'timeout') continue;
      if (result.flag?.version) packet.answerVersion = result.flag.version;
      if (result.cn === '9014') packet.outcome = 'acknowledged';
      else {
        packet.outcome = 'refused';
        const qnRtn = Number(result.data.fields.get('QnRtn'));
        if (Number.isFinite(qnRtn)) packet.qnRtn = qnRtn;
      }
      break;
    }
    if (packet.outcome === 'pending') packet.outcome = 'unanswered';
    this.emit('packet', packet);
  }

  /** The open socket, connecting (and reconnecting after a delay) as needed; undefined when stopped or not reconnecting. */
  private async connected(): Promise<Socket | undefined> {
    while (!this.stopped) {
      if (this.socket && !this.socket.destroyed) return this.socket;
      if (this.connections > 0 && this.options.reconnect === false) return undefined;
      if (this.connections > 0) await this.sleep(this.options.reconnectDelayMs ?? 500);
      if (this.stopped) return undefined;
      try {
        this.socket = await this.open();
        this.connections++;
        this.emit('connected');
      } catch (err) {
        this.connections = Math.max(this.connections, 1);
        this.report(new TransportError('SIM_HJ212_CONNECT', `logger ${this.options.mn}: cannot connect to ${this.options.host}:${this.options.port}: ${(err as Error).message}`, true, { mn: this.options.mn }, { cause: err }));
        if (this.options.reconnect === false) return undefined;
      }
    }
    return undefined;
  }

  private open(): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: this.options.host, port: this.options.port, noDelay: true });
      this.decoder = new Hj212StreamDecoder();
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.on('error', () => undefined);
        resolve(socket);
      });
      socket.once('error', reject);
      socket.on('data', (chunk) => this.receive(chunk));
      socket.on('close', () => {
        if (this.socket === socket) this.socket = undefined;
        this.waiting?.resolve('closed');
        this.emit('disconnected');
      });
    });
  }

  private receive(chunk: Buffer): void {
    for (const item of this.decoder.push(chunk)) {
      if (item.kind !== 'frame') continue;
      let answer: Hj212Packet;
      try {
        answer = parsePacket(item.frame, { crc: this.options.crc ?? 'hj212', ...(this.options.sm4 ? { sm4: this.options.sm4 } : {}) });
      } catch (err) {
        this.report(err as CleanstreamError);
        continue;
      }
      if (answer.cn === NOTICE_ANSWER_CN) {
        this.noticeAnswers++;
        continue;
      }
      const answered = answer.data.fields.get('QN') ?? answer.qn;
      if (this.waiting && (answer.cn === '9014' || answer.cn === '9011') && (answered === this.waiting.qn || answer.qn === this.waiting.qn)) {
        this.waiting.resolve(answer);
      }
    }
  }

  /** Errors are reported to listeners; a logger nobody listens to keeps going rather than throwing from a socket callback. */
  private report(err: CleanstreamError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
