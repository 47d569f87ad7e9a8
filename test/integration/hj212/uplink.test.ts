/**
 * HJ 212 uplink against a test platform over loopback, readings fed through the embedded broker. What a plant relies
 * on: every minute of its data reaches the regulator exactly once and in order, with the right statistics, although
 * the platform is down at first, then drops the connection mid-stream and ignores packets (forcing OverTime resends).
 * Event time comes from the readings' timestamps, so twenty minutes of data pass in about a second.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client as AedesClient } from 'aedes';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { encodeBatch, type BatchReading, type ReadingBatch } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { parseHj212Time } from '../../../protocols/hj212/time.ts';
import { parseUplinkConfig } from '../../../uplink/config.ts';
import { intervalQn, startHj212Uplink, type UplinkStats } from '../../../uplink/hj212-uplink.ts';
import { startCli, type CliProcess } from '../../harness/cli.ts';
import { tempConfigFile } from '../../harness/config-files.ts';
import { freePort } from '../../harness/ports.ts';
import { startTestPlatform, type TestPlatform } from './platform.ts';
import { until } from '../../harness/wait.ts';

const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const CST = 480;
/** 2024-05-01 08:00 China Standard Time. */
const T0 = Date.UTC(2024, 4, 1, 0, 0, 0);
const MINUTES = 20;
const MN = 'UPLINKTEST00000000000001';


/** COD (mg/L) and flow (m3/h) of the k-th 10-second reading of minute m: distinct per minute, so a mix-up shows. */
const cod = (m: number, k: number): number => 40 + m + 0.5 * k;
const flowM3h = (m: number, k: number): number => 360 + 3.6 * m + 36 * k;

function minuteBatch(m: number, seq: number): ReadingBatch {
  const readings: BatchReading[] = [];
  for (let k = 0; k < 6; k++) {
    const ts = T0 + m * 60_000 + k * 10_000;
    readings.push({ meter: 'outfall-1-cod', quantity: 'cod', value: cod(m, k), unit: 'mg/L', ts, quality: 'good' });
    readings.push({ meter: 'outfall-1-flow', quantity: 'wastewater_flow', value: flowM3h(m, k), unit: 'm3/h', ts, quality: 'good' });
  }
  // An uncertain reading (calibration) in a minute with good ones: not averaged.
  readings.push({ meter: 'outfall-1-cod', quantity: 'cod', value: 999, unit: 'mg/L', ts: T0 + m * 60_000 + 55_000, quality: 'uncertain' });
  // A meter the station does not report: ignored.
  readings.push({ meter: 'main-power', quantity: 'active_power', value: 1, unit: 'kW', ts: T0 + m * 60_000, quality: 'good' });
  return { v: 1, gateway: 'gw-feed', plant: 'paper-01', seq, sentAt: Date.now(), readings };
}

/** A station reporting COD and flow of a plant's outfall. */
const station = (plant: string, mn: string) => ({ plant, mn, pw: '123456', st: '32', pollutants: [{ code: 'w01018', meter: 'outfall-1-cod' }, { code: 'w00000', meter: 'outfall-1-flow' }] });

/**
 * An uplink of one station sending minute data only. No timed checkpoint within a test: what survives a stop or a
 * crash is what the checkpoints at stop and after each closed minute hold.
 */
function minuteUplink(id: string, mqttOptions: { url: string; clientId?: string }, platformPort: number, outboxDir: string, plant: string, mn: string) {
  return {
    id,
    mqtt: mqttOptions,
    platform: { host: '127.0.0.1', port: platformPort },
    overTimeMs: 1000,
    latenessMs: 0,
    send: { minute: true, hourly: false, daily: false },
    checkpointIntervalMs: 600_000,
    reconnect: { initialMs: 50, maxMs: 200 },
    outbox: { dir: outboxDir },
    stations: [station(plant, mn)],
  };
}

