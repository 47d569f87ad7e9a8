/**
 * The spine, end to end with real parts on loopback: simulated plants (a node-opcua server and a Modbus TCP server)
 * -> one gateway per protocol -> aedes -> ingest -> a real influxd. What users rely on: every reading a gateway
 * published is in InfluxDB exactly once, with its value and timestamp, whichever protocol it came through.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { QUANTITIES, unitFactor } from '../../core/catalog.ts';
import { decodeBatch, type ReadingBatch } from '../../core/reading.ts';
import { topics } from '../../bus/topics.ts';
import { startBroker, type RunningBroker } from '../../bus/broker.ts';
import { simulatorLayout } from '../../simulators/layout.ts';
import { startOpcuaSimulator } from '../../simulators/servers/opcua.ts';
import { startModbusSimulator } from '../../simulators/servers/modbus.ts';
import { parseGatewayConfig } from '../../gateway/config.ts';
import { startGateway } from '../../gateway/main.ts';
import { parseIngestConfig } from '../../ingest/config.ts';
import { startIngest } from '../../ingest/service.ts';
import { startInfluxd, type RunningInflux } from '../harness/influxd.ts';
import { freePort } from '../harness/ports.ts';
import { demoPlants } from '../harness/plants.ts';

const registry = demoPlants();
const layout = simulatorLayout(registry);
const DB = 'e2e';
const INTERVAL_MS = 500;

/** plant/meter/quantity/ts -> value, the identity of a reading in InfluxDB. */
type Key = string;
const keyOf = (plant: string, meter: string, quantity: string, ts: number): Key => `${plant}|${meter}|${quantity}|${ts}`;

describe('simulated plants -> OPC UA and Modbus gateways -> MQTT -> ingest -> InfluxDB', () => {
  let influx: RunningInflux;
  let broker: RunningBroker;
  let workDir: string;
  const published: { topic: string; batch: ReadingBatch }[] = [];

  beforeAll(async () => {
    workDir = mkdtempSync(path.join(tmpdir(), 'cleanstream-e2e-'));
    influx = await startInfluxd();
    broker = await startBroker();
    const opcuaSim = await startOpcuaSimulator({ registry, seed: 42, port: await freePort(), pkiDir: path.join(workDir, 'pki'), updateIntervalMs: INTERVAL_MS });
    const modbusSim = await startModbusSimulator({ registry, seed: 42, port: await freePort(), updateIntervalMs: INTERVAL_MS });

    // An independent observer: what the gateways actually put on the wire.
    const observer = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    observer.on('message', (topic, payload) => published.push({ topic, batch: decodeBatch(payload) }));
    await observer.subscribeAsync(topics.readingsFilter(), { qos: 1 });

    const ingest = await startIngest(
      parseIngestConfig('e2e ingest', {
        mqtt: { url: broker.url },
        clientId: 'e2e-ingest',
        influx: { url: influx.url, database: DB },
        batch: { maxLines: 500, maxDelayMs: 200 },
      }),
      { registry },
    );

    // Paper and steel through OPC UA, dyeing through Modbus: every plant read once, both drivers exercised.
    const viaOpcua = new Set(['paper-01', 'steel-01']);
    const opcuaGateway = await startGateway(
      parseGatewayConfig('e2e gw-opcua', {
        id: 'gw-opcua',
        mqtt: { url: broker.url, clientId: 'gw-opcua' },
        dataDir: path.join(workDir, 'gw-opcua'),
        inputs: [{
          type: 'opcua',
          endpoint: opcuaSim.endpoint,
          publishingIntervalMs: INTERVAL_MS,
          nodes: layout.filter((p) => viaOpcua.has(p.plant)).map((p) => ({ nodeId: p.opcua.nodeId, plant: p.plant, meter: p.meter, quantity: p.quantity, unit: p.unit, samplingIntervalMs: INTERVAL_MS })),
        }],
      }),
    );
    const modbusGateway = await startGateway(
      parseGatewayConfig('e2e gw-modbus', {
        id: 'gw-modbus',
        mqtt: { url: broker.url, clientId: 'gw-modbus' },
        dataDir: path.join(workDir, 'gw-modbus'),
        inputs: [{
          type: 'modbus',
          host: modbusSim.host,
          port: modbusSim.port,
          pollIntervalMs: INTERVAL_MS,
          registers: layout.filter((p) => !viaOpcua.has(p.plant)).map((p) => ({ plant: p.plant, meter: p.meter, quantity: p.quantity, unit: p.unit, ...p.modbus })),
        }],
      }),
    );

    await new Promise((r) => setTimeout(r, 6_000));

    await opcuaGateway.flush();
    await modbusGateway.flush();
    await opcuaGateway.stop();
    await modbusGateway.stop();
    await new Promise((r) => setTimeout(r, 300)); // let the observer and ingest receive the last PUBACKed batches
    await ingest.flush();
    await ingest.stop();
    await observer.endAsync();
    await opcuaSim.stop();
    await modbusSim.stop();
  }, 90_000);

  afterAll(async () => {
    await broker?.stop();
    await influx?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('published readings from both protocols and all three plants', () => {
    const gateways = new Set(published.map((p) => p.batch.gateway));
    expect(gateways).toEqual(new Set(['gw-opcua', 'gw-modbus']));
    expect(new Set(published.map((p) => p.batch.plant))).toEqual(new Set(['paper-01', 'dyeing-01', 'steel-01']));
    // Several scans per gateway, so that "exactly once" is tested across batches, not within one.
    for (const gw of gateways) expect(published.filter((p) => p.batch.gateway === gw).length).toBeGreaterThanOrEqual(6);
  });

  it('holds every published reading exactly once, with its value and timestamp', async () => {
    const expected = new Map<Key, number | null>();
    let publishedCount = 0;
    for (const { batch } of published) {
      for (const r of batch.readings) {
        publishedCount++;
        const value = r.value === null ? null : r.value * (unitFactor(r.quantity, r.unit) ?? NaN);
        expected.set(keyOf(batch.plant, r.meter, r.quantity, r.ts), value);
      }
    }
    // No reading was published twice (else "exactly once" in InfluxDB would hide a duplicate).
    expect(expected.size).toBe(publishedCount);

    const stored = new Map<Key, number | null>();
    let storedCount = 0;
    for (const measurement of ['water', 'energy', 'emissions', 'production']) {
      const rows = await influx.query<Record<string, unknown>>(`SELECT * FROM "${measurement}" GROUP BY "plant", "meter"`, DB);
      for (const row of rows) {
        for (const [column, cell] of Object.entries(row)) {
          if (!(column in QUANTITIES) || cell === null) continue;
          storedCount++;
          stored.set(keyOf(row.plant as string, row.meter as string, column, row.time as number), cell as number);
        }
        // a value-less bad reading is stored as its quality alone
        for (const [column, cell] of Object.entries(row)) {
          if (!column.endsWith('_quality') || cell === null) continue;
          const quantity = column.slice(0, -'_quality'.length);
          if (row[quantity] === null || row[quantity] === undefined) {
            storedCount++;
            stored.set(keyOf(row.plant as string, row.meter as string, quantity, row.time as number), null);
          }
        }
      }
    }
    expect(storedCount).toBe(publishedCount);
    expect(stored).toEqual(expected);
  });
});
