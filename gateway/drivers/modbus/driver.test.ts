import { afterEach, describe, expect, it } from 'vitest';
import type { CleanstreamError } from '../../../core/errors.ts';
import type { Reading } from '../../../core/reading.ts';
import { until } from '../../../test/harness/wait.ts';
import { modbusInputSchema } from './config.ts';
import { linkLabel } from './client.ts';
import { modbusLink } from './driver.ts';
import type { ModbusConnection, ModbusConnector } from './client.ts';
import { ModbusDriver } from './driver.ts';

/** A device in memory: holding registers by unit id, with failures to inject. */
class FakeDevice {
  holding = new Map<number, number[]>();
  failNext: unknown[] = [];
  delayMs = 0;
  connects = 0;
  refuse = false;
  private closeListener: (() => void) | undefined;
  open = false;

  connector: ModbusConnector = async () => {
    this.connects++;
    if (this.refuse) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    this.open = true;
    const isOpen = (): boolean => this.open;
    const connection: ModbusConnection = {
      get isOpen() {
        return isOpen();
      },
      read: async (unitId, _area, address, count) => {
        if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
        const failure = this.failNext.shift();
        if (failure) throw failure;
        const words = this.holding.get(unitId) ?? [];
        return Array.from({ length: count }, (_, i) => words[address + i] ?? 0);
      },
      onClose: (listener) => {
        this.closeListener = listener;
      },
      close: async () => {
        this.open = false;
      },
    };
    return connection;
  };

  drop(): void {
    this.open = false;
    this.closeListener?.();
  }
}

const INTERVAL = 40;

function driverFor(device: FakeDevice, registers: unknown[], extra: Record<string, unknown> = {}) {
  const config = modbusInputSchema.parse({ type: 'modbus', host: '10.0.0.5', port: 502, pollIntervalMs: INTERVAL, registers, ...extra });
  const driver = new ModbusDriver(config, { gatewayId: 'gw-test', dataDir: '/nonexistent' }, { connect: device.connector, backoff: { initialMs: 10, maxMs: 20, jitter: 0 } });
  const scans: Reading[][] = [];
  const errors: CleanstreamError[] = [];
  driver.on('scan', (r) => scans.push(r));
  driver.on('error', (e) => errors.push(e));
  return { driver, scans, errors };
}

const target = { plant: 'dyeing-01', meter: 'outfall-1-cod', quantity: 'cod', unit: 'mg/L', area: 'holding' } as const;

let running: ModbusDriver | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

