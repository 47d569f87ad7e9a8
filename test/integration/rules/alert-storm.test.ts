/**
 * An alert storm larger than the number of alert PUBLISHes the rules service keeps in flight (MQTT packet ids are
 * 16 bits, and MQTT.js reuses them without checking): the alerts past the bound wait their turn, every one reaches
 * its topic, each topic's transitions in order, and checkpoints go on (readings get acknowledged).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { startBroker, type RunningBroker } from '../../../deploy/broker.ts';
import { encodeBatch } from '../../../core/reading.ts';
import { QUANTITIES } from '../../../core/catalog.ts';
import { topics } from '../../../core/topics.ts';
import { loadPlantRegistry } from '../../../core/plants.ts';
import { startRules, type RulesService } from '../../../rules/service.ts';
import type { Alert } from '../../../rules/alerts.ts';
import { freePort } from '../../harness/ports.ts';
import { until, watchAlerts, type AlertWatcher } from './support.ts';

const registry = loadPlantRegistry(path.resolve(import.meta.dirname, '../../../deploy/demo/plants.yaml'));
const T0 = Date.UTC(2024, 0, 1);

describe('alert storm past the in-flight bound', () => {
  let broker: RunningBroker;
  let rules: RulesService | undefined;
  let publisher: MqttClient;
  let watcher: AlertWatcher;
  let dir: string;
  let seen: Alert[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-storm-'));
    broker = await startBroker();
    publisher = await connectAsync(broker.url, { protocolVersion: 4, clientId: 'gw-storm' });
    watcher = await watchAlerts(broker.url, 'storm-watcher');
    seen = watcher.seen;
  });
  afterAll(async () => {
    await rules?.stop();
    await publisher?.endAsync();
    await watcher?.end();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('publishes every alert in order per topic and keeps checkpointing', async () => {
    const quantities = [...new Set(registry.plants.flatMap((p) => p.meters.flatMap((m) => m.quantities)))];
    rules = await startRules(
      {
        mqtt: { url: broker.url, protocolVersion: 4 },
        influx: { url: `http://127.0.0.1:${await freePort()}`, database: 'cleanstream', createDatabase: false },
        eventTime: { allowedLatenessMs: 0 },
        checkpoint: { file: path.join(dir, 'checkpoint.json'), intervalMs: 200 },
        // every series, every round: raised, cleared, raised again...
        rules: quantities.map((q) => ({ id: `above-50-${q}`, kind: 'limit', severity: 'major', selector: { quantity: q }, limit: { max: 50 } })),
      },
      { registry, logger: pino({ level: 'silent' }), maxAlertsInFlight: 3 },
    );
    const meters = registry.plants.flatMap((p) => p.meters.flatMap((m) => m.quantities.map((quantity) => ({ plant: p.id, meter: m.id, quantity }))));
    const rounds = 6;
    for (let round = 0; round < rounds; round++) {
      for (const plant of registry.plants) {
        const ts = T0 + round * 60_000;
        const readings = meters.filter((m) => m.plant === plant.id).map((m) => ({ meter: m.meter, quantity: m.quantity, value: round % 2 === 0 ? 99 : 1, unit: QUANTITIES[m.quantity].unit, ts, quality: 'good' as const }));
        await publisher.publishAsync(topics.readings(plant.id, 'gw-storm'), encodeBatch({ v: 1, gateway: 'gw-storm', plant: plant.id, seq: round * registry.plants.length + registry.plants.indexOf(plant), sentAt: ts, readings }), { qos: 1 });
      }
    }
    // every series raised at rounds 0, 2, 4 and cleared at 1, 3, 5 (one alert topic per rule × meter)
    const expected = await until('every transition handed on', () => {
      const t = rules!.stats().engine.transitions;
      const total = (t.raised ?? 0) + (t.cleared ?? 0) + (t.updated ?? 0);
      return total > 0 && rules!.stats().published === total ? total : undefined;
    }, 20_000);
    expect(expected).toBeGreaterThan(3 * 10); // far past the bound of 3
    await until('every alert at the watcher', () => (seen.length >= expected ? true : undefined), 10_000);
    expect(seen).toHaveLength(expected);
    // on each topic the states follow the order they were raised in
    const byTopic = new Map<string, string[]>();
    for (const a of seen) {
      const key = `${a.plant}/${a.rule}/${a.meter}`;
      byTopic.set(key, [...(byTopic.get(key) ?? []), `${a.state}@${a.state === 'cleared' ? a.clearedAt : a.updatedAt}`]);
    }
    for (const [topic, states] of byTopic) {
      const times = states.map((s) => Number(s.split('@')[1]));
      expect(times, topic).toEqual([...times].sort((x, y) => x - y));
    }
    await until('a checkpoint acknowledging the storm', () => (rules!.stats().checkpoints > 0 && rules!.stats().unackedMessages === 0 ? true : undefined), 10_000);
  }, 60_000);
});
