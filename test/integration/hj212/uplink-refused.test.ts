/**
 * An uplink whose broker user may not read the readings of its plants fails to start, naming the refused filter,
 * rather than running on and sending the regulator nothing (a refused SUBACK is easy to miss in MQTT: the connection
 * itself is fine). What an operator relies on: a misconfigured uplink is an error at start, not a silent gap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { BrokerUsers, hashPassword } from '../../../bus/broker-auth.ts';
import { topics } from '../../../bus/topics.ts';
import { TransportError } from '../../../core/errors.ts';
import { parseUplinkConfig } from '../../../uplink/config.ts';
import { startHj212Uplink } from '../../../uplink/hj212-uplink.ts';
import { freePort } from '../../harness/ports.ts';
import { startTestPlatform, type TestPlatform } from './platform.ts';

describe('HJ 212 uplink: a subscription the broker refuses', () => {
  let broker: RunningBroker;
  let platform: TestPlatform;
  let dir: string;

  beforeAll(async () => {
    // a gateway's user: it may publish its plant's readings, never read them
    const users = new BrokerUsers([{ username: 'gw-uplink', passwordHash: hashPassword('gw-secret'), role: 'gateway', plants: ['paper-01'] }]);
    broker = await startBroker({ port: 0, users });
    platform = await startTestPlatform(await freePort());
    dir = mkdtempSync(path.join(tmpdir(), 'cs-uplink-refused-'));
  });
  afterAll(async () => {
    await broker?.stop();
    await platform?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('fails the start with MQTT_SUBSCRIBE naming the refused filter', async () => {
    const config = parseUplinkConfig('test uplink', {
      id: 'uplink-refused',
      mqtt: { url: broker.url, username: 'gw-uplink', password: 'gw-secret', clientId: 'gw-uplink' },
      platform: { host: '127.0.0.1', port: platform.port },
      outbox: { dir },
      stations: [{ plant: 'paper-01', mn: 'UPLINKREFUSED00000000001', pw: '123456', pollutants: [{ code: 'w01018', meter: 'outfall-1-cod' }] }],
    });
    const logger = pino({ level: 'silent' });
    const failure = await startHj212Uplink(config, { logger, connectTimeoutMs: 10_000 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(TransportError);
    expect(failure).toMatchObject({ code: 'MQTT_SUBSCRIBE', retryable: false, context: { filters: [topics.readingsFilter('paper-01')] } });
  });
});
