/**
 * The HJ 212 uplink on an MQTT 5 broker (Debian's Mosquitto 2): MQTT 5 ends a session at disconnect unless the client
 * gives it an expiry, so without one a restart of the uplink would lose every reading published while it was down
 * and report the minute short. What a plant relies on: the regulator gets the whole minute after a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { encodeBatch, type BatchReading } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { parseUplinkConfig } from '../../../uplink/config.ts';
import { intervalQn, startHj212Uplink } from '../../../uplink/hj212-uplink.ts';
import { startMosquitto, type RunningMosquitto } from '../../harness/mosquitto.ts';
import { freePort } from '../../harness/ports.ts';
import { until } from '../../harness/wait.ts';
import { startTestPlatform } from './platform.ts';

/** 2024-05-01 08:00 China Standard Time. */
const T0 = Date.UTC(2024, 4, 1, 0, 0, 0);
const MN = 'UPLINKMQTT50000000000001';
const cod = (k: number): number => 40 + 0.5 * k;

describe('HJ 212 uplink on an MQTT 5 broker', () => {
  let mosquitto: RunningMosquitto;
  let dir: string;

  beforeAll(async () => {
    mosquitto = await startMosquitto();
    dir = mkdtempSync(path.join(tmpdir(), 'cs-uplink-mqtt5-'));
  });
  afterAll(async () => {
    await mosquitto?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reports the readings published while it was stopped once it starts again', async () => {
    const platform = await startTestPlatform(await freePort());
    const config = parseUplinkConfig('test uplink', {
      id: 'uplink-mqtt5',
      mqtt: { url: mosquitto.url, protocolVersion: 5 },
      platform: { host: '127.0.0.1', port: platform.port },
      overTimeMs: 1000,
      latenessMs: 0,
      send: { minute: true, hourly: false, daily: false },
      checkpointIntervalMs: 600_000,
      reconnect: { initialMs: 50, maxMs: 200 },
      outbox: { dir: path.join(dir, 'outbox') },
      stations: [{ plant: 'paper-01', mn: MN, pw: '123456', st: '32', pollutants: [{ code: 'w01018', meter: 'outfall-1-cod' }] }],
    });
    const logger = pino({ level: 'silent' });
    const feeder = await mqtt.connectAsync(mosquitto.url, { protocolVersion: 5, reconnectPeriod: 0 });
    const publish = (seq: number, ks: number[]): Promise<unknown> => {
      const readings: BatchReading[] = ks.map((k) => ({ meter: 'outfall-1-cod', quantity: 'cod', value: cod(k), unit: 'mg/L', ts: T0 + k * 10_000, quality: 'good' }));
      return feeder.publishAsync(topics.readings('paper-01', 'gw-feed'), encodeBatch({ v: 1, gateway: 'gw-feed', plant: 'paper-01', seq, sentAt: Date.now(), readings }), { qos: 1 });
    };
    let uplink = await startHj212Uplink(config, { logger });
    try {
      await publish(0, [0, 1, 2]);
      await until('the first half of minute 0 counted', () => uplink.stats().readings === 3, 5000);
      await uplink.stop();

      // The rest of minute 0 and a reading that closes it, while no uplink is connected: the broker must keep them.
      await publish(1, [3, 4, 5]);
      await publish(2, [6]);
      uplink = await startHj212Uplink(config, { logger });
      await until('minute 0 acknowledged by the platform', () => uplink.stats().stations[0]?.acknowledged === 1, 10_000);

      const [minute0] = platform.received;
      expect(minute0?.qn).toBe(intervalQn(T0, '2051', 480));
      const values = [0, 1, 2, 3, 4, 5].map(cod);
      expect(minute0!.data.pollutants.get('w01018')!.values).toMatchObject({ Min: cod(0), Max: cod(5), Avg: values.reduce((a, b) => a + b) / 6 });
    } finally {
      await feeder.endAsync();
      await uplink.stop();
      await platform.stop();
    }
  }, 30_000);
});
