/**
 * Modbus input (TCP, RTU on a serial line, or RTU over TCP): polls one link and emits one 'scan' per poll of each poll group (the registers sharing a
 * poll interval: the input's pollIntervalMs, or a register's own). Groups share the one connection; their requests
 * are sent one at a time (many devices and serial gateways answer only one transaction at a time).
 * A request that times out is retried (`retries`, doubling `retryDelayMs`); an exception response is not (the
 * device answered: asking again gives the same answer) and is logged naming the device, unit, registers and code.
 *
 * Ticks are aligned to multiples of the interval (ts = floor(now / interval) * interval), so the same meter read by
 * two gateways, or a replay, gives the same timestamps. Every register appears in every scan: a register whose
 * request failed (timeout, exception response, no connection) is reported with value null and quality 'bad', so a
 * dead meter is visible downstream instead of silently missing. Polls never overlap: a tick that arrives while the
 * previous poll is still running is skipped and reported.
 */
import { EventEmitter } from 'node:events';
import { TransportError, toError, type CleanstreamError } from '../../../core/errors.ts';
import { NO_VALUE, type Reading } from '../../../core/reading.ts';
import { Backoff, backoffDelay, cancellableDelay, DEVICE_RECONNECT_BACKOFF, type BackoffPolicy } from '../../../core/backoff.ts';
import type { DriverContext, DriverEvents, DriverState, InputDriver } from '../../driver.ts';
import { BIT_AREAS, type ModbusInputConfig, type ModbusRegisterConfig } from './config.ts';
import { connectModbus, failureCode, linkLabel, type ModbusConnection, type ModbusConnector, type ModbusLink } from './client.ts';
import { decodeRegister, noValueSet, planRequests, registerValue, type ReadRequest } from './registers.ts';

/** Exception codes of the Modbus Application Protocol V1.1b3 §7. */
export const EXCEPTION_NAMES: Record<number, string> = {
  1: 'Illegal Function',
  2: 'Illegal Data Address',
  3: 'Illegal Data Value',
  4: 'Server Device Failure',
  5: 'Acknowledge',
  6: 'Server Device Busy',
  8: 'Memory Parity Error',
  10: 'Gateway Path Unavailable',
  11: 'Gateway Target Device Failed to Respond',
};

/** Registers polled at one interval: their own requests, timer and tick timestamps. */
interface PollGroup {
  intervalMs: number;
  /** Indexes into config.registers. */
  registers: number[];
  /** Requests whose `registers` are indexes into config.registers. */
  requests: ReadRequest[];
  lastTickTs: number;
  timer?: NodeJS.Timeout;
  poll?: Promise<void>;
}

export function pollGroups(config: Pick<ModbusInputConfig, 'registers' | 'pollIntervalMs' | 'unitId' | 'maxRegistersPerRequest'>): PollGroup[] {
  const byInterval = new Map<number, number[]>();
  config.registers.forEach((register, index) => {
    const interval = register.pollIntervalMs ?? config.pollIntervalMs;
    let list = byInterval.get(interval);
    if (!list) byInterval.set(interval, (list = []));
    list.push(index);
  });
  return [...byInterval].map(([intervalMs, registers]) => ({
    intervalMs,
    registers,
    requests: planRequests(registers.map((i) => config.registers[i]!), config.unitId, config.maxRegistersPerRequest).map((request) => ({
      ...request,
      registers: request.registers.map((j) => registers[j]!),
    })),
    lastTickTs: 0,
  }));
}

/** The link of a validated config (the schema guarantees host for TCP links and serial for RTU). */
export function modbusLink(config: Pick<ModbusInputConfig, 'transport' | 'host' | 'port' | 'serial'>): ModbusLink {
  if (config.transport === 'rtu') return { transport: 'rtu', serial: config.serial! };
  return { transport: config.transport, host: config.host!, port: config.port };
}

export interface ModbusDriverOptions {
  connect?: ModbusConnector;
  now?: () => number;
  backoff?: BackoffPolicy;
  /** Consecutive timeouts after which the connection is considered dead and re-opened. */
  timeoutsBeforeReconnect?: number;
}

export class ModbusDriver extends EventEmitter<DriverEvents> implements InputDriver {
  readonly name: string;
  private readonly link: ModbusLink;
  /** The link as named in logs and error context. */
  private readonly device: string;
  private readonly groups: PollGroup[];
  /** By register index: the decoded raw values that mean "no valid value". */
  private readonly noValue: ReadonlySet<number>[];
  /** Serialises requests of all groups on the one connection. */
  private lane: Promise<unknown> = Promise.resolve();
  private readonly connector: ModbusConnector;
  private readonly now: () => number;
  private readonly backoff: Backoff;
  private readonly timeoutsBeforeReconnect: number;
  private connection: ModbusConnection | undefined;
  private connecting = false;
  private stopped = true;
  private abort = new AbortController();
  private consecutiveTimeouts = 0;

