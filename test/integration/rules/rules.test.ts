/**
 * The rules service against a real broker (embedded aedes) and a real InfluxDB 1.x: readings crossing the COD limit
 * raise a retained alert on the alert topic and a row in `alerts`; readings back under the clear level clear it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { encodeBatch, type BatchReading } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { startRules, type RulesService } from '../../../rules/service.ts';
import type { Alert } from '../../../rules/alerts.ts';
import { readCheckpoint } from '../../../rules/checkpoint.ts';
import { until } from '../../harness/wait.ts';
import { demoPlants } from '../../harness/plants.ts';

const registry = demoPlants();

/** The retained alert on a topic, as a fresh subscriber sees it. */
async function retainedAlert(url: string, topic: string): Promise<Alert | undefined> {
  const client = await connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 });
  try {
    const got = new Promise<Alert | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 500);
      client.on('message', (_t, payload, packet) => {
        if (!packet.retain) return;
        clearTimeout(timer);
        resolve(JSON.parse(payload.toString()) as Alert);
      });
    });
    await client.subscribeAsync(topic, { qos: 1 });
    return await got;
  } finally {
    await client.endAsync();
  }
}

describe('rules service with a broker and InfluxDB', () => {
  let broker: RunningBroker;
  let influx: RunningInflux;
  let rules: RulesService | undefined;
  let publisher: MqttClient;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-rules-'));
    [broker, influx] = await Promise.all([startBroker(), startInfluxd()]);
    publisher = await connectAsync(broker.url, { protocolVersion: 4, clientId: 'gw-test' });
  });

  afterAll(async () => {
    await rules?.stop();
    await publisher?.endAsync();
    await Promise.all([broker?.stop(), influx?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('raises a retained alert and an alerts row when COD crosses the limit, and clears them below the clear level', async () => {
    const checkpointFile = path.join(dir, 'checkpoint.json');
    rules = await startRules(
      {
        mqtt: { url: broker.url, protocolVersion: 4 },
        influx: { url: influx.url, database: 'cleanstream' },
        eventTime: { allowedLatenessMs: 0 },
        tickMs: 100,
        checkpoint: { file: checkpointFile },
        rules: [{ id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: 'catalog', clear: { below: 85 } }],
      },
      { registry, logger: pino({ level: 'silent' }) },
    );
    const topic = topics.alert('paper-01', 'cod-limit', 'outfall-1-cod');
    const t0 = Date.now() - 60_000;
    let seq = 0;
    const send = async (values: number[], start: number): Promise<void> => {
      const readings: BatchReading[] = values.map((value, i) => ({ meter: 'outfall-1-cod', quantity: 'cod', value, unit: 'mg/L', ts: start + i * 1000, quality: 'good' }));
      await publisher.publishAsync(topics.readings('paper-01', 'gw-test'), encodeBatch({ v: 1, gateway: 'gw-test', plant: 'paper-01', seq: seq++, sentAt: Date.now(), readings }), { qos: 1 });
    };

    // GB 3544-2008 integrated mill: COD 90 mg/L
    await send([70, 80, 96.5, 97], t0);
    const raised = await until('a retained raised alert', async () => {
      const a = await retainedAlert(broker.url, topic);
      return a?.state === 'raised' ? a : undefined;
    });
    expect(raised).toMatchObject({ rule: 'cod-limit', plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', severity: 'major', limit: 90, value: 96.5, raisedAt: t0 + 2000 });
    expect(raised.message.zh).toContain('超过限值');

    const rows = await until('the raised row in alerts', async () => {
      await rules!.flush();
      const r = await influx.query<{ time: number; state: string; value: number; limit: number; id: string; plant: string; severity: string }>(`SELECT * FROM alerts WHERE rule = 'cod-limit'`, 'cleanstream').catch(() => []);
      return r.length ? r : undefined;
    });
    expect(rows).toEqual([expect.objectContaining({ time: t0 + 2000, state: 'raised', value: 96.5, limit: 90, id: raised.id, plant: 'paper-01', severity: 'major' })]);

    // between the clear level and the limit: still raised; then under 85: cleared
    await send([88, 84], t0 + 10_000);
    const cleared = await until('a retained cleared alert', async () => {
      const a = await retainedAlert(broker.url, topic);
      return a?.state === 'cleared' ? a : undefined;
    });
    expect(cleared).toMatchObject({ id: raised.id, clearedAt: t0 + 11_000, value: 84 });
    const states = await until('the cleared row', async () => {
      await rules!.flush();
      const r = await influx.query<{ state: string }>(`SELECT state FROM alerts WHERE rule = 'cod-limit'`, 'cleanstream');
      return r.length === 2 ? r.map((x) => x.state) : undefined;
    });
    expect(states).toEqual(['raised', 'cleared']);
    expect(rules.stats()).toMatchObject({ receivedMessages: 2, publishErrors: 0, engine: { late: 0 } });

    await rules.stop();
    rules = undefined;
    // stopping wrote the checkpoint a restart resumes from
    expect(readCheckpoint(checkpointFile)).toMatchObject({ version: 1, alerts: [] });
  });

  it('keeps the history of a pH hovering at its floor to a bounded number of rows an hour, while the alert counts every crossing', async () => {
    rules = await startRules(
      {
        mqtt: { url: broker.url, protocolVersion: 4 },
        clientId: 'rules-hovering',
        influx: { url: influx.url, database: 'cleanstream' },
        eventTime: { allowedLatenessMs: 0 },
        tickMs: 100,
        rules: [{ id: 'ph-range', kind: 'limit', severity: 'major', selector: { quantity: 'ph' }, limit: 'catalog', clear: { deadbandPct: 5 } }],
      },
      { registry, logger: pino({ level: 'silent' }) },
    );
    // two hours of event time, a reading every 2 s between 5.96 and 6.04 (the floor of GB 3544-2008 is 6), then 7.0
    const HOUR = 3_600_000;
    const t0 = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
    let state = 15;
    const next = (): number => ((state = (state * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
    const values: number[] = [];
    for (let ts = t0; ts < t0 + 2 * HOUR; ts += 2000) values.push(Math.round((5.96 + next() * 0.08) * 1000) / 1000);
    values.push(7);
    for (let i = 0, seq = 0; i < values.length; i += 60, seq++) {
      const readings: BatchReading[] = values.slice(i, i + 60).map((value, j) => ({ meter: 'outfall-1-ph', quantity: 'ph', value, unit: 'pH', ts: t0 + (i + j) * 2000, quality: 'good' }));
      await publisher.publishAsync(topics.readings('paper-01', 'gw-hover'), encodeBatch({ v: 1, gateway: 'gw-hover', plant: 'paper-01', seq, sentAt: Date.now(), readings }), { qos: 1 });
    }
    const rows = await until('the cleared row', async () => {
      await rules!.flush();
      const r = await influx.query<{ time: number; transition: string; count: number; peak: number }>(`SELECT "transition", "count", "peak" FROM alerts WHERE rule = 'ph-range'`, 'cleanstream');
      return r.some((x) => x.transition === 'cleared') ? r : undefined;
    }, 30_000);
    const crossings = rules.stats().engine.transitions.updated ?? 0;
    // every crossing back below the floor re-triggers the open alert: hundreds an hour, each counted on the alert
    expect(crossings).toBeGreaterThan(500);
    const cleared = rows.find((r) => r.transition === 'cleared')!;
    expect(cleared.count).toBe(crossings + 1);
    expect(cleared.peak).toBe(Math.min(...values));
    expect(rows.filter((r) => r.transition === 'raised')).toHaveLength(1);
    // ...but the history has one row per 5 minutes of them, plus the new peaks (rarer as the peak deepens)
    for (const hour of [0, 1]) {
      const inHour = rows.filter((r) => r.transition === 'updated' && r.time >= t0 + hour * HOUR && r.time < t0 + (hour + 1) * HOUR).length;
      expect(inHour).toBeGreaterThanOrEqual(11);
      expect(inHour).toBeLessThanOrEqual(12 + 10);
    }
    await rules.stop();
    rules = undefined;
  });
});