describe('HJ 212 uplink: minute data to a platform that fails', () => {
  let broker: RunningBroker;
  let workDir: string;

  beforeAll(async () => {
    broker = await startBroker();
    workDir = mkdtempSync(path.join(tmpdir(), 'cs-hj212-uplink-'));
  });
  afterAll(async () => {
    await broker?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('delivers every minute exactly once, in order, through an outage, dropped connections and ignored packets', async () => {
    const platformPort = await freePort();
    const config = parseUplinkConfig('test uplink', {
      id: 'uplink-test',
      mqtt: { url: broker.url },
      platform: { host: '127.0.0.1', port: platformPort },
      overTimeMs: 250,
      reCount: 2,
      latenessMs: 0,
      reconnect: { initialMs: 50, maxMs: 200 },
      outbox: { dir: path.join(workDir, 'outbox') },
      stations: [
        {
          plant: 'paper-01',
          mn: MN,
          pw: '123456',
          st: '32',
          pollutants: [
            { code: 'w01018', meter: 'outfall-1-cod' },
            { code: 'w00000', meter: 'outfall-1-flow' },
          ],
        },
      ],
    });
    const errors: string[] = [];
    const uplink = await startHj212Uplink(config, { logger, onError: (err) => errors.push(err.code) });
    const feeder = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    let platform: TestPlatform | undefined;
    try {
      // The platform is down while the first minutes close: they wait in the outbox.
      for (let m = 0; m < 6; m++) await feeder.publishAsync(topics.readings('paper-01', 'gw-feed'), encodeBatch(minuteBatch(m, m)), { qos: 1 });
      await until('the first closed minutes in the outbox', () => (uplink.stats().stations[0]?.intervals ?? 0) >= 5, 5000);
      expect(uplink.stats().stations[0]!.acknowledged).toBe(0);

      // Then it comes up, drops the connection instead of answering packets 3 and 11, ignores 7 (one resend), and ignores
      // 15 to 17 (ReCount exhausted: the uplink drops the connection itself and resends after reconnecting).
      platform = await startTestPlatform(platformPort, (n) => (n === 3 || n === 11 ? 'drop' : n === 7 || (n >= 15 && n <= 17) ? 'ignore' : 'answer'));
      for (let m = 6; m < MINUTES; m++) {
        await feeder.publishAsync(topics.readings('paper-01', 'gw-feed'), encodeBatch(minuteBatch(m, m)), { qos: 1 });
        await new Promise((r) => setTimeout(r, 30));
      }
      // A reading at the start of minute 20 moves event time past the end of minute 19.
      const closing: ReadingBatch = { v: 1, gateway: 'gw-feed', plant: 'paper-01', seq: MINUTES, sentAt: Date.now(), readings: [{ meter: 'outfall-1-cod', quantity: 'cod', value: 1, unit: 'mg/L', ts: T0 + MINUTES * 60_000, quality: 'good' }] };
      await feeder.publishAsync(topics.readings('paper-01', 'gw-feed'), encodeBatch(closing), { qos: 1 });

      await until('every minute acknowledged', () => uplink.stats().stations[0]?.acknowledged === MINUTES, 20_000);
      const minutes = platform.received.filter((p) => p.cn === '2051');
      expect(platform.errors).toEqual([]);

      // The disruptions happened: reconnections after the drops, and resends of the same QN.
      expect(platform.connections).toBeGreaterThanOrEqual(3);
      expect(minutes.length).toBeGreaterThan(MINUTES);
      const stats = uplink.stats().stations[0]!;
      expect(stats.resends).toBeGreaterThanOrEqual(2);
      expect(stats.queued).toBe(0);

      // Each minute once (a resend carries the QN it had, so it counts once), in order of first arrival.
      const firstArrival: string[] = [];
      for (const p of minutes) if (!firstArrival.includes(p.qn!)) firstArrival.push(p.qn!);
      const expectedQns = Array.from({ length: MINUTES }, (_, m) => intervalQn(T0 + m * 60_000, '2051', CST));
      expect(firstArrival).toEqual(expectedQns);

      for (let m = 0; m < MINUTES; m++) {
        const packet = minutes.find((p) => p.qn === expectedQns[m])!;
        expect(packet.mn).toBe(MN);
        expect(packet.pw).toBe('123456');
        expect(packet.st).toBe('32');
        expect(packet.flag?.raw).toBe(5);
        expect(packet.data.dataTime).toBe(T0 + m * 60_000);
        expect(parseHj212Time(packet.qn!.slice(0, 14), 'QN')).toBe(T0 + m * 60_000);
        const c = packet.data.pollutants.get('w01018')!;
        const codValues = [0, 1, 2, 3, 4, 5].map((k) => cod(m, k));
        expect(c.values.Avg).toBeCloseTo(codValues.reduce((a, b) => a + b) / 6, 4);
        expect(c.values.Min).toBe(Math.min(...codValues));
        expect(c.values.Max).toBe(Math.max(...codValues));
        expect(c.flag).toBe('N');
        // COD load: each 10-second flow sample's volume (m3) × the COD sampled with it (mg/L = g/m3), in kg.
        const loadKg = [0, 1, 2, 3, 4, 5].reduce((sum, k) => sum + ((flowM3h(m, k) / 3600) * 10 * cod(m, k)) / 1000, 0);
        expect(c.values.Cou).toBeCloseTo(loadKg, 3);
        const f = packet.data.pollutants.get('w00000')!;
        // m3/h -> L/s (÷ 3.6); Cou = mean flow × 60 s, in m3.
        const flowLs = [0, 1, 2, 3, 4, 5].map((k) => flowM3h(m, k) / 3.6);
        const meanLs = flowLs.reduce((a, b) => a + b) / 6;
        expect(f.values.Avg).toBeCloseTo(meanLs, 3);
        expect(f.values.Min).toBeCloseTo(Math.min(...flowLs), 3);
        expect(f.values.Max).toBeCloseTo(Math.max(...flowLs), 3);
        expect(f.values.Cou).toBeCloseTo((meanLs * 60) / 1000, 3);
        expect(f.flag).toBe('N');
      }
      // By hand for minute 0: volumes 1.0, 1.1, ..., 1.5 m3 (7.5 m3) at 40, 40.5, ..., 42.5 mg/L = 310.25 g.
      const minute0 = minutes.find((p) => p.qn === expectedQns[0])!.data.pollutants;
      expect(minute0.get('w00000')!.values.Cou).toBeCloseTo(7.5, 4);
      expect(minute0.get('w01018')!.values.Cou).toBeCloseTo(0.31025, 3);
      expect(errors).toContain('UPLINK_CONNECT');
      expect(errors).toContain('UPLINK_NO_ANSWER');
    } finally {
      await feeder.endAsync();
      await uplink.stop();
      await platform?.stop();
    }
  });

  it('ignores and counts a batch stamped in the future, so the regulator never receives a reading from 2200', async () => {
    const platform = await startTestPlatform(await freePort());
    const config = parseUplinkConfig('test uplink', minuteUplink('uplink-future', { url: broker.url }, platform.port, path.join(workDir, 'future'), 'paper-03', 'UPLINKTEST00000000000003'));
    const feeder = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    const uplink = await startHj212Uplink(config, { logger });
    const publish = (seq: number, ts: number): Promise<unknown> =>
      feeder.publishAsync(topics.readings('paper-03', 'gw-feed'), encodeBatch({ v: 1, gateway: 'gw-feed', plant: 'paper-03', seq, sentAt: Date.now(), readings: [{ meter: 'outfall-1-cod', quantity: 'cod', value: 50, unit: 'mg/L', ts, quality: 'good' }] }), { qos: 1 });
    try {
      await publish(0, Date.UTC(2200, 0, 1));
      await publish(1, T0);
      await until('both batches seen', () => uplink.stats().readings === 1, 5000);
      expect(uplink.stats().rejectedMessages).toBe(1);
    } finally {
      await feeder.endAsync();
      await uplink.stop();
      await platform.stop();
    }
  });

  it('keeps a minute\'s readings across a restart of the uplink, and reports a minute without readings as flag B', async () => {
    const platform = await startTestPlatform(await freePort());
    const mn = 'UPLINKTEST00000000000002';
    const outbox = path.join(workDir, 'restart');
    const config = parseUplinkConfig('test uplink', minuteUplink('uplink-restart', { url: broker.url }, platform.port, outbox, 'paper-02', mn));
    const feeder = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    const publish = (seq: number, m: number, ks: number[]): Promise<unknown> => {
      const readings: BatchReading[] = ks.flatMap((k) => [
        { meter: 'outfall-1-cod', quantity: 'cod', value: cod(m, k), unit: 'mg/L', ts: T0 + m * 60_000 + k * 10_000, quality: 'good' },
        { meter: 'outfall-1-flow', quantity: 'wastewater_flow', value: flowM3h(m, k), unit: 'm3/h', ts: T0 + m * 60_000 + k * 10_000, quality: 'good' },
      ]);
      return feeder.publishAsync(topics.readings('paper-02', 'gw-feed'), encodeBatch({ v: 1, gateway: 'gw-feed', plant: 'paper-02', seq, sentAt: Date.now(), readings }), { qos: 1 });
    };
    let uplink = await startHj212Uplink(config, { logger });
    try {
      // The first half of minute 0, then a stop: the minute is still open.
      await publish(0, 0, [0, 1, 2]);
      await until('the first half of minute 0 counted', () => uplink.stats().readings === 6, 5000);
      await uplink.stop();
      expect(existsSync(path.join(outbox, mn, 'state.json'))).toBe(true);
      expect(platform.received).toEqual([]);

      // The second half arrives while the uplink is down (the broker keeps it for the uplink's session); then nothing
      // at all in minute 1, readings in minute 2, and one at the start of minute 3 to close minute 2.
      await publish(1, 0, [3, 4, 5]);
      await publish(2, 2, [0, 1, 2, 3, 4, 5]);
      await publish(3, 3, [0]);
      uplink = await startHj212Uplink(config, { logger });
      await until('minutes 0 to 2 acknowledged', () => uplink.stats().stations[0]?.acknowledged === 3, 10_000);

      const qns = platform.received.map((p) => p.qn);
      expect(qns).toEqual([0, 1, 2].map((m) => intervalQn(T0 + m * 60_000, '2051', CST)));
      const [minute0, minute1, minute2] = platform.received.map((p) => p.data.pollutants);

      // Minute 0 has its six readings once each: three from before the restart, three from after.
      const codValues = [0, 1, 2, 3, 4, 5].map((k) => cod(0, k));
      expect(minute0!.get('w01018')!.values.Avg).toBeCloseTo(codValues.reduce((a, b) => a + b) / 6, 4);
      expect(minute0!.get('w01018')!.values.Min).toBe(cod(0, 0));
      expect(minute0!.get('w01018')!.values.Max).toBe(cod(0, 5));
      expect(minute0!.get('w00000')!.values.Cou).toBeCloseTo(7.5, 4);
      expect(minute0!.get('w01018')!.values.Cou).toBeCloseTo(0.31025, 3);

      // Minute 1: no readings at all; both codes sent with empty values and flag B (communication failure).
      for (const code of ['w00000', 'w01018']) {
        const p = minute1!.get(code)!;
        expect(p.flag).toBe('B');
        expect(p.values).toEqual({ Min: null, Avg: null, Max: null });
      }
      expect(minute2!.get('w01018')!.values.Avg).toBeCloseTo([0, 1, 2, 3, 4, 5].reduce((a, k) => a + cod(2, k), 0) / 6, 4);
      expect(minute2!.get('w01018')!.flag).toBe('N');
      expect(uplink.stats().stations[0]!.lateReadings).toBe(0);
      // every frame the uplink sent passed a length and CRC check written from the standard, not from our codec
      expect(platform.errors).toEqual([]);
    } finally {
      await feeder.endAsync();
      await uplink.stop();
      await platform.stop();
    }
  });

  describe('acknowledges a message to the broker only once a checkpoint holds it', () => {
    /** One message per 10-second reading of COD and flow. */
    const reading = (plant: string, seq: number, m: number, k: number): Buffer => {
      const ts = T0 + m * 60_000 + k * 10_000;
      return encodeBatch({
        v: 1,
        gateway: 'gw-feed',
        plant,
        seq,
        sentAt: 1_700_000_000_000 + seq,
        readings: [
          { meter: 'outfall-1-cod', quantity: 'cod', value: cod(m, k), unit: 'mg/L', ts, quality: 'good' },
          { meter: 'outfall-1-flow', quantity: 'wastewater_flow', value: flowM3h(m, k), unit: 'm3/h', ts, quality: 'good' },
        ],
      });
    };
    const expectWholeMinute = (packet: { data: { pollutants: Map<string, { values: Record<string, number | null | undefined> }> } }, m: number): void => {
      const codValues = [0, 1, 2, 3, 4, 5].map((k) => cod(m, k));
      const c = packet.data.pollutants.get('w01018')!.values;
      expect(c.Avg).toBeCloseTo(codValues.reduce((a, b) => a + b) / 6, 4);
      expect([c.Min, c.Max]).toEqual([Math.min(...codValues), Math.max(...codValues)]);
      const loadKg = [0, 1, 2, 3, 4, 5].reduce((sum, k) => sum + ((flowM3h(m, k) / 3600) * 10 * cod(m, k)) / 1000, 0);
      expect(c.Cou).toBeCloseTo(loadKg, 3);
    };

    it('a crash (SIGKILL) loses no reading: the broker delivers again what the checkpoint did not hold', async () => {
      const platform = await startTestPlatform(await freePort());
      const mn = 'UPLINKTEST00000000000003';
      // the only checkpoint before the crash is the one after minute 0 goes into the outbox
      const configFile = tempConfigFile('uplink.yaml', JSON.stringify(minuteUplink('uplink-crash', { url: broker.url }, platform.port, path.join(workDir, 'crash'), 'paper-03', mn)));
      const feeder = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
      const send = (seq: number, m: number, k: number): Promise<unknown> => feeder.publishAsync(topics.readings('paper-03', 'gw-feed'), reading('paper-03', seq, m, k), { qos: 1 });
      let uplink = startUplinkProcess(configFile);
      try {
        await until('the uplink started', () => uplink.stats.length > 0, 15_000);
        // minute 0, closed by the first reading of minute 1: in the outbox, checkpointed, sent
        for (let k = 0; k < 6; k++) await send(k, 0, k);
        await send(6, 1, 0);
        await until('minute 0 at the platform', () => platform.received.length === 1, 10_000);
        await until('minute 0 acknowledged by the platform and to the broker', () => {
          const last = uplink.stats.at(-1)!;
          return last.stations[0]!.acknowledged === 1 && last.unackedMessages === 0;
        });
        // the rest of minute 1: counted, not yet in a checkpoint, so not acknowledged to the broker
        for (let k = 1; k < 6; k++) await send(6 + k, 1, k);
        await until('the rest of minute 1 counted', () => uplink.stats.at(-1)!.readings === 24);
        expect(uplink.stats.at(-1)!.unackedMessages).toBe(5);
        uplink.proc.kill('SIGKILL');
        await uplink.exited;

        uplink = startUplinkProcess(configFile);
        await until('the restarted uplink counted what it was given again', () => uplink.stats.at(-1)?.readings === 10, 15_000);
        await send(12, 2, 0);
        await until('minute 1 at the platform', () => platform.received.length === 2, 10_000);
        expect(platform.received.map((p) => p.qn)).toEqual([0, 1].map((m) => intervalQn(T0 + m * 60_000, '2051', CST)));
        expectWholeMinute(platform.received[1]!, 1);
      } finally {
        uplink.proc.kill('SIGTERM');
        await uplink.exited;
        await feeder.endAsync();
        await platform.stop();
      }
    });

    it('a dropped connection: what the broker delivers again is recognised and not counted twice', async () => {
      const platform = await startTestPlatform(await freePort());
      const clientId = 'uplink-reconnect-test';
      const config = parseUplinkConfig('test uplink', minuteUplink('uplink-reconnect', { url: broker.url, clientId }, platform.port, path.join(workDir, 'reconnect'), 'paper-04', 'UPLINKTEST00000000000004'));
      const feeder = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
      const send = (seq: number, m: number, k: number): Promise<unknown> => feeder.publishAsync(topics.readings('paper-04', 'gw-feed'), reading('paper-04', seq, m, k), { qos: 1 });
      let connection: AedesClient | undefined;
      const onReady = (client: AedesClient): void => void (client.id === clientId && (connection = client));
      broker.aedes.on('clientReady', onReady);
      const uplink = await startHj212Uplink(config, { logger });
      try {
        for (let k = 0; k < 6; k++) await send(k, 0, k);
        await until('minute 0 counted', () => uplink.stats().readings === 12, 5000);
        expect(uplink.stats().unackedMessages).toBe(6);
        connection!.close();
        await until('the six messages delivered again after the reconnect', () => uplink.stats().stations[0]!.duplicates === 6, 10_000);
        expect(uplink.stats().readings).toBe(12);
        await send(6, 1, 0);
        await until('minute 0 at the platform', () => platform.received.length === 1, 10_000);
        expectWholeMinute(platform.received[0]!, 0);
      } finally {
        broker.aedes.off('clientReady', onReady);
        await feeder.endAsync();
        await uplink.stop();
        await platform.stop();
      }
    });
  });
});

interface UplinkProcess extends CliProcess {
  /** Every stats line it logged so far, oldest first. */
  readonly stats: UplinkStats[];
}

/** `cleanstream uplink` as a user runs it, logging its stats every 50 ms. */
function startUplinkProcess(configFile: string): UplinkProcess {
  const cli = startCli(['uplink', '--config', configFile, '--stats-interval', '0.05']);
  return {
    ...cli,
    get stats() {
      return cli.log.flatMap((line) => {
        const entry = line.startsWith('{') ? (JSON.parse(line) as { msg?: string; stats?: UplinkStats }) : {};
        return entry.msg === 'uplink stats' && entry.stats ? [entry.stats] : [];
      });
    },
  };
}
