/**
 * HJ 212 hourly (2061) and daily (2031) uploads end to end: two days of minute readings through the embedded broker
 * into the uplink, to the test platform over loopback. What a regulator relies on: each hour and each day (Beijing
 * time) arrives once, in the order they closed (the 23:00 hour before its day), with Min/Avg/Max of the readings in it
 * and Cou the amount discharged, the day's Cou the sum of its hours'.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { encodeBatch, type BatchReading } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { parseUplinkConfig } from '../../../uplink/config.ts';
import { intervalQn, startHj212Uplink } from '../../../uplink/hj212-uplink.ts';
import { freePort } from '../../harness/ports.ts';
import { until } from '../../harness/wait.ts';
import { startTestPlatform } from './platform.ts';

const CST = 480;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** 2024-05-01 00:00 China Standard Time: days are aligned to Beijing midnight. */
const T0 = Date.UTC(2024, 3, 30, 16, 0, 0);
const HOURS = 48;
const MN = 'UPLINKHOURLY000000000001';

/** COD (mg/L) at minute m of hour h, and the hour's flow (m3/h): distinct per hour, so a mix-up shows. */
const cod = (h: number, m: number): number => 30 + h + m / 10;
const flowM3h = (h: number): number => 360 + 36 * h;

/** Readings of minute m of hour h: the COD and the flow at the minute's start, so each holds for the whole minute. */
function hourReadings(h: number): BatchReading[] {
  const readings: BatchReading[] = [];
  for (let m = 0; m < 60; m++) {
    const ts = T0 + h * HOUR + m * 60_000;
    readings.push({ meter: 'outfall-1-cod', quantity: 'cod', value: cod(h, m), unit: 'mg/L', ts, quality: 'good' });
    readings.push({ meter: 'outfall-1-flow', quantity: 'wastewater_flow', value: flowM3h(h), unit: 'm3/h', ts, quality: 'good' });
  }
  return readings;
}

/** What the hour's packet must say: COD in mg/L and its load in kg, flow in L/s and its volume in m3. */
function expectedHour(h: number) {
  const cods = Array.from({ length: 60 }, (_, m) => cod(h, m));
  const minuteM3 = flowM3h(h) / 60;
  return {
    cod: { Min: Math.min(...cods), Avg: cods.reduce((a, b) => a + b) / 60, Max: Math.max(...cods), Cou: cods.reduce((sum, c) => sum + (minuteM3 * c) / 1000, 0) },
    flow: { Avg: flowM3h(h) / 3.6, Cou: flowM3h(h) },
  };
}

