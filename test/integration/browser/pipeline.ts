/**
 * A running pipeline for browser tests: influxd, the embedded broker, ingest, rules and the dashboard, fed live by a
 * simulated scenario re-timed to now (one gateway scan a second, published when its time comes), with a scripted COD
 * excursion at paper-01 that crosses the GB 3544-2008 limit (90 mg/L) some seconds after the start, and a pH drop
 * to 4.8 at dyeing-01 (below GB 4287-2012's floor of 6) two minutes before the live part begins, so that its alert
 * has readings on both sides of its raise. Rules runs its history job (baselines, reductions) every few seconds.
 */
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import type { PlantRegistry } from '../../../core/plants.ts';
import { encodeBatch } from '../../../core/reading.ts';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { TokenStore } from '../../../dashboards/auth.ts';
import { startDashboard, type RunningDashboard } from '../../../dashboards/server.ts';
import { parseIngestConfig } from '../../../ingest/config.ts';
import { startIngest, type Ingest } from '../../../ingest/service.ts';
import { startRules, type RulesService } from '../../../rules/service.ts';
import { generateFeed } from '../../../simulators/feed.ts';
import { parseScenario } from '../../../simulators/scenario.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { demoPlants } from '../../harness/plants.ts';
import { freePort } from '../../harness/ports.ts';

export const ROOT = path.resolve(import.meta.dirname, '../../..');
const PLANTS_FILE = path.join(ROOT, 'deploy/demo/plants.yaml');
const DEMO_PERMITS = path.join(ROOT, 'rules/limits/overrides/demo.yaml');
const DB = 'cleanstream';

export interface PipelineOptions {
  /** Seconds of history published at once before the live part, and in InfluxDB when the pipeline is returned (default 30). */
  historySeconds?: number;
  /** Seconds after the start at which paper-01's COD excursion begins (default 20). */
  faultAfterSeconds?: number;
  /** How long the live feed runs (default 180 s); it stops earlier with the pipeline. */
  durationSeconds?: number;
}

export interface Pipeline {
  registry: PlantRegistry;
  dashboard: RunningDashboard;
  tokens: { paperOperator: string; hebeiRegulator: string; zhejiangRegulator: string; admin: string };
  /** When (ms) the COD excursion begins. */
  faultAt: number;
  /** Messages published so far. */
  published(): number;
  /**
   * Stop everything but the dashboard: the simulated gateway, ingest, rules, the broker and InfluxDB (what a page
   * sees when the pipeline behind it stops). Resolves with the moment the gateway published its last message.
   */
  stopDataPath(): Promise<number>;
  stop(): Promise<void>;
}

