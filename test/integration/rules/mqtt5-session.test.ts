/**
 * The rules service on an MQTT 5 broker (Debian's Mosquitto 2): MQTT 5 ends a session at disconnect unless the client
 * gives it an expiry, so without one a restart of rules would lose every reading published while it was down. What
 * a plant relies on: readings published while rules is stopped are judged once it starts again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { startRules, type RulesService } from '../../../rules/service.ts';
import type { RulesConfigInput } from '../../../rules/config.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { startMosquitto, type RunningMosquitto } from '../../harness/mosquitto.ts';
import { sendCod, until, watchAlerts, type AlertWatcher } from './support.ts';
import { demoPlants } from '../../harness/plants.ts';

const registry = demoPlants();

describe('rules on an MQTT 5 broker', () => {
  let mosquitto: RunningMosquitto;
  let influx: RunningInflux;
  let dir: string;
  let publisher: MqttClient;
  let watcher: AlertWatcher;
  let rules: RulesService | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-rules-mqtt5-'));
    [mosquitto, influx] = await Promise.all([startMosquitto(), startInfluxd()]);
    publisher = await connectAsync(mosquitto.url, { protocolVersion: 5, clientId: 'gw-test', reconnectPeriod: 0 });
    watcher = await watchAlerts(mosquitto.url, 'alert-watcher');
  });

  afterAll(async () => {
    await rules?.stop();
    await watcher?.end();
    await publisher?.endAsync();
    await Promise.all([mosquitto?.stop(), influx?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('judges the readings published while it was stopped once it starts again', async () => {
    const config: RulesConfigInput = {
      mqtt: { url: mosquitto.url, protocolVersion: 5 },
      clientId: 'rules-mqtt5',
      influx: { url: influx.url, database: 'cleanstream' },
      eventTime: { allowedLatenessMs: 0 },
      tickMs: 100,
      checkpoint: { file: path.join(dir, 'checkpoint.json') },
      rules: [{ id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: 'catalog' }],
    };
    const logger = pino({ level: 'silent' });
    rules = await startRules(config, { registry, logger });
    // Subscribed once a reading has come through: the session the broker must keep exists.
    const t0 = Date.now() - 60_000;
    await sendCod(publisher, 'paper-01', [70], t0);
    await until('the first reading judged', () => (rules!.stats().receivedMessages >= 1 ? true : undefined));
    await rules.stop();
    rules = undefined;

    // GB 3544-2008 integrated mill: COD limit 90 mg/L. Published while no rules process is connected.
    await sendCod(publisher, 'paper-01', [80, 96.5], t0 + 1000);

    rules = await startRules(config, { registry, logger });
    const raised = await until('the alert from the readings published while rules was down', () => watcher.seen.find((a) => a.state === 'raised'));
    expect(raised).toMatchObject({ rule: 'cod-limit', plant: 'paper-01', meter: 'outfall-1-cod', value: 96.5, raisedAt: t0 + 2000 });
  }, 30_000);
});