  constructor(
    private readonly config: ModbusInputConfig,
    _context: DriverContext,
    options: ModbusDriverOptions = {},
  ) {
    super();
    this.link = modbusLink(config);
    this.device = linkLabel(this.link);
    this.name = config.name ?? `modbus:${config.transport === 'rtu' ? config.serial!.path : this.device}`;
    this.groups = pollGroups(config);
    this.noValue = config.registers.map((register) => noValueSet(register, config.noValue));
    this.connector = options.connect ?? connectModbus;
    this.now = options.now ?? Date.now;
    this.backoff = new Backoff(options.backoff ?? DEVICE_RECONNECT_BACKOFF);
    this.timeoutsBeforeReconnect = options.timeoutsBeforeReconnect ?? 3;
  }

  /** The read requests this input makes per poll (for logs and tests). */
  get plannedRequests(): readonly ReadRequest[] {
    return this.groups.flatMap((g) => g.requests);
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.abort = new AbortController();
    void this.connectLoop();
    for (const group of this.groups) this.scheduleTick(group);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    for (const group of this.groups) clearTimeout(group.timer);
    const connection = this.connection;
    this.connection = undefined;
    await connection?.close();
    await Promise.all(this.groups.map((g) => g.poll));
    this.emit('state', 'stopped');
  }

  private setState(state: DriverState): void {
    if (!this.stopped) this.emit('state', state);
  }

  private report(err: CleanstreamError): void {
    if (!this.stopped) this.emit('error', err);
  }

  private async connectLoop(): Promise<void> {
    if (this.connecting || this.stopped) return;
    this.connecting = true;
    try {
      while (!this.stopped) {
        this.setState('connecting');
        try {
          const connection = await this.connector(this.link, this.config.timeoutMs);
          if (this.stopped) {
            await connection.close();
            return;
          }
          connection.onClose(() => this.dropConnection(connection, 'the device closed the connection', 'ECONNRESET'));
          this.connection = connection;
          this.consecutiveTimeouts = 0;
          this.backoff.reset();
          this.setState('connected');
          return;
        } catch (err) {
          const cause = toError(err);
          this.report(
            new TransportError('MODBUS_CONNECT', `modbus ${this.device}: cannot connect: ${cause.message}`, true, { device: this.device, code: failureCode(err) }, { cause }),
          );
        }
        if (!(await cancellableDelay(this.backoff.next(), this.abort.signal))) return;
      }
    } finally {
      this.connecting = false;
    }
  }

  private dropConnection(connection: ModbusConnection, why: string, code: string): void {
    if (this.connection !== connection) return;
    this.connection = undefined;
    void connection.close();
    this.setState('disconnected');
    this.report(new TransportError('MODBUS_DISCONNECTED', `modbus ${this.device}: ${why}; reconnecting`, true, { device: this.device, code }));
    void this.connectLoop();
  }

  private scheduleTick(group: PollGroup): void {
    if (this.stopped) return;
    const interval = group.intervalMs;
    const now = this.now();
    // A timer may fire a little early; never give two ticks the same timestamp.
    const next = Math.max(Math.floor(now / interval) * interval + interval, group.lastTickTs + interval);
    // A timer that fired late (a blocked event loop, a suspended VM) lets ticks pass unpolled: say so, so that a
    // gap downstream is explained by an error here and never mistaken for data lost on the way.
    const missed = group.lastTickTs > 0 ? (next - group.lastTickTs) / interval - 1 : 0;
    if (missed > 0) {
      this.report(
        new TransportError('MODBUS_TICKS_MISSED', `modbus ${this.device}: ${missed} tick(s) of the ${interval} ms group after ${new Date(group.lastTickTs).toISOString()} were not polled (the timer fired ${now - group.lastTickTs - interval} ms late)`, true, { device: this.device, ts: group.lastTickTs, missed }),
      );
    }
    group.timer = setTimeout(() => this.onTick(group, next), next - now);
  }

  private onTick(group: PollGroup, ts: number): void {
    if (this.stopped) return;
    group.lastTickTs = ts;
    this.scheduleTick(group);
    if (group.poll) {
      this.report(
        new TransportError('MODBUS_POLL_OVERRUN', `modbus ${this.device}: the previous poll of the ${group.intervalMs} ms group is still running at ${new Date(ts).toISOString()}; tick skipped (the interval is shorter than a poll takes)`, true, { device: this.device, ts }),
      );
      return;
    }
    group.poll = this.pollOnce(group, ts)
      .catch((err: unknown) => this.report(new TransportError('MODBUS_POLL', `modbus ${this.device}: poll failed: ${toError(err).message}`, true, { device: this.device }, { cause: err })))
      .finally(() => {
        group.poll = undefined;
      });
  }

