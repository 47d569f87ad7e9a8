/**
 * Rules benchmark: 1,000 plants × 20 meters (20,000 series).
 *
 *   1. engine, in-process, one core: evaluations/s (readings × rules bound to each reading's series) with 10 and
 *      with 100 rules per plant, and the RSS it took;
 *   2. alert latency through a broker (Mosquitto when installed, else the embedded aedes): readings published at a
 *      bounded rate (default 50,000 readings/s) into the rules service; now and then one meter steps over its limit
 *      and back; latency = alert received on the alert topic − event time of the reading that caused it (set to
 *      the wall clock at publish), p50/p99.
 *
 * The publisher, the alert watcher and the rules service share this process (Mosquitto runs apart), so the latency
 * includes the publisher's own CPU use on a 2-core machine.
 *
 * Prints figures; it is not a test. Run: node bin/run-ts.js bench/rules.ts [--help]
 */
import { parseArgs } from 'node:util';
import { connectAsync } from 'mqtt';
import { pino } from 'pino';
import { existsSync } from 'node:fs';
import { plantRegistryFrom, type PlantRegistry } from '../core/plants.ts';
import { encodeBatch, type BatchReading, type ReadingBatch } from '../core/reading.ts';
import { topics } from '../core/topics.ts';
import { startBroker } from '../deploy/broker.ts';
import type { Alert } from '../rules/alerts.ts';
import { parseRules, type RuleConfig } from '../rules/config.ts';
import { RulesEngine } from '../rules/engine.ts';
import { loadLimitsCatalog } from '../rules/limits/catalog.ts';
import { startRules } from '../rules/service.ts';
import { MOSQUITTO, startMosquitto } from '../test/harness/mosquitto.ts';
import { freePort } from '../test/harness/ports.ts';

const HELP = `usage: node bin/run-ts.js bench/rules.ts [options]

options:
  --plants N            plants (default 1000)
  --meters N            meters per plant, one COD series each (default 20)
  --rules LIST          rules per plant for the engine runs, or none (default 10,100)
  --engine-seconds S    time bound of each engine run (default 5)
  --latency-seconds S   publishing time of the latency run; 0 skips it (default 10)
  --rate R              readings/s offered in the latency run (default 50000)
  --broker B            mosquitto or aedes (default mosquitto when installed)
  --help                this text`;