describe('Modbus driver', () => {
  it('emits one scan per tick with decoded, scaled values, all stamped with the aligned tick time', async () => {
    const device = new FakeDevice();
    device.holding.set(1, [1234, 0xffff, 0x3fc0, 0x0000]);
    const { driver, scans } = driverFor(device, [
      { ...target, address: 0, type: 'uint16', scale: 0.1 },
      { ...target, meter: 'm2', address: 1, type: 'int16', offset: 100 },
      { ...target, meter: 'm3', address: 2, type: 'float32' },
    ]);
    running = driver;
    await driver.start();
    await until('two scans', () => scans.length >= 2, 3_000, 5);
    const scan = scans[1]!;
    expect(scan.map((r) => r.value)).toEqual([123.4, 99, 1.5]);
    expect(scan.every((r) => r.quality === 'good')).toBe(true);
    expect(new Set(scan.map((r) => r.ts)).size).toBe(1);
    expect(scan[0]!.ts % INTERVAL).toBe(0);
    expect(scans[1]![0]!.ts - scans[0]![0]!.ts).toBe(INTERVAL);
  });

  it('reports registers of a failed request as bad, and names device, unit id, address range and code', async () => {
    const device = new FakeDevice();
    device.holding.set(3, [7, 8, 9]);
    const { driver, scans, errors } = driverFor(device, [
      { ...target, address: 0, type: 'uint16', unitId: 3 },
      { ...target, meter: 'm2', address: 1, type: 'uint16', unitId: 3 },
      { ...target, meter: 'm3', address: 10, type: 'uint16', unitId: 3 },
    ]);
    running = driver;
    // The first request (addresses 0-1) answers exception 2; the second (address 10) succeeds.
    device.failNext.push(Object.assign(new Error('Modbus exception 2: Illegal data address'), { modbusCode: 2 }));
    await driver.start();
    await until('a scan', () => scans.length >= 1, 3_000, 5);
    expect(scans[0]!.map((r) => [r.meter, r.value, r.quality])).toEqual([
      ['outfall-1-cod', null, 'bad'],
      ['m2', null, 'bad'],
      ['m3', 0, 'good'],
    ]);
    const err = errors.find((e) => e.code === 'MODBUS_REQUEST')!;
    expect(err.message).toContain('10.0.0.5:502');
    expect(err.message).toContain('unit 3');
    expect(err.message).toContain('holding registers 0-1');
    expect(err.context).toMatchObject({ device: '10.0.0.5:502', unitId: 3, address: 0, count: 2, code: 'EXCEPTION_2' });
    await until('two scans', () => scans.length >= 2, 3_000, 5);
    expect(scans[1]!.map((r) => r.value)).toEqual([7, 8, 0]);
  });

  it('treats a timeout (a plain object from modbus-serial) as a failed request and reconnects after repeated timeouts', async () => {
    const device = new FakeDevice();
    const { driver, scans, errors } = driverFor(device, [{ ...target, address: 0, type: 'uint16' }], { retries: 0 });
    running = driver;
    const timeout = { name: 'TransactionTimedOutError', message: 'Timed out', errno: 'ETIMEDOUT' };
    device.failNext.push(timeout, timeout, timeout);
    await driver.start();
    await until('four scans', () => scans.length >= 4, 3_000, 5);
    expect(scans.slice(0, 3).every((s) => s[0]!.quality === 'bad' && s[0]!.value === null)).toBe(true);
    expect(errors.filter((e) => e.context.code === 'ETIMEDOUT' && e.code === 'MODBUS_REQUEST')).toHaveLength(3);
    expect(errors.some((e) => e.code === 'MODBUS_DISCONNECTED')).toBe(true);
    await until('a reconnect and a good scan', () => device.connects >= 2 && scans.at(-1)![0]!.quality === 'good', 3_000, 5);
  });

  it('keeps scanning with bad readings while the device is gone, and resumes when it is back', async () => {
    const device = new FakeDevice();
    device.holding.set(1, [42]);
    const { driver, scans, errors } = driverFor(device, [{ ...target, address: 0, type: 'uint16' }]);
    running = driver;
    await driver.start();
    await until('a scan reading 42', () => scans.some((s) => s[0]!.value === 42), 3_000, 5);
    device.refuse = true;
    device.drop();
    const before = scans.length;
    await until('three more scans', () => scans.length >= before + 3, 3_000, 5);
    expect(scans.slice(before).every((s) => s[0]!.quality === 'bad')).toBe(true);
    expect(errors.some((e) => e.code === 'MODBUS_DISCONNECTED')).toBe(true);
    expect(errors.some((e) => e.code === 'MODBUS_CONNECT')).toBe(true);
    device.refuse = false;
    await until('the last scan reading 42', () => scans.at(-1)![0]!.value === 42, 3_000, 5);
  });

  it('never overlaps polls: a tick during a slow poll is skipped and reported', async () => {
    const device = new FakeDevice();
    device.delayMs = INTERVAL * 2.5;
    let inFlight = 0;
    let maxInFlight = 0;
    const connector = device.connector;
    device.connector = async (...args) => {
      const connection = await connector(...args);
      return {
        ...connection,
        get isOpen() {
          return connection.isOpen;
        },
        read: async (...readArgs) => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          try {
            return await connection.read(...readArgs);
          } finally {
            inFlight--;
          }
        },
      };
    };
    const { driver, scans, errors } = driverFor(device, [{ ...target, address: 0, type: 'uint16' }]);
    running = driver;
    await driver.start();
    await until('two scans', () => scans.length >= 2, 3_000, 5);
    expect(maxInFlight).toBe(1);
    expect(errors.some((e) => e.code === 'MODBUS_POLL_OVERRUN')).toBe(true);
    const stamps = scans.map((s) => s[0]!.ts);
    expect(new Set(stamps).size).toBe(stamps.length);
  });

  it('emits nothing after stop() resolves', async () => {
    const device = new FakeDevice();
    const { driver, scans } = driverFor(device, [{ ...target, address: 0, type: 'uint16' }]);
    await driver.start();
    await until('a scan', () => scans.length >= 1, 3_000, 5);
    await driver.stop();
    const count = scans.length;
    await new Promise((r) => setTimeout(r, INTERVAL * 3));
    expect(scans.length).toBe(count);
  });

  it('reports ticks it could not poll because its timer fired late, so a gap downstream is explained', async () => {
    const device = new FakeDevice();
    device.holding.set(1, [7]);
    const { driver, scans, errors } = driverFor(device, [{ ...target, address: 0, type: 'uint16' }]);
    running = driver;
    await driver.start();
    await until('two scans', () => scans.length >= 2, 3_000, 5);
    // Block the event loop for several intervals, as a loaded machine or a suspended VM would.
    const blockedUntil = Date.now() + 5 * INTERVAL;
    while (Date.now() < blockedUntil) {
      // busy on purpose
    }
    const before = scans.length;
    await until('three more scans', () => scans.length >= before + 3, 3_000, 5);
    const stamps = scans.map((s) => s[0]!.ts);
    const skipped = stamps.slice(1).reduce((n, ts, i) => n + (ts - stamps[i]!) / INTERVAL - 1, 0);
    expect(skipped).toBeGreaterThan(0);
    const missed = errors.filter((e) => e.code === 'MODBUS_TICKS_MISSED');
    expect(missed.reduce((n, e) => n + (e.context.missed as number), 0)).toBe(skipped);
  });
});

