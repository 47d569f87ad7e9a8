/**
 * The broker is unreachable when the gateway starts, then refuses it for a while: scans are kept in the disk queue, in order, and delivered once the
 * broker is up; flush() resolves only when all of them are acknowledged. Then the fault test: the broker
 * goes down for 30 s in the middle of a stream and comes back. What users rely on: a broker outage costs latency,
 * not readings, while the gateway keeps running, and each meter's readings arrive in the order they were taken.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { startBroker } from '../../../bus/broker.ts';
import { freePort } from '../../harness/ports.ts';
import { decodeBatch, type BatchReading, type ReadingBatch } from '../../../core/reading.ts';
import type { InputStats } from '../../../gateway/health.ts';
import { topics } from '../../../bus/topics.ts';
import { parseGatewayConfig } from '../../../gateway/config.ts';
import { startGateway } from '../../../gateway/main.ts';
import { startTestModbusServer } from './servers.ts';
import { until } from '../../harness/wait.ts';

const POLL_MS = 100;
const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const workDir = mkdtempSync(path.join(tmpdir(), 'cs-gw-outage-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** "A few percent": what a user reading the plant's figures accepts as ticks without a value on a loaded machine. */
const FEW = 0.03;

/**
 * The Modbus device never goes away in these tests, and the broker's state must not change what is read. A bad
 * reading (value-less, quality bad) is allowed only where the driver says why: a poll that timed out on a loaded
 * machine, reported as an input error (MODBUS_REQUEST, one per failed request). The one exception is a tick that
 * comes before the driver's first connection to the device is open (it polls on the interval from the start):
 * such ticks are bad without an error of their own, and only before the first good reading. So: every bad reading is
 * value-less, those after the first good reading are no more than the input reported errors, and all of them are at
 * most a few percent of the readings.
 */
function expectFewBadReadings(readings: BatchReading[], input: InputStats): void {
  const bad = readings.filter((r) => r.quality !== 'good');
  expect(bad.every((r) => r.quality === 'bad' && r.value === null), JSON.stringify(bad)).toBe(true);
  const firstGood = readings.findIndex((r) => r.quality === 'good');
  const badOnceConnected = readings.slice(firstGood).filter((r) => r.quality !== 'good').length;
  expect(badOnceConnected, `bad readings once connected against ${input.errors} reported input errors`).toBeLessThanOrEqual(input.errors);
  expect(bad.length, `bad readings of ${readings.length}`).toBeLessThanOrEqual(Math.ceil(FEW * readings.length));
}

