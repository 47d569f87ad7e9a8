/**
 * Renders the Modbus register map of a registry as a Markdown table (the one in simulators/README.md):
 *   node bin/run-ts.js simulators/register-map.ts [plants.yaml]
 */
import { pathToFileURL } from 'node:url';
import { loadPlantRegistry, type PlantRegistry } from '../core/plants.ts';
import { registerCount, simulatorLayout } from './layout.ts';

export function registerMapMarkdown(registry: PlantRegistry): string {
  const rows = simulatorLayout(registry).map((p) => {
    const count = registerCount(p.modbus.type);
    const address = count === 1 ? `${p.modbus.address}` : `${p.modbus.address}-${p.modbus.address + count - 1}`;
    return `| ${p.modbus.unitId} | ${address} | ${p.plant} | ${p.meter} | ${p.quantity} | ${p.modbus.type} | ${p.modbus.scale} | ${p.unit} |`;
  });
  return ['| unit id | address | plant | meter | quantity | type | scale | unit |', '|---|---|---|---|---|---|---|---|', ...rows].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(registerMapMarkdown(loadPlantRegistry(process.argv[2] ?? 'deploy/demo/plants.yaml')));
}
