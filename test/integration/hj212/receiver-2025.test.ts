/**
 * HJ 212-2025 items between a data logger and the gateway's receiver, over loopback TCP: a station whose logger
 * encrypts its data CP with SM4 gives its readings on a receiver holding the same key (from an environment variable,
 * never the config file), is refused (9011, decrypt_failed) and gives nothing when the keys differ, and its heartbeats
 * (9015) are counted and answered with a notice answer (9013). A device configured without a key is clear text, as
 * in 2017.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import type { Reading } from '../../../core/reading.ts';
import { hj212InputSchema } from '../../../gateway/drivers/hj212/config.ts';
import { Hj212Receiver } from '../../../gateway/drivers/hj212/receiver.ts';
import { buildPacket } from '../../../protocols/hj212/codec.ts';
import { sm4KeyFromHex } from '../../../protocols/hj212/sm4.ts';
import { until } from '../../harness/wait.ts';
import { startHj212Logger } from '../../../simulators/hj212/logger.ts';

/** 2024-05-01 08:00 China Standard Time. */
const T0 = Date.UTC(2024, 4, 1, 0, 0, 0);
const KEY_HEX = '0123456789abcdeffedcba9876543210';
const OTHER_KEY_HEX = '00112233445566778899aabbccddeeff';
const SECRET_MN = 'DYEING01WATER00000000001';
const CLEAR_MN = 'PAPER01WATER000000000001';

describe('HJ 212-2025 SM4 and heartbeats: simulated logger -> hj212 receiver over TCP', () => {
  let receiver: Hj212Receiver;
  const readings: Reading[] = [];
  const errors: Error[] = [];

  beforeAll(async () => {
    process.env.CS_TEST_HJ212_SM4_KEY = KEY_HEX;
    const config = hj212InputSchema.parse({
      type: 'hj212',
      port: 0,
      version: '2025',
      idleTimeoutMs: 10_000,
      devices: [
        { mn: SECRET_MN, pw: '222222', plant: 'dyeing-01', meters: { w01018: 'outfall-1-cod' }, sm4: { keyEnv: 'CS_TEST_HJ212_SM4_KEY' } },
        { mn: CLEAR_MN, pw: '123456', plant: 'paper-01', meters: { w01018: 'outfall-1-cod' } },
      ],
    });
    receiver = new Hj212Receiver(config);
    receiver.on('scan', (batch) => readings.push(...batch));
    receiver.on('error', (err) => errors.push(err));
    await receiver.start();
  });

  afterAll(async () => {
    await receiver?.stop();
    delete process.env.CS_TEST_HJ212_SM4_KEY;
  });

  const common = (): { host: string; port: number; intervalMs: number; overTimeMs: number; reCount: number; version: '2025' } => ({
    host: '127.0.0.1',
    port: receiver.port as number,
    intervalMs: 10,
    overTimeMs: 2000,
    reCount: 0,
    version: '2025',
  });

  it('reads an encrypted station with its key, answers its heartbeats with 9013, and counts both', async () => {
    const sm4 = { key: sm4KeyFromHex(KEY_HEX) as Buffer, padding: 'zero' as const };
    const logger = startHj212Logger({ ...common(), mn: SECRET_MN, pw: '222222', codes: ['w01018'], source: { value: (_c, t) => 30 + (t - T0) / 60_000 }, cn: '2051', count: 3, startDataTime: T0, sm4, heartbeat: true });
    await logger.done;
    expect(logger.stats()).toMatchObject({ sent: 3, acknowledged: 3, heartbeats: 3, noticeAnswers: 3 });
    const cod = readings.filter((r) => r.plant === 'dyeing-01').map((r) => [r.ts, r.value]);
    expect(cod).toEqual(logger.sent.map((p) => [p.dataTime, p.pollutants.w01018!.values.Avg]));
    expect(cod.map(([ts]) => ts)).toEqual([T0, T0 + 60_000, T0 + 120_000]);
    const stats = receiver.stats();
    expect(stats.encryptedPackets).toBe(3);
    expect(stats.heartbeats).toEqual({ [SECRET_MN]: 3 });
  });

  it('refuses, with 9011 and decrypt_failed, a station encrypting with another key, and reads nothing from it', async () => {
    const before = readings.length;
    const refusedBefore = receiver.stats().refused.decrypt_failed ?? 0;
    const wrong = { key: sm4KeyFromHex(OTHER_KEY_HEX) as Buffer, padding: 'zero' as const };
    const logger = startHj212Logger({ ...common(), mn: SECRET_MN, pw: '222222', codes: ['w01018'], source: { value: () => 99 }, cn: '2051', count: 1, startDataTime: T0 + 86_400_000, sm4: wrong });
    await logger.done;
    expect(logger.sent[0]).toMatchObject({ outcome: 'refused', qnRtn: 100 });
    expect(receiver.stats().refused.decrypt_failed).toBe(refusedBefore + 1);
    expect(readings.length).toBe(before);
    expect(errors.some((e) => /decrypt_failed/.test(e.message))).toBe(true);
  });

  it('keeps a device without a key in clear text, as HJ 212-2017 does', async () => {
    const logger = startHj212Logger({ ...common(), mn: CLEAR_MN, pw: '123456', codes: ['w01018'], source: { value: () => 12.5 }, cn: '2051', count: 1, startDataTime: T0 });
    await logger.done;
    expect(logger.stats()).toMatchObject({ acknowledged: 1, heartbeats: 0 });
    expect(readings.filter((r) => r.plant === 'paper-01').map((r) => r.value)).toEqual([12.5]);
    expect(receiver.stats().encryptedPackets).toBe(3);
  });

  it('records a packet sent again with the same QN (a resend after OverTime) and answers it again', async () => {
    const frame = buildPacket(
      { qn: '20240502080000123', st: '32', cn: '2051', pw: '123456', mn: CLEAR_MN, replyRequested: true, cp: [[{ key: 'DataTime', value: '20240502080000' }], [{ key: 'w01018-Avg', value: '20' }]] },
      { version: '2025' },
    );
    const socket = connect({ host: '127.0.0.1', port: receiver.port as number });
    socket.on('error', () => undefined);
    let answers = '';
    socket.on('data', (d: Buffer) => (answers += d.toString('latin1')));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(frame);
    await until('the first 9014', () => answers.split('CN=9014').length === 2, 5000);
    expect(receiver.stats().resentPackets[CLEAR_MN]).toBeUndefined();
    socket.write(frame);
    await until('the second 9014', () => answers.split('CN=9014').length === 3, 5000);
    socket.destroy();
    expect(receiver.stats().resentPackets).toEqual({ [CLEAR_MN]: 1 });
  });
});
