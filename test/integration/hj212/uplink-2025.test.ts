/**
 * HJ 212-2025 items of the uplink against the test platform over loopback, readings fed through the embedded broker:
 * a station with an SM4 key (from an environment variable) sends its minute data encrypted, which a platform holding
 * the same key reads back exactly (and whose frames pass the independent length/CRC check), and while connected it
 * sends heartbeats (9015) at the configured interval, which the platform counts and answers (9013).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { topics } from '../../../bus/topics.ts';
import { encodeBatch, type BatchReading } from '../../../core/reading.ts';
import { sm4KeyFromHex } from '../../../protocols/hj212/sm4.ts';
import { parseUplinkConfig } from '../../../uplink/config.ts';
import { startHj212Uplink } from '../../../uplink/hj212-uplink.ts';
import { freePort } from '../../harness/ports.ts';
import { until } from '../../harness/wait.ts';
import { startTestPlatform, type TestPlatform } from './platform.ts';

const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
/** 2024-05-01 08:00 China Standard Time. */
const T0 = Date.UTC(2024, 4, 1, 0, 0, 0);
const MN = 'UPLINK2025000000000000001';
const KEY_HEX = '8a3f8665aaee6f7a0cb8f40b971e3373';

describe('HJ 212 uplink, HJ 212-2025: SM4 data and heartbeats', () => {
  let broker: RunningBroker;
  let platform: TestPlatform;
  let workDir: string;

  beforeAll(async () => {
    process.env.CS_TEST_UPLINK_SM4_KEY = KEY_HEX;
    workDir = mkdtempSync(path.join(tmpdir(), 'cs-hj212-uplink2025-'));
    broker = await startBroker();
    platform = await startTestPlatform(await freePort(), () => 'answer', { sm4: { key: sm4KeyFromHex(KEY_HEX) as Buffer, padding: 'zero' } });
  });
  afterAll(async () => {
    await platform?.stop();
    await broker?.stop();
    delete process.env.CS_TEST_UPLINK_SM4_KEY;
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('sends encrypted minute data the keyed platform reads exactly, and heartbeats it answers', async () => {
    const config = parseUplinkConfig('test uplink 2025', {
      id: 'uplink-2025',
      mqtt: { url: broker.url },
      platform: { host: '127.0.0.1', port: platform.port, version: '2025', heartbeatIntervalMs: 100 },
      overTimeMs: 1000,
      latenessMs: 0,
      send: { minute: true, hourly: false, daily: false },
      checkpointIntervalMs: 600_000,
      reconnect: { initialMs: 50, maxMs: 200 },
      outbox: { dir: path.join(workDir, 'outbox') },
      stations: [{ plant: 'paper-01', mn: MN, pw: '123456', st: '32', pollutants: [{ code: 'w01018', meter: 'outfall-1-cod' }], sm4: { keyEnv: 'CS_TEST_UPLINK_SM4_KEY' } }],
    });
    const uplink = await startHj212Uplink(config, { logger });
    const feeder = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    try {
      // Three minutes of COD, 40 + m, and a reading of minute 3 that closes minute 2.
      for (let m = 0; m <= 3; m++) {
        const readings: BatchReading[] = [{ meter: 'outfall-1-cod', quantity: 'cod', value: 40 + m, unit: 'mg/L', ts: T0 + m * 60_000, quality: 'good' }];
        await feeder.publishAsync(topics.readings('paper-01', 'gw-feed'), encodeBatch({ v: 1, gateway: 'gw-feed', plant: 'paper-01', seq: m, sentAt: Date.now(), readings }), { qos: 1 });
      }
      await until('three minutes acknowledged', () => uplink.stats().stations[0]?.acknowledged === 3, 10_000);
      await until('heartbeats answered', () => (uplink.stats().stations[0]?.noticeAnswers ?? 0) >= 2, 5000);

      expect(platform.errors).toEqual([]);
      const minutes = platform.received.filter((p) => p.cn === '2051');
      expect(minutes.map((p) => p.encrypted)).toEqual([true, true, true]);
      expect(minutes.map((p) => p.flag?.raw)).toEqual([9, 9, 9]);
      expect(minutes.map((p) => p.data.pollutants.get('w01018')?.values.Avg)).toEqual([40, 41, 42]);

      expect(platform.heartbeats.length).toBeGreaterThanOrEqual(2);
      expect(platform.heartbeats.every((h) => h.mn === MN && h.st === '91' && h.flag?.raw === 9 && h.cp.length === 0)).toBe(true);
      const stats = uplink.stats().stations[0]!;
      expect(stats.heartbeats).toBeGreaterThanOrEqual(platform.heartbeats.length);
      // Heartbeats are not data: nothing was refused or resent because of them.
      expect(stats).toMatchObject({ refused: 0, resends: 0 });
    } finally {
      await feeder.endAsync();
      await uplink.stop();
    }
  });
});
