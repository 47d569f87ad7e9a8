/**
 * Modbus TCP input: polls one device every pollIntervalMs and emits one 'scan' per poll.
 *
 * Ticks are aligned to multiples of the interval (ts = floor(now / interval) * interval), so the same meter read by
 * two gateways, or a replay, gives the same timestamps. Every register appears in every scan: a register whose
 * request failed (timeout, exception response, no connection) is reported with value null and quality 'bad', so a
 * dead meter is visible downstream instead of silently missing. Polls never overlap: a tick that arrives while the
 * previous poll is still running is skipped and reported.
 */
import { EventEmitter } from 'node:events';
import { TransportError, toError, type CleanstreamError } from '../../../core/errors.ts';
import type { Reading } from '../../../core/reading.ts';
import { Backoff, cancellableDelay, DEFAULT_BACKOFF, type BackoffOptions } from '../../backoff.ts';
import type { DriverContext, DriverEvents, DriverState, InputDriver } from '../../driver.ts';
import { type ModbusInputConfig, type ModbusRegisterConfig } from './config.ts';
import { connectModbusTcp, failureCode, type ModbusConnection, type ModbusConnector } from './client.ts';
import { decodeRegister, planRequests, scaleValue, type ReadRequest } from './registers.ts';

export interface ModbusDriverOptions {
  connect?: ModbusConnector;
  now?: () => number;
  backoff?: BackoffOptions;
  /** Consecutive timeouts after which the connection is considered dead and re-opened. */
  timeoutsBeforeReconnect?: number;
}

export class ModbusDriver extends EventEmitter<DriverEvents> implements InputDriver {
  readonly name: string;
  private readonly device: string;
  private readonly requests: ReadRequest[];
  private readonly connector: ModbusConnector;
  private readonly now: () => number;
  private readonly backoff: Backoff;
  private readonly timeoutsBeforeReconnect: number;
  private connection: ModbusConnection | undefined;
  private connecting = false;
  private stopped = true;
  private abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private lastTickTs = 0;
  private poll: Promise<void> | undefined;
  private consecutiveTimeouts = 0;

  constructor(
    private readonly config: ModbusInputConfig,
    _context: DriverContext,
    options: ModbusDriverOptions = {},
  ) {
    super();
    this.device = `${config.host}:${config.port}`;
    this.name = config.name ?? `modbus:${this.device}`;
    this.requests = planRequests(config.registers, config.unitId, config.maxRegistersPerRequest);
    this.connector = options.connect ?? connectModbusTcp;
    this.now = options.now ?? Date.now;
    this.backoff = new Backoff(options.backoff ?? DEFAULT_BACKOFF);
    this.timeoutsBeforeReconnect = options.timeoutsBeforeReconnect ?? 3;
  }

  /** The read requests this input makes per poll (for logs and tests). */
  get plannedRequests(): readonly ReadRequest[] {
    return this.requests;
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.abort = new AbortController();
    void this.connectLoop();
    this.scheduleTick();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    clearTimeout(this.timer);
    const connection = this.connection;
    this.connection = undefined;
    await connection?.close();
    await this.poll;
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
          const connection = await this.connector(this.config.host, this.config.port, this.config.timeoutMs);
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

  private scheduleTick(): void {
    if (this.stopped) return;
    const interval = this.config.pollIntervalMs;
    const now = this.now();
    // A timer may fire a little early; never give two ticks the same timestamp.
    const next = Math.max(Math.floor(now / interval) * interval + interval, this.lastTickTs + interval);
    this.timer = setTimeout(() => this.onTick(next), next - now);
  }

  private onTick(ts: number): void {
    if (this.stopped) return;
    this.lastTickTs = ts;
    this.scheduleTick();
    if (this.poll) {
      this.report(
        new TransportError('MODBUS_POLL_OVERRUN', `modbus ${this.device}: the previous poll is still running at ${new Date(ts).toISOString()}; tick skipped (pollIntervalMs ${this.config.pollIntervalMs} is shorter than a poll takes)`, true, { device: this.device, ts }),
      );
      return;
    }
    this.poll = this.pollOnce(ts)
      .catch((err: unknown) => this.report(new TransportError('MODBUS_POLL', `modbus ${this.device}: poll failed: ${toError(err).message}`, true, { device: this.device }, { cause: err })))
      .finally(() => {
        this.poll = undefined;
      });
  }

  private async pollOnce(ts: number): Promise<void> {
    const registers = this.config.registers;
    const readings: Reading[] = new Array<Reading>(registers.length);
    for (const request of this.requests) {
      if (this.stopped) return;
      const connection = this.connection;
      if (!connection || !connection.isOpen) {
        if (connection) this.dropConnection(connection, 'the connection is no longer open', 'ECONNRESET');
        for (const i of request.registers) readings[i] = badReading(registers[i]!, ts);
        continue;
      }
      try {
        const words = await connection.read(request.unitId, request.area, request.address, request.count);
        this.consecutiveTimeouts = 0;
        for (const i of request.registers) readings[i] = this.decode(registers[i]!, words, request, ts);
      } catch (err) {
        for (const i of request.registers) readings[i] = badReading(registers[i]!, ts);
        this.requestFailed(connection, request, err);
      }
    }
    if (!this.stopped) this.emit('scan', readings);
  }

  private decode(register: ModbusRegisterConfig, words: number[], request: ReadRequest, ts: number): Reading {
    try {
      const value = scaleValue(decodeRegister(words, register.address - request.address, register.type, register.wordOrder), register);
      if (!Number.isFinite(value)) return badReading(register, ts);
      return { ...target(register), value, ts, quality: 'good' };
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
    const range = `${request.area} registers ${request.address}-${last}`;
    this.report(
      new TransportError('MODBUS_REQUEST', `modbus ${this.device} unit ${request.unitId} ${range}: ${toError(err).message} (${code})`, !code.startsWith('EXCEPTION_'), {
        device: this.device,
        unitId: request.unitId,
        area: request.area,
        address: request.address,
        count: request.count,
        code,
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

function target(register: ModbusRegisterConfig): Pick<Reading, 'plant' | 'meter' | 'quantity' | 'unit'> {
  return { plant: register.plant, meter: register.meter, quantity: register.quantity, unit: register.unit };
}

function badReading(register: ModbusRegisterConfig, ts: number): Reading {
  return { ...target(register), value: null, ts, quality: 'bad' };
}
