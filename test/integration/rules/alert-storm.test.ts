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
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { encodeBatch } from '../../../core/reading.ts';
import { quantityDef } from '../../../core/catalog.ts';
import { topics } from '../../../bus/topics.ts';
import { startRules, type RulesService } from '../../../rules/service.ts';
import type { Alert } from '../../../rules/alerts.ts';
import { freePort } from '../../harness/ports.ts';
import { until } from './support.ts';
import { demoPlants } from '../../harness/plants.ts';

const registry = demoPlants();
const T0 = Date.UTC(2024, 0, 1);

describe('alert storm past the in-flight bound', () => {
  let broker: RunningBroker;
  let rules: RulesService | undefined;
  let publisher: MqttClient;
  let watcher: MqttClient;
  let dir: string;
  /** Every alert state published during the test (not the retained ones a subscriber is given on subscribing). */
  const seen: { topic: string; alert: Alert }[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-storm-'));
    broker = await startBroker();
    publisher = await connectAsync(broker.url, { protocolVersion: 4, clientId: 'gw-storm' });
    watcher = await connectAsync(broker.url, { protocolVersion: 4, clientId: 'storm-watcher' });
    watcher.on('message', (topic, payload, packet) => {
      if (!packet.retain) seen.push({ topic, alert: JSON.parse(payload.toString('utf8')) as Alert });
    });
    await watcher.subscribeAsync(topics.alertsFilter(), { qos: 1 });
  });
  afterAll(async () => {
    await rules?.stop();
    await publisher?.endAsync();
    await watcher?.endAsync();
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
        rules: quantities.map((q) => ({ id: `above-5-${q}`, kind: 'limit', severity: 'major', selector: { quantity: q }, limit: { max: 5 } })),
      },
      { registry, logger: pino({ level: 'silent' }), maxAlertsInFlight: 3 },
    );
    const meters = registry.plants.flatMap((p) => p.meters.flatMap((m) => m.quantities.map((quantity) => ({ plant: p.id, meter: m.id, quantity }))));
    const rounds = 6;
    for (let round = 0; round < rounds; round++) {
      for (const plant of registry.plants) {
        const ts = T0 + round * 60_000;
        const readings = meters.filter((m) => m.plant === plant.id).map((m) => ({ meter: m.meter, quantity: m.quantity, value: round % 2 === 0 ? 9 : 1, unit: quantityDef(m.quantity).unit, ts, quality: 'good' as const }));
        await publisher.publishAsync(topics.readings(plant.id, 'gw-storm'), encodeBatch({ v: 1, gateway: 'gw-storm', plant: plant.id, seq: round * registry.plants.length + registry.plants.indexOf(plant), sentAt: ts, readings }), { qos: 1 });
      }
    }
    // What the feed calls for, worked out here and not read from the service: each series is over the limit (9 > 5; 9 is within every quantity's physical range, pH's 0-14 included, so no reading is set
    // aside as impossible)
    // in rounds 0, 2 and 4 and far under it (1) in rounds 1, 3 and 5, so it is raised, cleared, raised... on its own
    // alert topic (one per rule × plant × meter): two transitions per series per pair of rounds.
    const expectedBySeries = new Map<string, string[]>();
    for (const m of meters) {
      const states: string[] = [];
      let open = false;
      for (let round = 0; round < rounds; round++) {
        const over = (round % 2 === 0 ? 9 : 1) > 5;
        if (over && !open) states.push('raised');
        if (!over && open) states.push('cleared');
        open = over;
      }
      expectedBySeries.set(topics.alert(m.plant, `above-5-${m.quantity}`, m.meter), states);
    }
    const expected = [...expectedBySeries.values()].reduce((n, states) => n + states.length, 0);
    expect(expected).toBe(meters.length * rounds);
    expect(expected).toBeGreaterThan(3 * 10); // far past the bound of 3
    await until('every transition at the alert topics', () => (seen.length >= expected ? true : undefined), 20_000);
    // a moment for any extra (duplicated) publish to show up
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toHaveLength(expected);
    // Per topic: the states the feed calls for, in order, each raise a new alert (its own id) that its clear closes.
    const byTopic = new Map<string, { id: string; state: string; at: number }[]>();
    for (const { topic, alert } of seen) byTopic.set(topic, [...(byTopic.get(topic) ?? []), { id: alert.id, state: alert.state, at: alert.state === 'cleared' ? alert.clearedAt! : alert.updatedAt }]);
    expect(new Set(byTopic.keys())).toEqual(new Set(expectedBySeries.keys()));
    for (const [topic, states] of expectedBySeries) {
      const got = byTopic.get(topic)!;
      expect(got.map((s) => s.state), topic).toEqual(states);
      expect(got.map((s) => s.at), topic).toEqual([...got.map((s) => s.at)].sort((x, y) => x - y));
      expect(new Set(got.map((s) => `${s.id}/${s.state}`)).size, topic).toBe(states.length);
      for (let i = 0; i < got.length; i += 2) expect(got[i + 1]?.id, topic).toBe(got[i]!.id);
    }
    await until('a checkpoint acknowledging the storm', () => (rules!.stats().checkpoints > 0 && rules!.stats().unackedMessages === 0 ? true : undefined), 10_000);
  }, 60_000);
});
