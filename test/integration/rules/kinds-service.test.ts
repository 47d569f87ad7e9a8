/**
 * The rule kinds users configure most, judged by the running rules service (readings in over a real broker, alert
 * transitions out on the alert topics, history rows in a real InfluxDB), not by the engine alone: `stale` raised by
 * the passage of time with no reading arriving, re-notified while the meter stays silent and cleared by the next
 * reading; `sustained` only after a run over the limit lasting `forMs` without a break; `repeated` on the N-th
 * excursion in its window; `baseline` when an hour's mean is above the plant's own baseline by the margin; an alert
 * nobody acknowledges escalated after `escalate.afterMs` with no further reading.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { encodeBatch, type BatchReading } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import type { Alert } from '../../../rules/alerts.ts';
import { startRules, type RulesService } from '../../../rules/service.ts';
import { DEMO_PLANTS } from '../../../rules/test-support.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { until, watchAlerts, type AlertWatcher } from './support.ts';

const T0 = Date.UTC(2024, 0, 1);
const MIN = 60_000;

describe('rule kinds through the running rules service', () => {
  let broker: RunningBroker;
  let influx: RunningInflux;
  let publisher: MqttClient;
  let watcher: AlertWatcher;
  let seq = 0;

  beforeAll(async () => {
    [broker, influx] = await Promise.all([startBroker(), startInfluxd()]);
    publisher = await connectAsync(broker.url, { protocolVersion: 4, clientId: 'gw-kinds' });
    watcher = await watchAlerts(broker.url, 'kinds-watcher');
  }, 60_000);
  afterAll(async () => {
    await publisher?.endAsync();
    await watcher?.end();
    await broker?.stop();
    await influx?.stop();
  });

  async function withRules<T>(database: string, rules: unknown[], run: (service: RulesService) => Promise<T>): Promise<T> {
    const service = await startRules(
      {
        mqtt: { url: broker.url, protocolVersion: 4 },
        clientId: `rules-${database}`,
        influx: { url: influx.url, database },
        plants: DEMO_PLANTS,
        eventTime: { allowedLatenessMs: 0 },
        tickMs: 100,
        rules,
      } as never,
      { logger: pino({ level: 'silent' }) },
    );
    try {
      return await run(service);
    } finally {
      await service.stop();
    }
  }

  /** COD readings of one plant's outfall-1-cod, one per `stepMs` of event time from `start`, in one batch (QoS 1). */
  async function sendCod(plant: string, values: number[], start: number, stepMs = 1000): Promise<void> {
    const readings: BatchReading[] = values.map((value, i) => ({ meter: 'outfall-1-cod', quantity: 'cod', value, unit: 'mg/L', ts: start + i * stepMs, quality: 'good' }));
    await publisher.publishAsync(topics.readings(plant, 'gw-kinds'), encodeBatch({ v: 1, gateway: 'gw-kinds', plant, seq: seq++, sentAt: Date.now(), readings }), { qos: 1 });
  }

  const transitionsOf = (rule: string): Alert[] => watcher.seen.filter((a) => a.rule === rule);
  const stateOf = (rule: string, state: string) => () => transitionsOf(rule).find((a) => a.state === state);

  it('stale: raised by time passing with no reading, renotified while silent, cleared by the next reading', async () => {
    const rule = { id: 'cod-stale', kind: 'stale', severity: 'major', selector: { plants: ['paper-01'], meters: ['outfall-1-cod'] }, afterMs: 1500, renotifyEveryMs: 1000 };
    await withRules('kinds_stale', [rule], async (service) => {
      await sendCod('paper-01', [50], Date.now() - 1000);
      await until('the reading judged', () => (service.stats().engine.readings === 1 ? true : undefined));
      const lastReadingAt = Date.now();
      const raised = await until('the stale alert raised', stateOf('cod-stale', 'raised'), 10_000);
      // nothing arrived in between: only the clock moved
      expect(Date.now() - lastReadingAt).toBeGreaterThanOrEqual(1500 - 100);
      // value and limit in minutes of silence
      expect(raised).toMatchObject({ plant: 'paper-01', meter: 'outfall-1-cod', quantity: null, severity: 'major', limit: 1500 / MIN });
      expect(raised.value).toBeGreaterThanOrEqual(1500 / MIN);
      const renotified = await until('a re-notification while silent', () => transitionsOf('cod-stale').find((a) => a.id === raised.id && a.count > raised.count), 10_000);
      expect(renotified.state).toBe('raised');
      expect(renotified.value).toBeGreaterThan(raised.value!);

      await sendCod('paper-01', [51], Date.now());
      const cleared = await until('cleared by a reading', stateOf('cod-stale', 'cleared'), 10_000);
      expect(cleared.id).toBe(raised.id);
    });
  }, 30_000);

  it('sustained: a break in the run restarts the count; raised only once the limit is exceeded for forMs without one', async () => {
    const rule = { id: 'cod-sustained', kind: 'sustained', severity: 'major', selector: { plants: ['paper-01'], quantity: 'cod' }, limit: { max: 100 }, forMs: MIN, clear: { below: 90 } };
    await withRules('kinds_sustained', [rule], async (service) => {
      // 50 s over, one sample back under (the run breaks), then 50 s over again: 100 s over, never 60 s in one run
      await sendCod('paper-01', [...Array<number>(50).fill(120), 95, ...Array<number>(50).fill(120)], T0);
      await sendCod('paper-01', [80], T0 + 101_000);
      await until('all 102 readings judged', () => (service.stats().engine.readings === 102 ? true : undefined));
      expect(service.stats().engine.transitions).toEqual({});
      expect(transitionsOf('cod-sustained')).toEqual([]);

      // a run of 61 samples a second over the limit: raised at the sample 60 s after the run began
      const start = T0 + 200_000;
      await sendCod('paper-01', Array<number>(61).fill(130), start);
      const raised = await until('sustained raised', stateOf('cod-sustained', 'raised'));
      expect(raised).toMatchObject({ raisedAt: start + MIN, value: 130, limit: 100 });
      await sendCod('paper-01', [85], start + 61_000);
      expect(await until('sustained cleared', stateOf('cod-sustained', 'cleared'))).toMatchObject({ id: raised.id });
    });
  }, 30_000);

  it('repeated: raised on the third excursion within the window, not on a long run counting once', async () => {
    const rule = { id: 'cod-repeated', kind: 'repeated', severity: 'minor', selector: { plants: ['dyeing-01'], quantity: 'cod' }, limit: { max: 100 }, times: 3, withinMs: 10 * MIN };
    await withRules('kinds_repeated', [rule], async (service) => {
      // a run of three minutes over (one excursion) at 0, another at 4 min, another at 11 min: the first has left the
      // 10-minute window by then, so never three within it
      await sendCod('dyeing-01', [120, 130, 140, 50, 120, 50], T0, MIN);
      await sendCod('dyeing-01', [120, 50], T0 + 11 * MIN, MIN);
      await until('eight readings judged', () => (service.stats().engine.readings === 8 ? true : undefined));
      expect(service.stats().engine.transitions).toEqual({});
      // at 13 min: the excursions of 4, 11 and 13 min are within 10 minutes
      await sendCod('dyeing-01', [125], T0 + 13 * MIN);
      const raised = await until('repeated raised', stateOf('cod-repeated', 'raised'));
      expect(raised).toMatchObject({ raisedAt: T0 + 13 * MIN, value: 3, limit: 100 });
      expect(transitionsOf('cod-repeated').map((a) => a.state)).toEqual(['raised']);
    });
  }, 30_000);

  it('baseline: raised when the hour\'s mean is above the plant\'s own baseline by the margin, not when within it', async () => {
    // paper-01's COD baseline is 120 mg/L (rules/baselines/demo.yaml): 20 % above is 144
    const rule = { id: 'cod-baseline', kind: 'baseline', severity: 'minor', selector: { plants: ['paper-01'], quantity: 'cod' }, meanOverMs: 60 * MIN, minSamples: 3, marginPct: 20 };
    await withRules('kinds_baseline', [rule], async (service) => {
      // hour 1: mean 140 (within the margin), judged when the first reading of hour 2 closes it
      await sendCod('paper-01', [130, 140, 150, 145], T0, 20 * MIN);
      await until('hour 1 judged', () => (service.stats().engine.readings === 4 ? true : undefined));
      expect(service.stats().engine.transitions).toEqual({});
      // hour 2: mean 150 (above); the first reading of hour 3 closes it
      await sendCod('paper-01', [150, 155], T0 + 80 * MIN, 20 * MIN);
      await sendCod('paper-01', [100], T0 + 120 * MIN);
      const raised = await until('baseline raised', stateOf('cod-baseline', 'raised'));
      expect(raised.value).toBeCloseTo(150, 6);
      expect(raised.limit).toBeCloseTo(144, 6);
      expect(transitionsOf('cod-baseline').map((a) => a.state)).toEqual(['raised']);
    });
  }, 30_000);

  it('an alert nobody acknowledges is escalated after escalate.afterMs with no further reading, and the escalation is in the history', async () => {
    const rule = { id: 'cod-escalating', kind: 'limit', severity: 'major', selector: { plants: ['steel-01'], quantity: 'cod' }, limit: { max: 100 }, escalate: { afterMs: 1000 } };
    await withRules('kinds_escalation', [rule], async () => {
      await sendCod('steel-01', [120], Date.now() - 500);
      const raised = await until('raised', stateOf('cod-escalating', 'raised'));
      const raisedSeenAt = Date.now();
      expect(raised).toMatchObject({ severity: 'major', escalated: false });
      const escalated = await until('escalated', () => transitionsOf('cod-escalating').find((a) => a.escalated), 10_000);
      expect(Date.now() - raisedSeenAt).toBeGreaterThanOrEqual(1000 - 200);
      expect(escalated).toMatchObject({ id: raised.id, severity: 'critical', state: 'raised', count: raised.count });
      const rows = await until(
        'the escalation row in InfluxDB',
        async () => {
          const r = await influx.query<{ transition: string; severity: string }>(`SELECT "transition", "severity" FROM "alerts" WHERE "rule" = 'cod-escalating'`, 'kinds_escalation').catch(() => []);
          return r.some((x) => x.transition === 'escalated') ? r : undefined;
        },
        10_000,
      );
      expect(rows.map((r) => `${r.transition} ${r.severity}`)).toEqual(['raised major', 'escalated critical']);
    });
  }, 30_000);
});