const { values: args } = parseArgs({
  options: {
    plants: { type: 'string' },
    meters: { type: 'string' },
    rules: { type: 'string' },
    'engine-seconds': { type: 'string' },
    'latency-seconds': { type: 'string' },
    rate: { type: 'string' },
    broker: { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
const num = (v: string | undefined, d: number): number => {
  const n = v === undefined ? d : Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`expected a non-negative number, got ${v}`);
  return n;
};
const PLANTS = num(args.plants, 1000);
const METERS = num(args.meters, 20);
const RULE_COUNTS = args.rules === 'none' ? [] : (args.rules ?? '10,100').split(',').map((s) => num(s, 10));
const ENGINE_SECONDS = num(args['engine-seconds'], 5);
const LATENCY_SECONDS = num(args['latency-seconds'], 10);
const RATE = num(args.rate, 50_000);
/** Event time between two scans of a meter in the engine runs (windows hold a handful of samples, as with minute data). */
const SCAN_MS = 10_000;

function registry(): PlantRegistry {
  return plantRegistryFrom('bench plants', {
    regions: [{ id: 'bench', name: { en: 'Bench', zh: '基准' } }],
    plants: Array.from({ length: PLANTS }, (_, p) => ({
      id: `plant-${p}`,
      name: { en: `Plant ${p}`, zh: `工厂${p}` },
      region: 'bench',
      industry: 'pulp-paper',
      category: 'integrated',
      outfalls: [{ id: 'outfall-1' }],
      meters: Array.from({ length: METERS }, (_, m) => ({ id: `m${m}`, location: 'outfall-1', quantities: ['cod'] })),
    })),
  });
}

/** N rules on every series, of every kind, thresholds varied so that normal values (about 50) raise nothing. */
function ruleInputs(n: number): Record<string, unknown>[] {
  const make = (i: number): Record<string, unknown> => {
    const id = `r${String(i).padStart(3, '0')}`;
    const base = { id, severity: 'major', selector: { quantity: 'cod' } };
    const k = i % 10;
    const bump = Math.floor(i / 10);
    switch (k) {
      case 0: return { ...base, kind: 'limit', limit: { max: 100 + bump }, clear: { below: 90 + bump } };
      case 1: return { ...base, kind: 'limit', limit: 'catalog', clear: { deadbandPct: 5 } };
      case 2: return { ...base, kind: 'limit', limit: { max: 100 + bump }, averaging: { meanOverMs: 3_600_000, minSamples: 10 } };
      case 3: return { ...base, kind: 'sustained', limit: { max: 95 + bump }, forMs: 1_800_000 };
      case 4: return { ...base, kind: 'rate', maxPerMinute: 500 + bump, windowMs: 60_000 };
      case 5: return { ...base, kind: 'flatline', epsilon: 0.000_001, samples: 50 + bump };
      case 6: return { ...base, kind: 'quality', windowMs: 60_000, maxShare: 0.5 };
      case 7: return { ...base, kind: 'limit', limit: { min: 0, max: 1000 + bump } };
      case 8: return { ...base, kind: 'sustained', limit: { max: 150 + bump }, forMs: 600_000 };
      default: return { ...base, kind: 'rate', maxPerMinute: 1000 + bump, direction: 'rise', windowMs: 300_000 };
    }
  };
  return Array.from({ length: n }, (_, i) => make(i));
}

function rules(n: number): RuleConfig[] {
  return parseRules('bench rules', ruleInputs(n));
}

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(0)} MB`;
}

function engineRun(reg: PlantRegistry, ruleCount: number): { readings: number; evaluations: number; seconds: number; bindSeconds: number; perSecond: number; rssBefore: number; rssAfter: number; transitions: number } {
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let transitions = 0;
  const engine = new RulesEngine({ rules: rules(ruleCount), limits: loadLimitsCatalog(), registry: reg, allowedLatenessMs: 0, clock: () => 0, onTransition: () => void transitions++ });
  const batches: ReadingBatch[] = reg.plants.map((p) => ({
    v: 1,
    gateway: `gw-${p.id}`,
    plant: p.id,
    seq: 0,
    sentAt: 0,
    readings: p.meters.map((m): BatchReading => ({ meter: m.id, quantity: 'cod', value: 50, unit: 'mg/L', ts: 0, quality: 'good' })),
  }));
  let seed = 1;
  const noise = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 10;
  const scan = (step: number): number => {
    const ts = 1_700_000_000_000 + step * SCAN_MS;
    let n = 0;
    for (const b of batches) {
      for (const r of b.readings) {
        r.ts = ts;
        r.value = 45 + noise();
      }
      engine.ingestBatch(b);
      n += b.readings.length;
    }
    return n;
  };
  // The first scan binds every series to its rules (operators and alert slots are made once): timed apart.
  const bindStart = process.hrtime.bigint();
  scan(0);
  const bindSeconds = Number(process.hrtime.bigint() - bindStart) / 1e9;
  let readings = 0;
  const start = process.hrtime.bigint();
  const deadline = Date.now() + ENGINE_SECONDS * 1000;
  for (let step = 1; Date.now() < deadline && step < 1_000_000; step++) readings += scan(step);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const rssAfter = process.memoryUsage().rss;
  const evaluations = readings * ruleCount;
  return { readings, evaluations, seconds, bindSeconds, perSecond: evaluations / seconds, rssBefore, rssAfter, transitions };
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function latencyRun(reg: PlantRegistry): Promise<void> {
  const useMosquitto = (args.broker ?? (existsSync(MOSQUITTO) ? 'mosquitto' : 'aedes')) === 'mosquitto';
  const broker = useMosquitto ? await startMosquitto() : await startBroker();
  const rulesService = await startRules(
    {
      mqtt: { url: broker.url, protocolVersion: 4 },
      clientId: 'bench-rules',
      influx: { url: `http://127.0.0.1:${await freePort()}`, database: 'bench', createDatabase: false },
      eventTime: { allowedLatenessMs: 0 },
      rules: ruleInputs(10) as never,
    },
    { registry: reg, logger: pino({ level: 'silent' }) },
  ).catch(async (err: unknown) => {
    await broker.stop();
    throw err;
  });
  const latencies: number[] = [];
  const watcher = await connectAsync(broker.url, { protocolVersion: 4, clientId: 'bench-alert-watcher' });
  watcher.on('message', (_t, payload, packet) => {
    if (packet.retain) return;
    const a = JSON.parse(payload.toString('utf8')) as Alert;
    if (a.rule !== 'r000') return;
    latencies.push(Date.now() - (a.state === 'cleared' ? a.clearedAt! : a.raisedAt));
  });
  await watcher.subscribeAsync(topics.alertsFilter(), { qos: 1 });
  const publisher = await connectAsync(broker.url, { protocolVersion: 4, clientId: 'bench-feed' });

  const messagesPerSecond = RATE / METERS;
  const seqs = new Array<number>(PLANTS).fill(0);
  /** Plants with a meter over the limit now: their next scan brings it back (clear). */
  const spiking = new Set<number>();
  let plantCursor = 0;
  let sent = 0;
  let published = 0;
  let lastSpike = 0;
  // The first scan of every plant binds its series to the rules: not measured (warm-up).
  const WARMUP_MS = 4_000;
  const start = Date.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = Date.now();
      if (now - start >= WARMUP_MS + LATENCY_SECONDS * 1000) {
        clearInterval(timer);
        resolve();
        return;
      }
      // paced by the clock, not by timer ticks, so late ticks do not lower the offered rate
      const due = Math.floor(((now - start) / 1000) * messagesPerSecond);
      for (; sent < due; sent++) {
        const p = plantCursor++ % PLANTS;
        const plant = reg.plants[p]!;
        const ts = Date.now();
        const readings: BatchReading[] = plant.meters.map((m) => ({ meter: m.id, quantity: 'cod', value: 50, unit: 'mg/L', ts, quality: 'good' }));
        if (spiking.has(p)) {
          spiking.delete(p); // back to 50: clears
        } else if (now - start > WARMUP_MS && now - lastSpike >= 20) {
          lastSpike = now; // every 20 ms one meter steps to 150 mg/L: raises
          spiking.add(p);
          readings[0]!.value = 150;
        }
        void publisher.publishAsync(topics.readings(plant.id, `gw-${plant.id}`), encodeBatch({ v: 1, gateway: `gw-${plant.id}`, plant: plant.id, seq: seqs[p]!++, sentAt: ts, readings }), { qos: 1 });
        published += readings.length;
      }
    }, 5);
  });
  const elapsed = (Date.now() - start) / 1000;
  await new Promise((r) => setTimeout(r, 1_000));
  const stats = rulesService.stats();
  latencies.sort((a, b) => a - b);
  console.log(
    JSON.stringify(
      {
        latencyRun: {
          broker: useMosquitto ? 'mosquitto' : 'aedes',
          offeredReadingsPerSecond: RATE,
          achievedReadingsPerSecond: Math.round(published / elapsed),
          judgedReadings: stats.engine.readings,
          alertsMeasured: latencies.length,
          latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN },
          rss: mb(process.memoryUsage().rss),
        },
      },
      null,
      2,
    ),
  );
  await publisher.endAsync();
  await watcher.endAsync();
  await rulesService.stop();
  await broker.stop();
}

const reg = registry();
for (const n of RULE_COUNTS) {
  const r = engineRun(reg, n);
  console.log(
    JSON.stringify({
      engineRun: {
        plants: PLANTS,
        series: PLANTS * METERS,
        rulesPerPlant: n,
        bindSeconds: Number(r.bindSeconds.toFixed(2)),
        readings: r.readings,
        seconds: Number(r.seconds.toFixed(2)),
        readingsPerSecond: Math.round(r.readings / r.seconds),
        evaluationsPerSecondPerCore: Math.round(r.perSecond),
        transitions: r.transitions,
        rss: `${mb(r.rssBefore)} → ${mb(r.rssAfter)}`,
      },
    }),
  );
}
if (LATENCY_SECONDS > 0) await latencyRun(reg);