describe('Modbus links', () => {
  const registers = [{ ...target, address: 0, type: 'uint16' }];
  const issues = (input: Record<string, unknown>) => {
    const result = modbusInputSchema.safeParse({ type: 'modbus', registers, ...input });
    return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('defaults to Modbus TCP and names a TCP link by host:port', () => {
    const config = modbusInputSchema.parse({ type: 'modbus', host: '10.0.0.5', registers });
    expect(linkLabel(modbusLink(config))).toBe('10.0.0.5:502');
    expect(linkLabel(modbusLink(modbusInputSchema.parse({ type: 'modbus', transport: 'rtu-over-tcp', host: '10.0.0.9', port: 4001, registers })))).toBe('10.0.0.9:4001 (RTU)');
  });

  it('takes a serial line for RTU with the Modbus serial defaults (9600 baud, 8 data bits, even parity, 1 stop bit)', () => {
    const config = modbusInputSchema.parse({ type: 'modbus', transport: 'rtu', serial: { path: '/dev/ttyUSB0' }, registers });
    expect(config.serial).toEqual({ path: '/dev/ttyUSB0', baudRate: 9600, parity: 'even', dataBits: 8, stopBits: 1 });
    expect(linkLabel(modbusLink(config))).toBe('/dev/ttyUSB0@9600/8E1');
  });

  it('says which field a link lacks or has in excess', () => {
    expect(issues({ transport: 'rtu' })).toEqual([expect.stringMatching(/^serial: expected a serial line/)]);
    expect(issues({ transport: 'rtu', serial: { path: '/dev/ttyS1' }, host: '10.0.0.5' })).toEqual([expect.stringMatching(/^host: expected no host with transport rtu/)]);
    expect(issues({})).toEqual([expect.stringMatching(/^host: expected a host name or address with transport tcp/)]);
    expect(issues({ host: '10.0.0.5', serial: { path: '/dev/ttyS1' } })).toEqual([expect.stringMatching(/^serial: expected no serial line with transport tcp/)]);
    expect(issues({ transport: 'rtu', serial: { path: '/dev/ttyS1', parity: 'mark', stopBits: 3 } }).map((i) => i.split(':')[0])).toEqual(['serial.parity', 'serial.stopBits']);
  });
});