export async function startPipeline(opts: PipelineOptions = {}): Promise<Pipeline> {
  const historySeconds = opts.historySeconds ?? 30;
  const faultAfter = opts.faultAfterSeconds ?? 20;
  const registry = demoPlants();
  const silent = pino({ level: 'silent' });
  const stops: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => {});
  };
  let stopDashboard: (() => Promise<void>) | undefined;
  try {
    const [influx, broker]: [RunningInflux, RunningBroker] = await Promise.all([startInfluxd(), startBroker()]);
    stops.push(() => influx.stop(), () => broker.stop());
    await influx.exec(`CREATE DATABASE "${DB}"`);
    const ingest: Ingest = await startIngest(
      parseIngestConfig('browser test ingest', { mqtt: { url: broker.url, protocolVersion: 4 }, clientId: 'browser-ingest', influx: { url: influx.url, database: DB }, batch: { maxDelayMs: 200 }, loads: { maxGapMs: 5_000 } }),
      { registry },
    );
    stops.push(() => ingest.stop());
    const rules: RulesService = await startRules(
      {
        mqtt: { url: broker.url, protocolVersion: 4 },
        clientId: 'browser-rules',
        influx: { url: influx.url, database: DB },
        limits: [DEMO_PERMITS],
        tickMs: 200,
        // baselines and reductions against them, from the shipped demo baselines (rules/baselines/demo.yaml), written
        // to InfluxDB for the overview's progress bars; often, so that the first runs after the feed starts count it
        history: { enabled: true, everyMs: 5_000 },
        rules: [
          { id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: 'catalog', clear: { deadbandPct: 5 } },
          { id: 'ph-range', kind: 'limit', severity: 'minor', selector: { plants: ['dyeing-01'], quantity: 'ph' }, limit: 'catalog' },
        ],
      },
      { registry, logger: silent },
    );
    stops.push(() => rules.stop());

    const store = new TokenStore();
    const tokens = {
      paperOperator: store.generate({ name: 'paper-ops', role: 'operator', plants: ['paper-01'] }).token,
      hebeiRegulator: store.generate({ name: 'hebei-epb', role: 'regulator', regions: ['hebei'] }).token,
      zhejiangRegulator: store.generate({ name: 'zhejiang-epb', role: 'regulator', regions: ['zhejiang'] }).token,
      admin: store.generate({ name: 'admin', role: 'admin' }).token,
    };
    const dashboard = await startDashboard({ registry, tokens: store, influx: { url: influx.url, database: DB }, mqtt: { url: broker.url }, limits: [DEMO_PERMITS], host: '127.0.0.1', port: await freePort() });
    stopDashboard = () => dashboard.stop();

    const startMs = Math.floor(Date.now() / 1000) * 1000 - historySeconds * 1000;
    const faultAt = startMs + (historySeconds + faultAfter) * 1000;
    const scenario = parseScenario(
      'browser test scenario',
      {
        seed: 7,
        start: new Date(startMs).toISOString(),
        duration: `${historySeconds + (opts.durationSeconds ?? 180)}s`,
        step: '1s',
        plants: PLANTS_FILE,
        protocol: 'opcua',
        faults: [
          { plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', kind: 'excursion', from: `${historySeconds + faultAfter}s`, to: '1h', params: { peak: 150, rise: '4s' } },
          { plant: 'dyeing-01', meter: 'outfall-1-ph', quantity: 'ph', kind: 'excursion', from: `${Math.max(0, historySeconds - 120)}s`, to: '1h', params: { peak: 4.8 } },
        ],
      },
      ROOT,
    );
    const gateway: MqttClient = await connectAsync(broker.url, { protocolVersion: 4, clientId: 'browser-sim-gateway', reconnectPeriod: 0 });
    let running = true;
    let published = 0;
    let lastPublishedAt = 0;
    let historyPublished: () => void = () => {};
    const historyDone = new Promise<void>((resolve) => (historyPublished = resolve));
    const feed = (async () => {
      for (const message of generateFeed(scenario)) {
        if (message.t > Date.now()) historyPublished();
        while (running && Date.now() < message.t) await new Promise((resolve) => setTimeout(resolve, Math.min(200, message.t - Date.now())));
        if (!running) return;
        await gateway.publishAsync(message.topic, encodeBatch(message.payload), { qos: message.qos, retain: message.retain });
        published++;
        lastPublishedAt = Date.now();
      }
    })();
    stops.push(async () => {
      running = false;
      await feed.catch(() => {});
      await gateway.endAsync(true);
    });
    // the history in InfluxDB before a page asks /series for it (bounded: a slow machine starts with less)
    await Promise.race([historyDone.then(() => ingest.flush()), new Promise((resolve) => setTimeout(resolve, 20_000))]);
    const stopDataPath = async (): Promise<number> => {
      await stop();
      stops.length = 0;
      return lastPublishedAt;
    };
    const stopAll = async (): Promise<void> => {
      await stop();
      await stopDashboard?.().catch(() => {});
    };
    return { registry, dashboard, tokens, faultAt, published: () => published, stopDataPath, stop: stopAll };
  } catch (err) {
    await stop();
    await stopDashboard?.().catch(() => {});
    throw err;
  }
}
