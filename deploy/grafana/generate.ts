/**
 * Writes the Grafana dashboards (deploy/grafana/dashboards/*.json) and provisioning files for an InfluxDB (InfluxQL)
 * datasource and a file dashboards provider (deploy/grafana/provisioning/). The generated files are committed;
 * re-run after changing dashboards.ts or the plant registry:
 *
 *   node bin/run-ts.js deploy/grafana/generate.ts [--plants deploy/demo/plants.yaml] [--check]
 *
 * `--check` writes nothing and exits 1 when a committed file differs from what would be generated.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { QuantityId } from '../../core/catalog.ts';
import { loadPlantRegistry, type Plant, type PlantRegistry } from '../../core/plants.ts';
import { BUILTIN_STANDARDS_DIR, loadLimitsCatalog } from '../../rules/limits/catalog.ts';
import { allDashboards, DATASOURCE } from './dashboards.ts';

const HERE = import.meta.dirname;

export const DATASOURCE_YAML = `# Grafana datasource provisioning: the InfluxDB 1.x database ingest and rules write to, queried with InfluxQL.
# Grafana expands \${VAR} from its environment; defaults suit cleanstream up on one host.
apiVersion: 1
datasources:
  - name: cleanstream InfluxDB
    uid: ${DATASOURCE.uid}
    type: ${DATASOURCE.type}
    access: proxy
    url: \${CLEANSTREAM_INFLUX_URL:-http://127.0.0.1:8086}
    isDefault: true
    editable: false
    jsonData:
      dbName: \${CLEANSTREAM_INFLUX_DB:-cleanstream}
      httpMode: GET
      timeInterval: 1s
`;

export const PROVIDER_YAML = `# Grafana dashboards provider: loads the generated dashboards (deploy/grafana/dashboards/*.json) into a folder.
apiVersion: 1
providers:
  - name: cleanstream
    folder: cleanstream
    type: file
    disableDeletion: true
    allowUiUpdates: false
    updateIntervalSeconds: 60
    options:
      path: \${CLEANSTREAM_GRAFANA_DASHBOARDS:-/var/lib/grafana/dashboards/cleanstream}
`;

/** The demo permits, read with the shipped standards as the dashboard and rules are given them (`cleanstream up`). */
export const DEMO_LIMITS = path.join(HERE, '../../rules/limits/overrides/demo.yaml');

/**
 * Relative path under deploy/grafana → content. The limits dashboards draw the limits in force at `atMs` (now): re-run
 * after changing the limits catalog, or when an effective date has passed (`--check` says so).
 */
export function generatedFiles(registry: PlantRegistry, limitsFiles: readonly string[] = [BUILTIN_STANDARDS_DIR, DEMO_LIMITS], atMs = Date.now()): Map<string, string> {
  const files = new Map<string, string>();
  const catalog = loadLimitsCatalog(limitsFiles);
  const limitOf = (plant: Plant, quantity: QuantityId) => {
    const limit = catalog.limitFor(plant, quantity, atMs);
    return limit && { ...(limit.min !== undefined ? { min: limit.min } : {}), ...(limit.max !== undefined ? { max: limit.max } : {}), standard: limit.standard };
  };
  for (const { file, dashboard } of allDashboards(registry, limitOf)) files.set(path.join('dashboards', file), `${JSON.stringify(dashboard, null, 2)}\n`);
  files.set(path.join('provisioning', 'datasources', 'cleanstream.yaml'), DATASOURCE_YAML);
  files.set(path.join('provisioning', 'dashboards', 'cleanstream.yaml'), PROVIDER_YAML);
  return files;
}

function main(): void {
  const { values } = parseArgs({ options: { plants: { type: 'string', default: path.join(HERE, '../demo/plants.yaml') }, check: { type: 'boolean', default: false } } });
  const files = generatedFiles(loadPlantRegistry(values.plants as string));
  let stale = 0;
  for (const [relative, content] of files) {
    const target = path.join(HERE, relative);
    if (values.check) {
      let current = '';
      try {
        current = readFileSync(target, 'utf8');
      } catch {
        // missing: stale
      }
      if (current !== content) {
        console.error(`stale: ${path.relative(process.cwd(), target)}`);
        stale++;
      }
      continue;
    }
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, content);
    console.log(`wrote ${path.relative(process.cwd(), target)}`);
  }
  if (stale) process.exitCode = 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) main();
