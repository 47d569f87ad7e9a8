/**
 * `cleanstream simulate`: serve the plants of a registry over OPC UA and Modbus TCP until Ctrl-C, SIGTERM or --duration.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { loadPlantRegistry } from '../core/plants.ts';
import { DEFAULT_UPDATE_INTERVAL_MS } from './clock.ts';
import { registerCount, simulatorLayout } from './layout.ts';
import { startModbusSimulator } from './servers/modbus.ts';
import { startOpcuaSimulator } from './servers/opcua.ts';

export interface SimulateOptions {
  plants: string;
  seed: number;
  opcuaPort: number;
  modbusPort: number;
  host: string;
  interval: number;
  pkiDir: string;
  duration?: number;
}

function integer(flag: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max}, got ${value}`);
    return n;
  };
}

export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('serve simulated plant meters over OPC UA and Modbus TCP, deterministic for a given seed')
    .option('--plants <file>', 'plant registry whose meters are simulated', 'deploy/demo/plants.yaml')
    .option('--seed <n>', 'seed of the plant model: the same seed gives the same values at the same time', integer('--seed', 0), 1)
    .option('--opcua-port <n>', 'TCP port of the OPC UA server', integer('--opcua-port', 1, 65_535), 4840)
    .option('--modbus-port <n>', 'TCP port of the Modbus TCP server', integer('--modbus-port', 1, 65_535), 5020)
    .option('--host <addr>', 'address both servers listen on', '127.0.0.1')
    .option('--interval <ms>', 'update interval: values change at multiples of it', integer('--interval', 10), DEFAULT_UPDATE_INTERVAL_MS)
    .option('--pki-dir <dir>', "folder for the OPC UA server's certificates", 'var/pki/simulator')
    .option('--duration <s>', 'stop after this many seconds (default: run until Ctrl-C)', integer('--duration', 1))
    .action(async (opts: SimulateOptions) => {
      await runSimulate(opts);
    });
}

export async function runSimulate(opts: SimulateOptions): Promise<void> {
  const registry = loadPlantRegistry(opts.plants);
  const common = { registry, seed: opts.seed, host: opts.host, updateIntervalMs: opts.interval };
  const opcua = await startOpcuaSimulator({ ...common, port: opts.opcuaPort, pkiDir: opts.pkiDir });
  let modbus;
  try {
    modbus = await startModbusSimulator({ ...common, port: opts.modbusPort });
  } catch (err) {
    await opcua.stop();
    throw err;
  }

  const points = simulatorLayout(registry);
  console.log(`simulating ${registry.plants.length} plants, ${points.length} points, seed ${opts.seed}, values every ${opts.interval} ms`);
  console.log(`  OPC UA  ${opcua.endpoint}  (NodeIds ns=1;s=<plant>.<meter>.<quantity>, security None)`);
  console.log(`  Modbus  ${modbus.host}:${modbus.port}  (holding registers, big-endian words)`);
  registry.plants.forEach((plant, i) => {
    const own = points.filter((p) => p.plant === plant.id);
    const last = own.at(-1);
    const registers = last ? last.modbus.address + registerCount(last.modbus.type) : 0;
    console.log(`    unit ${String(i + 1).padStart(3)}  ${plant.id}  ${own.length} points in registers 0-${registers - 1}`);
  });
  console.log(opts.duration ? `  stopping after ${opts.duration} s` : '  Ctrl-C stops');

  await new Promise<void>((resolve) => {
    const timer = opts.duration ? setTimeout(done, opts.duration * 1000) : undefined;
    function done(): void {
      clearTimeout(timer);
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    }
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await Promise.allSettled([modbus.stop(), opcua.stop()]);
  console.log('simulators stopped');
}