  private async pollOnce(group: PollGroup, ts: number): Promise<void> {
    const registers = this.config.registers;
    // Indexed by position in config.registers; the scan lists them in the group's order.
    const readings: Reading[] = new Array<Reading>(registers.length);
    for (const request of group.requests) {
      if (this.stopped) return;
      const words = await this.inLane(() => this.readWithRetries(request));
      for (const i of request.registers) readings[i] = words ? this.decode(i, words, request, ts) : badReading(registers[i]!, ts);
    }
    if (this.stopped) return;
    const scan: Reading[] = new Array<Reading>(group.registers.length);
    for (let k = 0; k < scan.length; k++) scan[k] = readings[group.registers[k]!]!;
    this.emit('scan', scan);
  }

  private inLane<T>(op: () => Promise<T>): Promise<T> {
    const run = this.lane.then(op);
    this.lane = run.catch(() => undefined);
    return run;
  }

  /** The request's words, or undefined when it failed (reported; the caller marks its registers bad). */
  private async readWithRetries(request: ReadRequest): Promise<number[] | undefined> {
    for (let attempt = 0; ; attempt++) {
      if (this.stopped) return undefined;
      const connection = this.connection;
      if (!connection || !connection.isOpen) {
        if (connection) this.dropConnection(connection, 'the connection is no longer open', 'ECONNRESET');
        return undefined;
      }
      try {
        const words = await connection.read(request.unitId, request.area, request.address, request.count);
        this.consecutiveTimeouts = 0;
        return words;
      } catch (err) {
        const code = failureCode(err);
        if (code === 'ETIMEDOUT' && attempt < this.config.retries && connection.isOpen) {
          const delay = backoffDelay({ initialMs: this.config.retryDelayMs, maxMs: this.config.retryDelayMs * 2 ** this.config.retries }, attempt + 1);
          if (!(await cancellableDelay(delay, this.abort.signal))) return undefined;
          continue;
        }
        this.requestFailed(connection, request, err);
        return undefined;
      }
    }
  }

  private decode(index: number, words: number[], request: ReadRequest, ts: number): Reading {
    const register = this.config.registers[index]!;
    try {
      const value = registerValue(decodeRegister(words, register.address - request.address, register.type, register.wordOrder, register.byteOrder), register, this.noValue[index]!);
      // The device's "no valid value" (its code, or a NaN float) is no measurement: never a number like -327.68 pH.
      if (value === null) return { ...badReading(register, ts), reason: NO_VALUE };
      if (!Number.isFinite(value)) return badReading(register, ts);
      return reading(register, value, ts, 'good');
    } catch (err) {
      this.report(
        new TransportError('MODBUS_DECODE', `modbus ${this.device} unit ${request.unitId} ${register.area} ${register.address}: ${toError(err).message}`, false, { device: this.device, unitId: request.unitId, address: register.address }),
      );
      return badReading(register, ts);
    }
  }

  private requestFailed(connection: ModbusConnection, request: ReadRequest, err: unknown): void {
    const code = failureCode(err);
    const last = request.address + request.count - 1;
    const range = `${request.area} ${BIT_AREAS.has(request.area) ? 'bits' : 'registers'} ${request.address}-${last}`;
    const exception = code.startsWith('EXCEPTION_') ? Number(code.slice('EXCEPTION_'.length)) : undefined;
    const points = request.registers.map((i) => {
      const r = this.config.registers[i]!;
      return `${r.plant}/${r.meter}/${r.quantity}@${r.address}`;
    });
    const what = exception !== undefined ? `exception ${exception} (${EXCEPTION_NAMES[exception] ?? 'unknown'})` : `${toError(err).message} (${code})`;
    this.report(
      new TransportError('MODBUS_REQUEST', `modbus ${this.device} unit ${request.unitId} ${range} [${points.join(', ')}]: ${what}${exception === undefined && code === 'ETIMEDOUT' ? ` after ${this.config.retries + 1} attempts` : ''}`, exception === undefined, {
        device: this.device,
        unitId: request.unitId,
        area: request.area,
        address: request.address,
        count: request.count,
        code,
        registers: points,
      }, { cause: err }),
    );
    if (code === 'ETIMEDOUT') {
      this.consecutiveTimeouts++;
      if (this.consecutiveTimeouts >= this.timeoutsBeforeReconnect) {
        this.dropConnection(connection, `${this.consecutiveTimeouts} requests in a row timed out`, code);
      }
    } else if (!connection.isOpen) {
      this.dropConnection(connection, 'the connection was lost', code);
    }
  }
}

/** Built field by field (no spread): one of these per register per poll is the driver's hot path. */
function reading(register: ModbusRegisterConfig, value: number | null, ts: number, quality: Reading['quality']): Reading {
  return { plant: register.plant, meter: register.meter, quantity: register.quantity, unit: register.unit, value, ts, quality };
}

function badReading(register: ModbusRegisterConfig, ts: number): Reading {
  return reading(register, null, ts, 'bad');
}
