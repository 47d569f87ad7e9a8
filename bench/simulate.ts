/**
 * Simulator scale: 1,000 plants × 50 meters (a synthetic registry built here). Generates the gateway feed on the
 * virtual clock for a bounded number of scans or seconds and prints readings/s generated; then serves the same
 * plants over several Modbus TCP servers (at most 247 unit ids each) read back by modbus-serial clients on loopback,
 * and prints readings/s served and the process RSS. Run: node bin/run-ts.js bench/simulate.ts [--help]
 */
import { parseArgs } from 'node:util';
import ModbusModule from 'modbus-serial';
import { INDUSTRIES, plantRegistryFrom, type PlantRegistry } from '../core/plants.ts';
import type { QuantityId } from '../core/catalog.ts';
import { generateFeed } from '../simulators/feed.ts';
import { registerCount, simulatorLayout } from '../simulators/layout.ts';
import type { Scenario } from '../simulators/scenario.ts';
import { startModbusSimulator, type ModbusSimulator } from '../simulators/servers/modbus.ts';
import { freePort } from '../test/harness/ports.ts';

const HELP = `usage: node bin/run-ts.js bench/simulate.ts [options]

Generates and serves simulated meters at scale and prints readings/s.

options:
  --plants N          plants in the synthetic registry (default 1000)
  --meters N          meters per plant (default 50; one quantity each)
  --steps N           scans to generate, each one batch per plant (default 40)
  --seconds S         stop generating after S seconds (default 20)
  --serve-seconds S   read the Modbus servers for S seconds; 0 skips serving (default 10)
  --per-server N      plants (unit ids) per Modbus server, at most 247 (default 200)
  --seed N            model seed (default 1)
  --help              this text`;

function positive(name: string, text: string | undefined, fallback: number, allowZero = false): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    console.error(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}

const { values } = parseArgs({
  options: {
    plants: { type: 'string' },
    meters: { type: 'string' },
    steps: { type: 'string' },
    seconds: { type: 'string' },
    'serve-seconds': { type: 'string' },
    'per-server': { type: 'string' },
    seed: { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const plantCount = Math.floor(positive('plants', values.plants, 1000));
const meterCount = Math.floor(positive('meters', values.meters, 50));
const steps = Math.floor(positive('steps', values.steps, 40));
const seconds = positive('seconds', values.seconds, 20);
const serveSeconds = positive('serve-seconds', values['serve-seconds'], 10, true);
const perServer = Math.min(247, Math.floor(positive('per-server', values['per-server'], 200)));
const seed = Math.floor(positive('seed', values.seed, 1, true));

/** A mix like a real plant's: mostly water and energy gauges, one stack, two counters. */
const METER_QUANTITIES: QuantityId[] = ['wastewater_flow', 'cod', 'nh3n', 'ph', 'active_power', 'steam_flow', 'natural_gas_flow', 'flue_gas_flow', 'o2', 'so2', 'nox', 'particulate', 'wastewater_volume', 'active_energy'];

function syntheticRegistry(plants: number, meters: number): PlantRegistry {
  return plantRegistryFrom('synthetic registry', {
    plants: Array.from({ length: plants }, (_, p) => ({
      id: `plant-${String(p + 1).padStart(4, '0')}`,
      name: { en: `Plant ${p + 1}`, zh: `工厂${p + 1}` },
      region: 'bench',
      industry: INDUSTRIES[p % INDUSTRIES.length],
      meters: Array.from({ length: meters }, (_, m) => ({ id: `m${String(m + 1).padStart(2, '0')}`, location: 'site', quantities: [METER_QUANTITIES[m % METER_QUANTITIES.length]] })),
    })),
  });
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const registry = syntheticRegistry(plantCount, meterCount);
const startMs = Date.UTC(2024, 5, 3, 0);
console.log(`${plantCount} plants × ${meterCount} meters = ${plantCount * meterCount} points; RSS ${mb(process.memoryUsage().rss)}`);

// 1. generated: the feed a gateway would publish, on the virtual clock (one scan a minute of plant time)
{
  const scenario: Scenario = {
    source: 'bench',
    name: 'bench',
    description: '',
    seed,
    startMs,
    durationMs: steps * 60_000,
    stepMs: 60_000,
    registry,
    protocols: new Map(registry.plants.map((p) => [p.id, 'opcua'])),
    faults: [],
  };
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let messages = 0;
  let readings = 0;
  let bytes = 0;
  for (const m of generateFeed(scenario)) {
    messages++;
    readings += m.payload.readings.length;
    bytes += JSON.stringify(m).length;
    if ((messages & 255) === 0 && performance.now() > deadline) break;
  }
  const s = (performance.now() - started) / 1000;
  console.log(
    `generated: ${readings} readings in ${messages} batches (${mb(bytes)} of NDJSON) in ${s.toFixed(2)} s = ${Math.round(readings / s)} readings/s ` +
      `(virtual clock ${Math.round(((readings / (plantCount * meterCount)) * 60) / s)}× real time for the whole fleet at one scan a minute); RSS ${mb(process.memoryUsage().rss)}`,
  );
}

// 2. served: several Modbus servers, one unit id per plant, each plant's registers read in one request per scan
if (serveSeconds > 0) {
  const Client = ModbusModule.default;
  const servers: ModbusSimulator[] = [];
  const groups: PlantRegistry[] = [];
  for (let i = 0; i < registry.plants.length; i += perServer) {
    groups.push(plantRegistryFrom('synthetic registry', { plants: registry.plants.slice(i, i + perServer) }));
  }
  const clock = (): number => startMs;
  try {
    for (const group of groups) servers.push(await startModbusSimulator({ registry: group, seed, port: await freePort(), clock }));
    const units = groups.map((group) => {
      const layout = simulatorLayout(group);
      return group.plants.map((plant, i) => {
        const own = layout.filter((p) => p.plant === plant.id);
        const last = own.at(-1);
        return { unitId: i + 1, registers: last ? last.modbus.address + registerCount(last.modbus.type) : 0, points: own.length };
      });
    });
    const clients = await Promise.all(
      servers.map(async (server) => {
        const client = new Client();
        client.setTimeout(5_000);
        await client.connectTCP('127.0.0.1', { port: server.port });
        return client;
      }),
    );
    console.log(`serving on ${servers.length} Modbus servers (${servers.map((s) => s.port).join(', ')}), ≤ ${perServer} unit ids each; RSS ${mb(process.memoryUsage().rss)}`);
    const started = performance.now();
    const deadline = started + serveSeconds * 1000;
    let served = 0;
    let requests = 0;
    let errors = 0;
    // one scan loop per server connection, as one gateway per server would poll
    await Promise.all(
      clients.map(async (client, s) => {
        const own = units[s] ?? [];
        while (performance.now() < deadline) {
          for (const unit of own) {
            if (performance.now() >= deadline) break;
            client.setID(unit.unitId);
            for (let address = 0; address < unit.registers; address += 125) {
              try {
                await client.readHoldingRegisters(address, Math.min(125, unit.registers - address));
                requests++;
              } catch {
                errors++;
              }
            }
            served += unit.points;
          }
        }
      }),
    );
    const s = (performance.now() - started) / 1000;
    console.log(`served: ${served} readings in ${requests} requests (${errors} errors) in ${s.toFixed(2)} s = ${Math.round(served / s)} readings/s, ${Math.round(requests / s)} requests/s; RSS ${mb(process.memoryUsage().rss)}`);
    await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.close(() => resolve()))));
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop()));
  }
}
