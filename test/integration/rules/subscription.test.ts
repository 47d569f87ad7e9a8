/**
 * Rules started with credentials whose broker role may not read readings: the start fails, naming the refused
 * filters, instead of a rules process that runs, says it is connected and judges nothing (what an operator would
 * otherwise find out only when an exceedance raised no alert).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { pino } from 'pino';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { BrokerUsers, hashPassword } from '../../../bus/broker-auth.ts';
import { topics } from '../../../bus/topics.ts';
import { TransportError } from '../../../core/errors.ts';
import { loadPlantRegistry } from '../../../core/plants.ts';
import { startRules } from '../../../rules/service.ts';
import { freePort } from '../../harness/ports.ts';

const registry = loadPlantRegistry(path.resolve(import.meta.dirname, '../../../deploy/demo/plants.yaml'));
const users = new BrokerUsers([{ username: 'gw-paper', passwordHash: hashPassword('gw-secret'), role: 'gateway', plants: ['paper-01'] }]);

describe('rules on a broker that refuses its subscriptions', () => {
  let broker: RunningBroker;

  beforeAll(async () => {
    broker = await startBroker({ users });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('fails to start with MQTT_SUBSCRIBE naming the readings filter', async () => {
    const started = startRules(
      {
        // a gateway's user: it may publish its readings, not read anyone's
        mqtt: { url: broker.url, protocolVersion: 4, username: 'gw-paper', password: 'gw-secret' },
        clientId: 'gw-paper-rules',
        // nothing listens there: alert rows would wait, the start does not depend on it
        influx: { url: `http://127.0.0.1:${await freePort()}`, database: 'cleanstream' },
        rules: [{ id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: { max: 100 } }],
      },
      { registry, logger: pino({ level: 'silent' }), connectTimeoutMs: 5_000 },
    );
    const err = await started.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject({ code: 'MQTT_SUBSCRIBE', retryable: false });
    expect((err as TransportError).context.filters).toContain(topics.readingsFilter());
  }, 20_000);
});