describe('HJ 212 uplink: hourly and daily data', () => {
  let broker: RunningBroker;
  let workDir: string;

  beforeAll(async () => {
    broker = await startBroker();
    workDir = mkdtempSync(path.join(tmpdir(), 'cs-hj212-hourly-'));
  });
  afterAll(async () => {
    await broker?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('sends every hour (2061) and every day (2031) once, in the order they close, with the statistics of their readings', async () => {
    const platform = await startTestPlatform(await freePort());
    const uplink = await startHj212Uplink(
      parseUplinkConfig('test uplink', {
        id: 'uplink-hourly',
        mqtt: { url: broker.url },
        platform: { host: '127.0.0.1', port: platform.port },
        latenessMs: 0,
        send: { minute: false, hourly: true, daily: true },
        outbox: { dir: path.join(workDir, 'outbox') },
        stations: [{ plant: 'paper-01', mn: MN, pw: '123456', st: '32', pollutants: [{ code: 'w01018', meter: 'outfall-1-cod' }, { code: 'w00000', meter: 'outfall-1-flow' }] }],
      }),
      { logger: pino({ level: 'silent' }) },
    );
    const feeder = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    try {
      for (let h = 0; h < HOURS; h++) {
        await feeder.publishAsync(topics.readings('paper-01', 'gw-feed'), encodeBatch({ v: 1, gateway: 'gw-feed', plant: 'paper-01', seq: h, sentAt: Date.now(), readings: hourReadings(h) }), { qos: 1 });
      }
      // a reading at the start of the third day closes the second day
      const closing: BatchReading[] = [{ meter: 'outfall-1-cod', quantity: 'cod', value: 1, unit: 'mg/L', ts: T0 + 2 * DAY, quality: 'good' }];
      await feeder.publishAsync(topics.readings('paper-01', 'gw-feed'), encodeBatch({ v: 1, gateway: 'gw-feed', plant: 'paper-01', seq: HOURS, sentAt: Date.now(), readings: closing }), { qos: 1 });
      await until('48 hours and 2 days acknowledged', () => uplink.stats().stations[0]?.acknowledged === HOURS + 2, 20_000);
      expect(platform.errors).toEqual([]);

      // in closing order: hours 00-23 of day 1, day 1, hours of day 2, day 2; nothing else, nothing twice
      const expectedQns = [
        ...Array.from({ length: 24 }, (_, h) => intervalQn(T0 + h * HOUR, '2061', CST)),
        intervalQn(T0, '2031', CST),
        ...Array.from({ length: 24 }, (_, h) => intervalQn(T0 + (24 + h) * HOUR, '2061', CST)),
        intervalQn(T0 + DAY, '2031', CST),
      ];
      expect(platform.received.map((p) => p.qn)).toEqual(expectedQns);
      expect(expectedQns[0]).toBe('20240501000000061');
      expect(expectedQns[24]).toBe('20240501000000031');

      for (const p of platform.received) {
        expect(p).toMatchObject({ mn: MN, pw: '123456', st: '32', flag: { raw: 5 } });
      }
      const hours = platform.received.filter((p) => p.cn === '2061');
      for (let h = 0; h < HOURS; h++) {
        const packet = hours[h]!;
        const want = expectedHour(h);
        expect(packet.data.dataTime).toBe(T0 + h * HOUR);
        const c = packet.data.pollutants.get('w01018')!;
        expect(c.flag).toBe('N');
        expect(c.values.Min).toBeCloseTo(want.cod.Min, 4);
        expect(c.values.Avg).toBeCloseTo(want.cod.Avg, 4);
        expect(c.values.Max).toBeCloseTo(want.cod.Max, 4);
        expect(c.values.Cou).toBeCloseTo(want.cod.Cou, 3);
        const f = packet.data.pollutants.get('w00000')!;
        expect(f.values.Avg).toBeCloseTo(want.flow.Avg, 3);
        expect(f.values.Cou).toBeCloseTo(want.flow.Cou, 3);
      }
      // by hand for hour 0: 360 m3 at 30.0 ... 35.9 mg/L (mean 32.95) = 11.862 kg of COD
      expect(hours[0]!.data.pollutants.get('w01018')!.values.Cou).toBeCloseTo(11.862, 3);

      const days = platform.received.filter((p) => p.cn === '2031');
      for (const [d, packet] of days.entries()) {
        const hoursOfDay = Array.from({ length: 24 }, (_, i) => expectedHour(d * 24 + i));
        const cods = Array.from({ length: 24 * 60 }, (_, i) => cod(d * 24 + Math.floor(i / 60), i % 60));
        expect(packet.data.dataTime).toBe(T0 + d * DAY);
        const c = packet.data.pollutants.get('w01018')!;
        expect(c.flag).toBe('N');
        expect(c.values.Min).toBeCloseTo(Math.min(...cods), 4);
        expect(c.values.Max).toBeCloseTo(Math.max(...cods), 4);
        expect(c.values.Avg).toBeCloseTo(cods.reduce((a, b) => a + b) / cods.length, 4);
        expect(c.values.Cou).toBeCloseTo(hoursOfDay.reduce((sum, x) => sum + x.cod.Cou, 0), 2);
        expect(packet.data.pollutants.get('w00000')!.values.Cou).toBeCloseTo(hoursOfDay.reduce((sum, x) => sum + x.flow.Cou, 0), 2);
      }
    } finally {
      await feeder.endAsync();
      await uplink.stop();
      await platform.stop();
    }
  }, 40_000);
});
