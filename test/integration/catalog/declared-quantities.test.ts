/**
 * A plant's own quantities, declared in one catalog file and used by every stage through real servers: a Modbus
 * device (pymodbus, a server we did not write) holds a water temperature and a pump's run coil; the gateway reads
 * them under their declared names, ingest writes them to a real influxd in the declared measurement, the rules
 * service raises a limit alert on the temperature, and the dashboards API lists them with their units, range and the
 * meaning of the pump's 0 and 1. What users rely on: a quantity the built-in catalog does not have can be brought in
 * by declaring it, and is then checked like a built-in one (a temperature above its physical range is stored as a bad
 * reading with the value kept as evidence, not as a value).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { chromium } from 'playwright-core';
import { pino } from 'pino';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { topics } from '../../../bus/topics.ts';
import { clearDeclaredQuantities } from '../../../core/catalog.ts';
import { loadPlantRegistry } from '../../../core/plants.ts';
import { loadGatewayConfig } from '../../../gateway/config.ts';
import { startGateway, type RunningGateway } from '../../../gateway/main.ts';
import { loadIngestConfig } from '../../../ingest/config.ts';
import { startIngest, type Ingest } from '../../../ingest/service.ts';
import { startRules, type RulesService } from '../../../rules/service.ts';
import type { Alert } from '../../../rules/alerts.ts';
import { TokenStore } from '../../../dashboards/auth.ts';
import { startDashboard, type RunningDashboard } from '../../../dashboards/server.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { canConnect, freePort } from '../../harness/ports.ts';
import { spawnServer, type SpawnedServer } from '../../harness/spawn.ts';
import { until } from '../../harness/wait.ts';

const DEBIAN_PYTHON = '/usr/bin/python3';
const PYMODBUS_SERVER = path.join(import.meta.dirname, '..', 'gateway', 'pymodbus_server.py');
const DB = 'catalog';
const POLL_MS = 200;
const CHROMIUM = '/usr/bin/chromium';

const CATALOG = `quantities:
  - name: water_temperature
    measurement: water
    unit: degC
    range: [0, 100]
    hj212: w01010
    label: { zh: 水温, en: Water temperature }
  - name: pump_running
    measurement: production
    kind: state
    states: { 0: { zh: 停止, en: stopped }, 1: { zh: 运行, en: running } }
    label: { zh: 提升泵运行, en: Lift pump running }
`;

const PLANTS = `catalog: plant-quantities.yaml
regions: [{ id: zhejiang, name: { en: Zhejiang, zh: 浙江 } }]
plants:
  - id: dyeing-01
    name: { en: Dyeing works, zh: 印染厂 }
    region: zhejiang
    industry: textile-dyeing
    outfalls: [{ id: outfall-1 }]
    meters:
      - { id: outfall-1-temp, location: outfall-1, quantities: [water_temperature] }
      - { id: lift-pump, location: outfall-1, quantities: [pump_running] }
`;

describe('declared quantities: pymodbus -> gateway -> MQTT -> ingest -> InfluxDB, rules, dashboards', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cs-catalog-'));
  let device: SpawnedServer | undefined;
  let devicePort = 0;
  let broker: RunningBroker;
  let influx: RunningInflux;
  let gateway: RunningGateway | undefined;
  let ingest: Ingest | undefined;
  let rules: RulesService | undefined;
  let dashboard: RunningDashboard | undefined;
  let watcher: MqttClient | undefined;
  const alerts: Alert[] = [];
  const tokens = new TokenStore();
  const admin = tokens.generate({ name: 'admin', role: 'admin' }).token;

  beforeAll(async () => {
    writeFileSync(path.join(dir, 'plant-quantities.yaml'), CATALOG);
    writeFileSync(path.join(dir, 'plants.yaml'), PLANTS);
    const port = (devicePort = await freePort());
    // 21.5 °C, then 45 °C (over the 40 °C limit below), then 150 °C (beyond the declared physical range); pump on
    const spec = { port, holding: [{ type: 'float32', byteorder: 'big', wordorder: 'big', address: 0, value: 21.5 }], coils: [true], size: 20 };
    device = await spawnServer('pymodbus', DEBIAN_PYTHON, [PYMODBUS_SERVER, JSON.stringify(spec)], () => canConnect(port));
    [broker, influx] = await Promise.all([startBroker(), startInfluxd()]);

    writeFileSync(
      path.join(dir, 'gateway.yaml'),
      `id: gw-plant
catalog: plant-quantities.yaml
mqtt: { url: "${broker.url}", clientId: gw-plant }
dataDir: ${JSON.stringify(path.join(dir, 'gw'))}
health: { intervalMs: 0 }
inputs:
  - type: modbus
    host: 127.0.0.1
    port: ${port}
    pollIntervalMs: ${POLL_MS}
    timeoutMs: 500
    registers:
      - { plant: dyeing-01, meter: outfall-1-temp, quantity: water_temperature, unit: degC, area: holding, address: 0, type: float32 }
      - { plant: dyeing-01, meter: lift-pump, quantity: pump_running, unit: state, area: coil, address: 0, type: bool }
`,
    );
    writeFileSync(
      path.join(dir, 'ingest.yaml'),
      `catalog: plant-quantities.yaml
plants: plants.yaml
mqtt: { url: "${broker.url}" }
clientId: catalog-ingest
influx: { url: "${influx.url}", database: ${DB} }
batch: { maxLines: 100, maxDelayMs: 100 }
`,
    );
    const registry = loadPlantRegistry(path.join(dir, 'plants.yaml'));
    ingest = await startIngest(loadIngestConfig(path.join(dir, 'ingest.yaml')), { registry });
    rules = await startRules(
      {
        mqtt: { url: broker.url, protocolVersion: 4 },
        influx: { url: influx.url, database: DB },
        eventTime: { allowedLatenessMs: 0 },
        tickMs: 100,
        checkpoint: { file: path.join(dir, 'rules-checkpoint.json') },
        rules: [{ id: 'temperature-high', kind: 'limit', severity: 'minor', selector: { quantity: 'water_temperature' }, limit: { max: 40 } }],
      },
      { registry, logger: pino({ level: 'silent' }) },
    );
    watcher = await connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 });
    watcher.on('message', (_t, payload) => {
      if (payload.length) alerts.push(JSON.parse(payload.toString()) as Alert);
    });
    await watcher.subscribeAsync(topics.alert('dyeing-01', 'temperature-high', '+'), { qos: 1 });
    gateway = await startGateway(loadGatewayConfig(path.join(dir, 'gateway.yaml')), { logger: pino({ level: 'silent' }) });
    dashboard = await startDashboard({ registry, tokens, influx: { url: influx.url, database: DB }, mqtt: { url: broker.url }, host: '127.0.0.1', port: await freePort(), logger: false });
  }, 60_000);

  afterAll(async () => {
    await gateway?.stop();
    await dashboard?.stop();
    await rules?.stop();
    await ingest?.stop();
    await watcher?.endAsync();
    await device?.stop();
    await Promise.all([broker?.stop(), influx?.stop()]);
    clearDeclaredQuantities();
    rmSync(dir, { recursive: true, force: true });
  });

  const rows = async (measurement: string, field: string): Promise<Record<string, unknown>[]> => {
    await ingest!.flush();
    return influx.query<Record<string, unknown>>(`SELECT * FROM "${measurement}" WHERE "${field}_quality" <> '' GROUP BY "meter"`, DB).catch(() => []);
  };

  it('writes the declared temperature and pump state to their declared measurements', async () => {
    // good rows: a scan before the gateway's first connection to the device is a bad reading, as it should be
    const water = await until('a good temperature row in water', async () => (await rows('water', 'water_temperature')).find((r) => r.water_temperature_quality === 'good'), 20_000);
    expect(water).toMatchObject({ meter: 'outfall-1-temp', plant: 'dyeing-01', water_temperature: 21.5 });
    const pump = await until('a good pump row in production', async () => (await rows('production', 'pump_running')).find((r) => r.pump_running_quality === 'good'), 20_000);
    expect(pump).toMatchObject({ meter: 'lift-pump', plant: 'dyeing-01', pump_running: 1 });
  });

  it('raises a limit alert on the declared temperature, naming it and its unit', async () => {
    await device!.stop();
    device = undefined;
    const port = devicePort;
    const spec = { port, holding: [{ type: 'float32', byteorder: 'big', wordorder: 'big', address: 0, value: 45 }], coils: [false], size: 20 };
    device = await spawnServer('pymodbus', DEBIAN_PYTHON, [PYMODBUS_SERVER, JSON.stringify(spec)], () => canConnect(port));
    const raised = await until('a raised temperature alert', () => alerts.find((a) => a.state === 'raised'), 30_000);
    expect(raised).toMatchObject({ rule: 'temperature-high', plant: 'dyeing-01', meter: 'outfall-1-temp', quantity: 'water_temperature', limit: 40, value: 45 });
    expect(raised.message.zh).toContain('水温');
    expect(raised.message.en).toContain('degC');
  });

  it('stores a temperature beyond the declared physical range as a bad reading, its value kept as evidence', async () => {
    await device!.stop();
    device = undefined;
    const port = devicePort;
    const spec = { port, holding: [{ type: 'float32', byteorder: 'big', wordorder: 'big', address: 0, value: 150 }], coils: [false], size: 20 };
    device = await spawnServer('pymodbus', DEBIAN_PYTHON, [PYMODBUS_SERVER, JSON.stringify(spec)], () => canConnect(port));
    const bad = await until('an out_of_range row', async () => (await rows('water', 'water_temperature')).find((r) => r.water_temperature_reason === 'out_of_range'), 20_000);
    expect(bad).toMatchObject({ water_temperature: null, water_temperature_quality: 'bad', water_temperature_rejected: 150 });
  });

  it('lists the declared quantities in the dashboards API with unit, range, HJ 212 code and the meaning of 0 and 1', async () => {
    const res = await fetch(`${dashboard!.url}/api/plants`, { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { quantities: Record<string, unknown>[] };
    expect(body.quantities).toEqual(
      expect.arrayContaining([
        { id: 'water_temperature', domain: 'water', label: { en: 'Water temperature', zh: '水温' }, unit: 'degC', kind: 'gauge', range: [0, 100], hj212: 'w01010', declared: true },
        {
          id: 'pump_running',
          domain: 'production',
          label: { en: 'Lift pump running', zh: '提升泵运行' },
          unit: 'state',
          kind: 'state',
          range: [0, 1],
          states: { 0: { en: 'stopped', zh: '停止' }, 1: { en: 'running', zh: '运行' } },
          declared: true,
        },
      ]),
    );
    const series = await fetch(`${dashboard!.url}/api/plants/dyeing-01/series?quantity=water_temperature&from=${Date.now() - 600_000}`, { headers: { authorization: `Bearer ${admin}` } });
    expect(series.status).toBe(200);
    expect(((await series.json()) as { unit: string }).unit).toBe('degC');
  });

  it.skipIf(!existsSync(CHROMIUM))('shows the declared quantities on the plant page, the pump as what its state means', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
    try {
      const page = await (await browser.newContext({ locale: 'zh-CN' })).newPage();
      await page.goto(`${dashboard!.url}/?token=${encodeURIComponent(admin)}#/plant/dyeing-01`);
      const pump = page.locator('[data-key="lift-pump/pump_running"]');
      // the coil is off since the device restarted: 停止 (stopped), not 0
      await expect.poll(() => pump.locator('.num').textContent(), { timeout: 15_000 }).toBe('停止');
      expect(await pump.textContent()).toContain('提升泵运行');
      expect(await page.locator('[data-key="outfall-1-temp/water_temperature"]').textContent()).toContain('水温');
    } finally {
      await browser.close();
    }
  });
});
