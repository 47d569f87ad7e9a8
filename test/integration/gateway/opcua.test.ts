/**
 * A real node-opcua server -> the gateway's OPC UA input -> the embedded broker -> a test subscriber.
 * What users rely on: every value the server served arrives as a Reading with that value and its SourceTimestamp,
 * in one batch per plant on readings/{plant}/{gateway}; the gateway announces itself online/offline; a server that
 * is down when the gateway starts is picked up once it comes up; and data resumes after the server restarts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { freePort } from '../../harness/ports.ts';
import { decodeBatch, type ReadingBatch } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { parseGatewayConfig } from '../../../gateway/config.ts';
import { startGateway } from '../../../gateway/main.ts';
import { startTestOpcuaServer, type TestOpcuaServer } from './servers.ts';
import { until } from '../../harness/wait.ts';

const INTERVAL_MS = 200;
const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

/** Deterministic per-variable values, distinct per tick, and physically possible for each point (a pH below 14). */
const valueAt = (name: string, tick: number): number => (name.length * 1000 + (tick / INTERVAL_MS) % 1000) / 1000;

const POINTS = [
  { name: 'paper-cod', plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', unit: 'mg/L' },
  { name: 'paper-ph', plant: 'paper-01', meter: 'outfall-1-ph', quantity: 'ph', unit: 'pH' },
  { name: 'steel-so2', plant: 'steel-01', meter: 'stack-1-cems', quantity: 'so2', unit: 'mg/m3' },
];


describe('OPC UA server -> gateway -> MQTT', () => {
  let workDir: string;
  let broker: RunningBroker;
  let observer: mqtt.MqttClient;
  const received: { topic: string; batch: ReadingBatch }[] = [];
  const status: string[] = [];

  beforeAll(async () => {
    workDir = mkdtempSync(path.join(tmpdir(), 'cs-gw-opcua-'));
    broker = await startBroker();
    observer = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    observer.on('message', (topic, payload) => {
      if (topic.startsWith(topics.status(''))) status.push(`${topic.split('/').pop()}=${payload.toString()}`);
      else received.push({ topic, batch: decodeBatch(payload) });
    });
    await observer.subscribeAsync([topics.readingsFilter(), `${topics.status('+')}`], { qos: 1 });
  });

  afterAll(async () => {
    await observer?.endAsync();
    await broker?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  function gatewayConfig(id: string, endpoint: string) {
    return parseGatewayConfig(`test ${id}`, {
      id,
      mqtt: { url: broker.url },
      dataDir: path.join(workDir, id),
      inputs: [{ type: 'opcua', endpoint, publishingIntervalMs: INTERVAL_MS, nodes: POINTS.map((p) => ({ nodeId: `ns=1;s=${p.name}`, plant: p.plant, meter: p.meter, quantity: p.quantity, unit: p.unit })) }],
    });
  }

  it('publishes the served values with their source timestamps, one batch per plant', async () => {
    const server = await startTestOpcuaServer({ port: await freePort(), pkiDir: path.join(workDir, 'server-pki'), names: POINTS.map((p) => p.name), intervalMs: INTERVAL_MS, valueAt });
    const acked: ReadingBatch[] = [];
    const gateway = await startGateway(gatewayConfig('gw-opcua-a', server.endpoint), { logger, onPublished: (_topic, batch) => acked.push(batch) });
    try {
      const mine = () => received.filter((r) => r.batch.gateway === 'gw-opcua-a');
      await until('batches for both plants over several publish cycles', () => new Set(mine().map((r) => r.batch.readings[0]?.ts)).size >= 6 && new Set(mine().map((r) => r.batch.plant)).size === 2, 20_000);
      await gateway.flush();
      const stats = gateway.stats();
      expect(stats.inputs[0]).toMatchObject({ type: 'opcua', state: 'connected', errors: 0 });
      await gateway.stop();
      await until('the last acknowledged batches', () => mine().length >= acked.length, 2_000);

      const batches = mine();
      expect(batches.length).toBe(acked.length);
      for (const { topic, batch } of batches) {
        expect(topic).toBe(topics.readings(batch.plant, 'gw-opcua-a'));
        const plantPoints = POINTS.filter((p) => p.plant === batch.plant);
        expect(batch.readings.length).toBeGreaterThan(0);
        for (const reading of batch.readings) {
          const point = plantPoints.find((p) => p.meter === reading.meter && p.quantity === reading.quantity);
          expect(point, `${batch.plant}/${reading.meter}/${reading.quantity} is one of this plant's nodes`).toBeDefined();
          expect(reading.quality).toBe('good');
          expect(reading.unit).toBe(point!.unit);
          // The value is exactly what the server held at that SourceTimestamp.
          expect(server.history.get(`ns=1;s=${point!.name}`)!.get(reading.ts)).toBe(reading.value);
        }
      }
      // Several publish cycles arrived, each as its own batch per plant, numbered in order.
      const seqs = batches.map((b) => b.batch.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      // and per plant by plantSeq, 0, 1, 2... without gaps (a consumer owning one plant sees no holes)
      for (const plant of ['paper-01', 'steel-01']) {
        const plantSeqs = batches.filter((b) => b.batch.plant === plant).map((b) => b.batch.plantSeq);
        expect(plantSeqs, plant).toEqual(plantSeqs.map((_, i) => i));
      }
      // All three variables were seen.
      const seen = new Set(batches.flatMap((b) => b.batch.readings.map((r) => `${b.batch.plant}/${r.meter}`)));
      expect(seen.size).toBe(3);
      await until('online then offline status', () => status.includes('gw-opcua-a=online') && status.at(-1) === 'gw-opcua-a=offline', 2_000);
    } finally {
      await gateway.stop();
      await server.stop();
    }
  });

  it('starts while the server is down, publishes once the server comes up, and reports a node the server lacks', async () => {
    const port = await freePort();
    const endpoint = `opc.tcp://127.0.0.1:${port}`;
    const config = gatewayConfig('gw-opcua-b', endpoint);
    const input = config.inputs[0]!;
    if (input.type !== 'opcua') throw new Error('expected an opcua input');
    input.nodes.push({ nodeId: 'ns=1;s=no-such-node', plant: 'paper-01', meter: 'outfall-1-flow', quantity: 'wastewater_flow', unit: 'm3/h' });
    const logLines: { code?: string; context?: { nodeId?: string } }[] = [];
    const capture = pino({ level: 'warn' }, { write: (line: string) => logLines.push(JSON.parse(line) as (typeof logLines)[number]) });
    const gateway = await startGateway(config, { logger: capture });
    let server: TestOpcuaServer | undefined;
    try {
      await until('a reported connection failure', () => gateway.stats().inputs[0]!.errors > 0, 10_000);
      expect(gateway.stats().inputs[0]!.state).not.toBe('connected');
      expect(received.filter((r) => r.batch.gateway === 'gw-opcua-b')).toHaveLength(0);
      server = await startTestOpcuaServer({ port, pkiDir: path.join(workDir, 'server-pki-b'), names: POINTS.map((p) => p.name), intervalMs: INTERVAL_MS, valueAt });
      await until('readings after the server came up', () => received.some((r) => r.batch.gateway === 'gw-opcua-b' && r.batch.readings.some((x) => x.quality === 'good')), 20_000);
      expect(gateway.stats().inputs[0]!.state).toBe('connected');
      expect(logLines.some((l) => l.code === 'OPCUA_MONITOR' && l.context?.nodeId === 'ns=1;s=no-such-node')).toBe(true);
      expect(logLines.some((l) => l.code === 'OPCUA_CONNECT')).toBe(true);
    } finally {
      await gateway.stop();
      await server?.stop();
    }
  });
  it('resumes publishing the served values of every node after the server restarts', async () => {
    const port = await freePort();
    const pkiDir = path.join(workDir, 'server-pki-c');
    const names = POINTS.map((p) => p.name);
    let server = await startTestOpcuaServer({ port, pkiDir, names, intervalMs: INTERVAL_MS, valueAt });
    const gateway = await startGateway(gatewayConfig('gw-opcua-c', server.endpoint), { logger });
    try {
      const mine = () => received.filter((r) => r.batch.gateway === 'gw-opcua-c');
      await until('first readings', () => mine().length > 0, 20_000);
      await server.stop();
      const restartedAt = Date.now();
      server = await startTestOpcuaServer({ port, pkiDir, names, intervalMs: INTERVAL_MS, valueAt });
      const afterRestart = () => mine().flatMap((r) => r.batch.readings.map((x) => ({ plant: r.batch.plant, topic: r.topic, ...x }))).filter((x) => x.ts > restartedAt);
      // every node monitored again (not one that happened to come back), over several publish cycles
      await until('several readings of every point from the restarted server', () => POINTS.every((p) => afterRestart().filter((x) => x.meter === p.meter).length >= 3), 30_000);
      expect(gateway.stats().inputs[0]!.state).toBe('connected');
      for (const p of POINTS) {
        const readings = afterRestart().filter((x) => x.meter === p.meter);
        for (const x of readings) {
          // the value the restarted server served at that source timestamp, on its plant's topic
          expect(x, p.name).toMatchObject({ plant: p.plant, topic: topics.readings(p.plant, 'gw-opcua-c'), quantity: p.quantity, unit: p.unit, quality: 'good', value: valueAt(p.name, x.ts) });
        }
        // values that keep changing, not one value repeated
        expect(new Set(readings.map((x) => x.value)).size, p.name).toBeGreaterThanOrEqual(3);
      }
    } finally {
      await gateway.stop();
      await server.stop();
    }
  });
});
