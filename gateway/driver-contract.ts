/**
 * The contract every input driver keeps (gateway/driver.ts), as a vitest suite that takes a driver built through the
 * registry against a real device: what the gateway relies on whatever the protocol. Run for every registered driver
 * by test/integration/gateway/driver-contract.test.ts (which fails when a registered driver has no subject there).
 *
 * Two roles. A driver that dials (OPC UA, Modbus) connects to its device: with the device away it keeps retrying
 * and says so ('error', 'disconnected'). A driver that listens (the HJ 212 receiver) is the server its devices
 * connect to: it is 'connected' once it listens, whether or not a device is connected, and one device leaving is
 * not the input going down (other devices may still be connected; a silent meter is the stale rules' business).
 */
import { describe, expect, it } from 'vitest';
import { CleanstreamError } from '../core/errors.ts';
import { QUALITIES, type Reading } from '../core/reading.ts';
import { until } from '../test/harness/wait.ts';
import type { DriverState, InputDriver } from './driver.ts';
import type { DriverType } from './drivers/index.ts';

/** A driver under test and the device it reads. */
export interface DriverUnderTest {
  /** Built with `driverRegistry[type].create(config, context)`, not started, configured for the device below. */
  driver: InputDriver;
  /** The points the config names: every reading must be one of them, and each one must be read. */
  points: readonly { plant: string; meter: string; quantity: string }[];
  /** Bring the device up, or back: a server listening where the driver dials, or a logger connecting to the driver. */
  deviceUp(): Promise<void>;
  /** Take the device away: the server stops, or the logger disconnects. */
  deviceDown(): Promise<void>;
  /** Stop the device if up and remove what the driver and device left on disk. */
  dispose(): Promise<void>;
}

export interface DriverContractSubject {
  type: DriverType;
  /** Which variant of the driver this is, when a type has several (a transport): named in the suite's title. */
  variant?: string;
  /** 'dials': the driver connects to its device; 'listens': devices connect to the driver. */
  role: 'dials' | 'listens';
  /** How often a running driver with its device up emits 'scan', at most. */
  scanIntervalMs: number;
  build(): Promise<DriverUnderTest>;
}

/** What a driver emitted, in order, with when. */
interface Recording {
  states: { state: DriverState; at: number }[];
  errors: { err: unknown; at: number }[];
  scans: { readings: Reading[]; at: number }[];
}

function record(driver: InputDriver): Recording {
  const rec: Recording = { states: [], errors: [], scans: [] };
  driver.on('state', (state) => rec.states.push({ state, at: Date.now() }));
  driver.on('error', (err) => rec.errors.push({ err, at: Date.now() }));
  driver.on('scan', (readings) => rec.scans.push({ readings, at: Date.now() }));
  return rec;
}

const ERROR_CODE = /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/;

function expectCodedErrors(rec: Recording): void {
  for (const { err } of rec.errors) {
    expect(err, String(err)).toBeInstanceOf(CleanstreamError);
    expect((err as CleanstreamError).code).toMatch(ERROR_CODE);
  }
}

/** The state sequence without repeats: a driver may say the same state twice, never skip 'connecting'. */
function transitions(rec: Recording, since = 0): DriverState[] {
  const out: DriverState[] = [];
  for (const { state, at } of rec.states) if (at >= since && out.at(-1) !== state) out.push(state);
  return out;
}

function expectConnectedOnlyAfterConnecting(rec: Recording): void {
  const seq = transitions(rec);
  expect(seq[0], seq.join(' → ')).toBe('connecting');
  seq.forEach((state, i) => {
    if (state === 'connected') expect(seq[i - 1], seq.join(' → ')).toBe('connecting');
  });
}

const hasGoodReading = (readings: Reading[]): boolean => readings.some((r) => r.quality === 'good');

/** Every reading one of the configured points, with a quality the vocabulary knows and a value only when good. */
function expectWellFormedScans(rec: Recording, points: DriverUnderTest['points']): void {
  const configured = new Set(points.map((p) => `${p.plant}/${p.meter}/${p.quantity}`));
  for (const { readings } of rec.scans) {
    expect(readings.length).toBeGreaterThan(0);
    for (const r of readings) {
      const where = `${r.plant}/${r.meter}/${r.quantity}`;
      expect(configured.has(where), `${where} is not a configured point`).toBe(true);
      expect(QUALITIES).toContain(r.quality);
      expect(Number.isFinite(r.ts), where).toBe(true);
      if (r.quality === 'good') expect(Number.isFinite(r.value), where).toBe(true);
      if (r.value === null) expect(r.quality, where).not.toBe('good');
    }
  }
}

