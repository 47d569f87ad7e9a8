/**
 * `cleanstream dashboard`: serve the API and the web page for a plant registry, reading InfluxDB and the broker.
 * `cleanstream dashboard-token`: add a token to a token file and print it once (only its hash is stored).
 *
 * Credentials come from the environment, not flags (flags show in `ps`): INFLUX_USERNAME, INFLUX_PASSWORD,
 * INFLUX_TOKEN, MQTT_USERNAME, MQTT_PASSWORD.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { ConfigError } from '../core/errors.ts';
import { loadPlantRegistry } from '../core/plants.ts';
import { ROLES, TokenStore, type Role } from './auth.ts';
import { startDashboard } from './server.ts';

interface DashboardFlags {
  plants: string;
  influxUrl: string;
  influxDb: string;
  mqttUrl: string;
  mqttClientId?: string;
  tokens: string;
  host: string;
  port: number;
  log: boolean;
  limits?: string[];
  rateLimit: number;
  docsPublic: boolean;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new Error(`--port must be an integer from 0 to 65535, got ${value}`);
  return n;
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--rate-limit must be a positive integer, got ${value}`);
  return n;
}

function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

function fromEnv(names: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(names).flatMap(([key, env]) => (process.env[env] ? [[key, process.env[env]]] : [])));
}

export function registerDashboardCommand(program: Command): void {
  program
    .command('dashboard')
    .description('serve the dashboard API and web page: history from InfluxDB, live readings from MQTT (credentials from INFLUX_USERNAME/INFLUX_PASSWORD/INFLUX_TOKEN, MQTT_USERNAME/MQTT_PASSWORD)')
    .option('--plants <file>', 'plant registry (YAML) whose plants are shown', 'deploy/demo/plants.yaml')
    .option('--influx-url <url>', 'InfluxDB base URL serving the v1 /query API', 'http://127.0.0.1:8086')
    .option('--influx-db <db>', 'InfluxDB database the ingest stage writes to', 'cleanstream')
    .option('--mqtt-url <url>', 'MQTT broker carrying the readings topics', 'mqtt://127.0.0.1:1883')
    .option('--mqtt-client-id <id>', 'MQTT client id (default: cleanstream-dashboard-<random>); one id for a broker that binds one id to a user (Mosquitto dynamic security)')
    .requiredOption('--tokens <file>', 'API token file (YAML, SHA-256 hashes; create one with `cleanstream dashboard-token`)')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on', port, 8080)
    .option('--limits <paths>', 'comma-separated limits files or folders besides the shipped standards (give the ones rules uses)', list)
    .option('--rate-limit <n>', 'API requests per minute per token', positive, 1200)
    .option('--docs-public', 'serve the API documentation (/docs, /docs/json) without a token; by default it needs one like the API: open /docs?token=<token>', false)
    .option('--no-log', 'do not log requests')
    .action(async (flags: DashboardFlags) => {
      const registry = loadPlantRegistry(flags.plants);
      const tokens = TokenStore.load(flags.tokens);
      const dashboard = await startDashboard({
        registry,
        tokens,
        influx: { url: flags.influxUrl, database: flags.influxDb, ...fromEnv({ username: 'INFLUX_USERNAME', password: 'INFLUX_PASSWORD', token: 'INFLUX_TOKEN' }) },
        mqtt: { url: flags.mqttUrl, ...(flags.mqttClientId ? { clientId: flags.mqttClientId } : {}), ...fromEnv({ username: 'MQTT_USERNAME', password: 'MQTT_PASSWORD' }) },
        host: flags.host,
        port: flags.port,
        logger: flags.log,
        ...(flags.limits ? { limits: flags.limits } : {}),
        rateLimit: { max: flags.rateLimit, timeWindowMs: 60_000 },
        docsPublic: flags.docsPublic,
      });
      const docs = flags.docsPublic ? `${dashboard.url}/docs` : `${dashboard.url}/docs?token=<your token>`;
      console.log(`dashboard: ${dashboard.url}/?token=<your token>  (${registry.plants.length} plants, ${tokens.list().length} tokens); API docs: ${docs}`);
      // `dashboard-token` and `dashboard-token revoke` edit the file under a running dashboard: it follows them
      const unwatch = tokens.watch((result) => {
        if (result.ok) console.log(`dashboard: token file ${flags.tokens} read again: ${result.tokens} tokens`);
        else console.error(`dashboard: token file ${flags.tokens} changed but is not valid, the tokens in force stay: ${result.error.message}`);
      });
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      unwatch();
      await dashboard.stop();
    });

  const tokenCommand = program
    .command('dashboard-token')
    // `list --tokens F`: the subcommand's own --tokens, not this command's
    .enablePositionalOptions()
    .description('create an API token for the dashboard: appends its hash to the token file and prints the token once; `dashboard-token list|revoke` list and remove tokens (a running dashboard reads the file again)')
    .option('--tokens <file>', 'token file to add to (created when missing; comments in it are not kept); required')
    .option('--name <name>', 'who or what the token is for (shown in logs); required')
    .addOption(new Option('--role <role>', 'what the token may see: admin every plant, operator --plants, regulator --regions; required').choices(ROLES))
    .option('--plants <ids>', 'operator: comma-separated plant ids it may see', list)
    .option('--regions <ids>', 'regulator: comma-separated region ids whose plants it may see', list)
    .option('--registry <file>', 'check the plants and regions against this plant registry', 'deploy/demo/plants.yaml')
    .action((flags: { tokens?: string; name?: string; role?: string; plants?: string[]; regions?: string[]; registry: string }) => {
      // not mandatory options to commander: they would then be demanded of `dashboard-token list` and `revoke` too
      const file = flags.tokens ?? tokenCommand.error("error: required option '--tokens <file>' not specified");
      const name = flags.name ?? tokenCommand.error("error: required option '--name <name>' not specified");
      const role = (flags.role ?? tokenCommand.error("error: required option '--role <role>' not specified")) as Role;
      const store = existsSync(file) ? TokenStore.load(file) : new TokenStore([], file);
      const { token } = store.generate({ name, role, ...(flags.plants ? { plants: flags.plants } : {}), ...(flags.regions ? { regions: flags.regions } : {}) });
      const issues = store.scopeIssues(loadPlantRegistry(flags.registry));
      if (issues.length) throw new ConfigError(`${file} (not written)`, issues);
      writeFileSync(file, store.toYaml(), { mode: 0o600 });
      console.log(token);
    });

  tokenCommand
    .command('list')
    .description('list the tokens of a token file: name, role and scope (the tokens themselves are not kept, only their hashes)')
    .requiredOption('--tokens <file>', 'token file to read')
    .action((flags: { tokens: string }) => {
      const entries = TokenStore.load(flags.tokens).list();
      if (!entries.length) console.log(`no tokens in ${flags.tokens}`);
      for (const e of entries) {
        const scope = e.role === 'admin' ? 'every plant' : e.role === 'operator' ? `plants ${e.plants?.join(',')}` : `regions ${e.regions?.join(',')}`;
        console.log(`${e.name}\t${e.role}\t${scope}\tsha256 ${e.sha256.slice(0, 12)}…`);
      }
    });

  tokenCommand
    .command('revoke')
    .description('remove a token from a token file by its name; a running dashboard refuses it within a few seconds')
    .requiredOption('--tokens <file>', 'token file to remove it from')
    .argument('<name>', 'the name the token was created with (see `dashboard-token list`)')
    .action((name: string, flags: { tokens: string }) => {
      const store = TokenStore.load(flags.tokens);
      if (!store.revoke(name)) throw new ConfigError(flags.tokens, [{ path: 'tokens', expected: `a token named ${name} (there is none; see dashboard-token list)` }]);
      writeFileSync(flags.tokens, store.toYaml(), { mode: 0o600 });
      console.log(`revoked ${name}`);
    });
}