describe('gateway while the broker is down', () => {
  it('keeps every batch in order and delivers them once the broker is up', async () => {
    const modbusPort = await freePort();
    const mqttPort = await freePort();
    const device = await startTestModbusServer({ port: modbusPort, holding: new Map([[1, new Map([[0, 42], [1, 43]])]]), input: new Map() });
    const gateway = await startGateway(
      parseGatewayConfig('test gw-outage', {
        id: 'gw-outage',
        mqtt: { url: `mqtt://127.0.0.1:${mqttPort}` },
        dataDir: path.join(workDir, 'gw'),
        inputs: [{ type: 'modbus', host: '127.0.0.1', port: modbusPort, pollIntervalMs: POLL_MS, registers: [{ plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', unit: 'mg/L', area: 'holding', address: 0, type: 'uint16' }] }],
      }),
      { logger },
    );
    await until('scans while no broker listens', () => gateway.stats().inputs[0]!.scans >= 4, 5_000);
    // Then a broker that refuses the gateway (CONNACK "not authorized") until the observer is subscribed, so that nothing is delivered before anyone listens.
    let observerReady = false;
    let refusals = 0;
    const broker = await startBroker({
      port: mqttPort,
      aedes: {
        authenticate: (client, _u, _p, done) => {
          const accept = observerReady || client.id === 'observer';
          if (!accept) refusals++;
          done(null, accept);
        },
      },
    });
    const received: ReadingBatch[] = [];
    const observer = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: 'observer' });
    try {
      observer.on('message', (_topic, payload) => received.push(decodeBatch(payload)));
      await observer.subscribeAsync(topics.readingsFilter(), { qos: 1 });

      await until('the broker refusing the gateway', () => refusals >= 1, 5_000);
      await until('a backlog of scans', () => gateway.stats().inputs[0]!.scans >= 8, 5_000);
      expect(gateway.stats().publisher).toMatchObject({ connected: false, batchesPublished: 0 });
      expect(gateway.stats().publisher.queuedBatches).toBeGreaterThanOrEqual(8);

      observerReady = true;
      await gateway.flush(15_000);
      const handedOver = gateway.stats().publisher.nextSeq;
      await until('every acknowledged batch at the observer', () => received.length >= handedOver, 3_000);
      await gateway.stop();

      // Nothing lost, nothing duplicated, in the order the scans were made.
      expect(received.slice(0, handedOver).map((b) => b.seq)).toEqual(Array.from({ length: handedOver }, (_, i) => i));
      const stamps = received.map((b) => b.readings[0]!.ts);
      expect(stamps).toEqual([...stamps].sort((a, b) => a - b));
      // The device is up the whole time: every value read is the register's, and bad readings are within what
      // expectFewBadReadings allows (the broker's absence makes none of them).
      const readings = received.map((b) => b.readings[0]!);
      expect(readings.filter((r) => r.quality === 'good').every((r) => r.value === 42)).toBe(true);
      expectFewBadReadings(readings, gateway.stats().inputs[0]!);
      expect(gateway.stats().publisher.publishErrors).toBe(0);
    } finally {
      await gateway.stop();
      await observer.endAsync();
      await broker.stop();
      await device.stop();
    }
  });
});

const OUTAGE_MS = 30_000;

describe('gateway when the broker goes down for 30 s mid-stream', () => {
  it('loses nothing and keeps every meter in order', async () => {
    const modbusPort = await freePort();
    const mqttPort = await freePort();
    const device = await startTestModbusServer({ port: modbusPort, holding: new Map([[1, new Map([[0, 42], [1, 7]])]]), input: new Map() });
    const received: ReadingBatch[] = [];
    const observe = async (url: string) => {
      const observer = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'observer', reconnectPeriod: 0 });
      observer.on('message', (_topic, payload) => received.push(decodeBatch(payload)));
      await observer.subscribeAsync(topics.readingsFilter(), { qos: 1 });
      return observer;
    };
    let broker = await startBroker({ port: mqttPort });
    let observer = await observe(broker.url);
    const register = { plant: 'paper-01', quantity: 'cod', unit: 'mg/L', area: 'holding', type: 'uint16' } as const;
    const gateway = await startGateway(
      parseGatewayConfig('test gw-outage-30s', {
        id: 'gw-outage-30s',
        mqtt: { url: broker.url },
        dataDir: path.join(workDir, 'gw-30s'),
        health: { intervalMs: 0 },
        // Backoff capped at 1 s so the replay starts soon after the broker is back (the default cap is 30 s).
        publish: { reconnect: { initialMs: 200, maxMs: 1_000 } },
        inputs: [{ type: 'modbus', host: '127.0.0.1', port: modbusPort, pollIntervalMs: POLL_MS, registers: [{ ...register, meter: 'outfall-1-cod', address: 0 }, { ...register, meter: 'outfall-2-cod', address: 1 }] }],
      }),
      { logger },
    );
    let observerReady = false;
    try {
      await until('batches flowing before the outage', () => received.length >= 10, 10_000);

      await observer.endAsync(true);
      await broker.stop();
      const downAt = Date.now();
      const scansAtDown = gateway.stats().inputs[0]!.scans;
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      expect(gateway.stats().publisher.connected).toBe(false);
      // The gateway kept reading meters the whole time (a tick every 100 ms; some slack for a loaded machine).
      expect(gateway.stats().inputs[0]!.scans - scansAtDown).toBeGreaterThan((0.8 * OUTAGE_MS) / POLL_MS);

      // The broker comes back (empty: aedes keeps nothing across a restart) and lets the gateway in only once the
      // observer has subscribed again, so that what the gateway replays has someone to go to.
      broker = await startBroker({
        port: mqttPort,
        aedes: { authenticate: (client, _u, _p, done) => done(null, client.id === 'observer' || observerReady) },
      });
      observer = await observe(broker.url);
      observerReady = true;
      await gateway.flush(30_000);
      const upAfterMs = Date.now() - downAt;
      const handedOver = gateway.stats().publisher.nextSeq;
      const firstArrivals = () => [...new Map(received.map((b) => [b.seq, b])).values()];
      await until('every acknowledged batch at the observer', () => firstArrivals().length >= handedOver, 5_000);
      await gateway.stop();

      // Nothing lost: every batch handed to the publisher reached the observer, first arrivals in seq order (a batch
      // in flight when the broker died may arrive twice: at-least-once).
      expect(upAfterMs).toBeGreaterThanOrEqual(OUTAGE_MS);
      expect(firstArrivals().map((b) => b.seq)).toEqual(Array.from({ length: handedOver }, (_, i) => i));
      // Order kept per meter: each meter's readings strictly in time order, every tick there except ticks the driver
      // itself reported as not polled (a loaded machine), and the values right.
      const inputErrors = gateway.stats().inputs[0]!.errors;
      for (const meter of ['outfall-1-cod', 'outfall-2-cod']) {
        const readings = firstArrivals().flatMap((b) => b.readings.filter((r) => r.meter === meter));
        const stamps = readings.map((r) => r.ts);
        let missingTicks = 0;
        let gaps = 0;
        for (let i = 1; i < stamps.length; i++) {
          const gap = stamps[i]! - stamps[i - 1]!;
          expect(gap).toBeGreaterThan(0);
          expect(gap % POLL_MS).toBe(0);
          if (gap > POLL_MS) gaps++;
          missingTicks += gap / POLL_MS - 1;
        }
        // Ticks missing downstream are ones the driver reported as not polled, never ones lost on the way: each run of
        // them is an input error (MODBUS_TICKS_MISSED names how many ticks a late timer let pass, one error for the
        // run; MODBUS_POLL_OVERRUN one per tick). And they are a few, not a share of the outage.
        expect(gaps, `${gaps} runs of missing ticks against ${inputErrors} input errors`).toBeLessThanOrEqual(inputErrors);
        expect(missingTicks, `${missingTicks} ticks missing of ${stamps.length}`).toBeLessThanOrEqual(Math.ceil(FEW * stamps.length));
        expect(stamps.length).toBeGreaterThan(OUTAGE_MS / POLL_MS);
        // The device is up the whole time: every value read is the register's, bad readings as expectFewBadReadings allows.
        expect(readings.filter((r) => r.quality === 'good').every((r) => r.value === (meter === 'outfall-1-cod' ? 42 : 7))).toBe(true);
        expectFewBadReadings(readings, gateway.stats().inputs[0]!);
      }
    } finally {
      await gateway.stop();
      await observer.endAsync(true);
      await broker.stop();
      await device.stop();
    }
  });
});