async function withDriver(subject: DriverContractSubject, body: (d: DriverUnderTest, rec: Recording) => Promise<void>): Promise<void> {
  const d = await subject.build();
  const rec = record(d.driver);
  try {
    await body(d, rec);
  } finally {
    await d.driver.stop();
    await d.dispose();
  }
}

/** The contract suite for one driver type. */
export function driverContract(subject: DriverContractSubject): void {
  const every = (what: string, n: number): string => `${what} (${n})`;
  describe(`input driver contract: ${subject.type}${subject.variant ? ` (${subject.variant})` : ''}`, () => {
    it('starts with its device away, keeps trying, then reads every configured point once the device is up', async () => {
      await withDriver(subject, async (d, rec) => {
        await d.driver.start();
        if (subject.role === 'dials') {
          await until('two failed attempts reported', () => rec.errors.length >= 2, 15_000);
          expect(transitions(rec)).not.toContain('connected');
        } else {
          await until("the driver to say 'connected' once it listens", () => transitions(rec).includes('connected'), 5_000);
          expect(rec.errors).toEqual([]);
        }
        expect(rec.scans.filter((s) => hasGoodReading(s.readings))).toEqual([]);
        expectCodedErrors(rec);

        await d.deviceUp();
        const seen = new Set<string>();
        await until(
          every('a good reading of every configured point', d.points.length),
          () => {
            for (const { readings } of rec.scans) for (const r of readings) if (r.quality === 'good') seen.add(`${r.plant}/${r.meter}/${r.quantity}`);
            return d.points.every((p) => seen.has(`${p.plant}/${p.meter}/${p.quantity}`));
          },
          30_000,
        );
        expect(transitions(rec).at(-1)).toBe('connected');
        expectConnectedOnlyAfterConnecting(rec);
        expectWellFormedScans(rec, d.points);
      });
    });

    it("stops: stop resolves, no 'scan' comes after it, and a second stop is harmless", async () => {
      await withDriver(subject, async (d, rec) => {
        await d.deviceUp();
        await d.driver.start();
        await until('two scans', () => rec.scans.length >= 2, 30_000);
        await d.driver.stop();
        const scansAtStop = rec.scans.length;
        const statesAtStop = rec.states.length;
        await new Promise((r) => setTimeout(r, Math.max(1000, 4 * subject.scanIntervalMs)));
        expect(rec.scans.slice(scansAtStop)).toEqual([]);
        await d.driver.stop();
        expect(transitions(rec).at(-1)).toBe('stopped');
        expect(rec.states.slice(statesAtStop)).toEqual([]);
        expectWellFormedScans(rec, d.points);
      });
    });

    if (subject.role === 'dials') {
      it("reports its device going away ('error' with a code, 'disconnected') and reads again once it is back", async () => {
        await withDriver(subject, async (d, rec) => {
          await d.deviceUp();
          await d.driver.start();
          await until('a good scan', () => rec.scans.some((s) => hasGoodReading(s.readings)), 30_000);
          const awayAt = Date.now();
          await d.deviceDown();
          await until("an 'error' and 'disconnected' after the device went away", () => rec.errors.some((e) => e.at >= awayAt) && transitions(rec, awayAt).includes('disconnected'), 20_000);
          expectCodedErrors(rec);
          const backAt = Date.now();
          await d.deviceUp();
          await until('a good scan after the device came back', () => rec.scans.some((s) => s.at >= backAt && hasGoodReading(s.readings)), 30_000);
          expect(transitions(rec).at(-1)).toBe('connected');
          expectConnectedOnlyAfterConnecting(rec);
          expectWellFormedScans(rec, d.points);
        });
      });
    } else {
      it('keeps listening when its device goes away, and reads it again once it is back', async () => {
        await withDriver(subject, async (d, rec) => {
          await d.driver.start();
          await d.deviceUp();
          await until('a good scan', () => rec.scans.some((s) => hasGoodReading(s.readings)), 30_000);
          const awayAt = Date.now();
          await d.deviceDown();
          await new Promise((r) => setTimeout(r, Math.max(500, 2 * subject.scanIntervalMs)));
          expect(transitions(rec, awayAt)).toEqual([]);
          const backAt = Date.now();
          await d.deviceUp();
          await until('a good scan after the device came back', () => rec.scans.some((s) => s.at >= backAt && hasGoodReading(s.readings)), 30_000);
          expect(transitions(rec)).toEqual(['connecting', 'connected']);
          expectCodedErrors(rec);
          expectWellFormedScans(rec, d.points);
        });
      });
    }
  });
}
