/**
 * The Modbus input against a server we did not write: pymodbus 3.0 (Debian's python3-pymodbus), whose own payload
 * builder encodes every data type in every byte order and word order the driver supports, plus coils and discrete
 * inputs. What users rely on: each value decodes to what the device holds with the orders the config names; a read
 * the device answers with an exception gives bad readings and a log line naming the device, registers and code;
 * when the device restarts, its readings are bad meanwhile and good again afterwards, without restarting the gateway.
 */
import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { startBroker } from '../../../bus/broker.ts';
import { decodeBatch, type ReadingBatch } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { parseGatewayConfig } from '../../../gateway/config.ts';
import { startGateway } from '../../../gateway/main.ts';
import { canConnect, freePort } from '../../harness/ports.ts';
import { spawnServer, type SpawnedServer } from '../../harness/spawn.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { until } from '../../harness/wait.ts';

const DEBIAN_PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(import.meta.dirname, 'pymodbus_server.py');
const POLL_MS = 200;
const workDir = mkdtempSync(path.join(tmpdir(), 'cs-gw-pymodbus-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));



const startPymodbus = (spec: object & { port: number }): Promise<SpawnedServer> =>
  spawnServer('pymodbus', DEBIAN_PYTHON, [SCRIPT, JSON.stringify(spec)], () => canConnect(spec.port));

const VALUES = { int16: -1234, uint16: 54321, int32: -123456789, uint32: 3_000_000_000, float32: 12.5, float64: -98765.4321 } as const;
const WIDTH = { int16: 1, uint16: 1, int32: 2, uint32: 2, float32: 2, float64: 4 } as const;
type WordType = keyof typeof VALUES;
const ORDERS = ['big', 'little'] as const;

/** Every type in every byte order and (for multi-register types) word order, laid out back to back. */
function layout(): { meter: string; type: WordType; byteorder: 'big' | 'little'; wordorder: 'big' | 'little'; address: number; value: number }[] {
  const out = [];
  let address = 0;
  for (const type of Object.keys(VALUES) as WordType[]) {
    for (const byteorder of ORDERS) {
      for (const wordorder of WIDTH[type] === 1 ? (['big'] as const) : ORDERS) {
        out.push({ meter: `${type}-b${byteorder}-w${wordorder}`, type, byteorder, wordorder, address, value: VALUES[type] });
        address += WIDTH[type];
      }
    }
  }
  return out;
}

describe('Modbus input against pymodbus', () => {
  it('decodes every type and order, reports exceptions, and recovers after the device restarts', async () => {
    const port = await freePort();
    const cases = layout();
    const spec = {
      port,
      holding: cases.map(({ type, byteorder, wordorder, address, value }) => ({ type, byteorder, wordorder, address, value })),
      input: [{ type: 'float32', byteorder: 'big', wordorder: 'big', address: 10, value: -0.75 }],
      coils: [true, false, true],
      discrete: [false, true],
      size: 200,
    };
    let device = await startPymodbus(spec);
    const broker = await startBroker();
    const observer = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    const received: ReadingBatch[] = [];
    observer.on('message', (_t, payload) => received.push(decodeBatch(payload)));
    await observer.subscribeAsync(topics.readingsFilter(), { qos: 1 });

    // In W: the int32 and uint32 values (-123,456,789 and 3,000,000,000) are within an active power's physical range
    // in W, not in kW.
    const target = { plant: 'dyeing-01', quantity: 'active_power', unit: 'W' };
    const lines: { code?: string; msg?: string; context?: Record<string, unknown> }[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const gateway = await startGateway(
      parseGatewayConfig('test gw-pymodbus', {
        id: 'gw-pymodbus',
        mqtt: { url: broker.url },
        dataDir: path.join(workDir, 'gw'),
        health: { intervalMs: 0 },
        inputs: [
          {
            type: 'modbus',
            host: '127.0.0.1',
            port,
            pollIntervalMs: POLL_MS,
            timeoutMs: 300,
            // Small on purpose: the 40 holding registers take several requests, as for devices that cannot answer 125.
            maxRegistersPerRequest: 16,
            registers: [
              ...cases.map((c) => ({ ...target, meter: c.meter, area: 'holding', address: c.address, type: c.type, byteOrder: c.byteorder, wordOrder: c.wordorder })),
              { ...target, meter: 'input-float32', area: 'input', address: 10, type: 'float32' },
              { ...target, meter: 'coil-0', area: 'coil', address: 0, type: 'bool' },
              { ...target, meter: 'coil-1', area: 'coil', address: 1, type: 'bool' },
              { ...target, meter: 'coil-2', area: 'coil', address: 2, type: 'bool', pollIntervalMs: POLL_MS * 2 },
              { ...target, meter: 'discrete-1', area: 'discrete', address: 1, type: 'bool' },
              // Beyond the device's 200 registers: exception 2 (Illegal Data Address).
              { ...target, meter: 'missing', area: 'holding', address: 500, type: 'uint16' },
            ],
          },
        ],
      }),
      { logger },
    );
    const latest = (meter: string) => received.flatMap((b) => b.readings.filter((r) => r.meter === meter)).at(-1);
    try {
      await until('a good reading of every register', () => [...cases.map((c) => c.meter), 'input-float32', 'coil-2', 'discrete-1'].every((m) => latest(m)?.quality === 'good'), 15_000);
      for (const c of cases) {
        const reading = latest(c.meter)!;
        if (c.type === 'float64') expect(reading.value, c.meter).toBeCloseTo(c.value, 6);
        else expect(reading.value, c.meter).toBe(c.value);
      }
      expect(latest('input-float32')!.value).toBe(-0.75);
      expect(['coil-0', 'coil-1', 'coil-2', 'discrete-1'].map((m) => latest(m)!.value)).toEqual([1, 0, 1, 1]);
      // The slower group's coil comes in its own scans, half as often.
      const count = (meter: string) => received.reduce((n, b) => n + b.readings.filter((r) => r.meter === meter).length, 0);
      await until('several polls', () => count('coil-0') >= 8, 10_000);
      expect(count('coil-2')).toBeLessThanOrEqual(count('coil-0') / 2 + 1);

      expect(latest('missing')).toMatchObject({ value: null, quality: 'bad' });
      const exception = lines.find((l) => l.code === 'MODBUS_REQUEST' && l.context?.code === 'EXCEPTION_2');
      expect(exception?.msg).toContain(`127.0.0.1:${port}`);
      expect(exception?.msg).toContain('holding registers 500-500');
      expect(exception?.msg).toContain('dyeing-01/missing/active_power@500');
      expect(exception?.msg).toContain('exception 2 (Illegal Data Address)');

      // The device restarts: bad readings meanwhile, good ones afterwards, with the same gateway.
      await device.stop();
      const downAt = Date.now();
      await until('bad readings while the device is down', () => received.some((b) => b.sentAt > downAt && b.readings.some((r) => r.meter === 'int16-bbig-wbig' && r.quality === 'bad')), 10_000);
      device = await startPymodbus(spec);
      const upAt = Date.now();
      await until('good readings after the restart', () => received.some((b) => b.sentAt > upAt && b.readings.some((r) => r.meter === 'int16-bbig-wbig' && r.quality === 'good' && r.value === -1234)), 20_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nlog:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`, { cause: err });
    } finally {
      await gateway.stop();
      await observer.endAsync();
      await broker.stop();
      await device.stop();
    }
  });
});
