/**
 * The `cleanstream` command: each stage registers its own subcommands; this file only assembles them.
 *
 * Only the module of the command being run is loaded, so that a gateway process does not carry node-opcua's
 * server, Fastify and the rule engine in its memory (and starts faster); `cleanstream --help` loads them all.
 */
import { Command } from 'commander';
import { CleanstreamError } from '../core/errors.ts';

type Register = (program: Command) => void;

/** Command name -> the module that registers it (several commands may share one). */
const commands: Record<string, () => Promise<Register>> = {
  up: async () => (await import('./up.ts')).registerUpCommand,
  simulate: async () => (await import('../simulators/cli.ts')).registerSimulateCommand,
  record: async () => (await import('../simulators/cli.ts')).registerRecordCommand,
  replay: async () => (await import('../simulators/cli.ts')).registerReplayCommand,
  gateway: async () => (await import('../gateway/main.ts')).registerGatewayCommand,
  ingest: async () => (await import('../ingest/cli.ts')).registerIngestCommand,
  rules: async () => (await import('../rules/cli.ts')).registerRulesCommand,
  uplink: async () => (await import('../gateway/uplink/cli.ts')).registerUplinkCommand,
  dashboard: async () => (await import('../dashboards/cli.ts')).registerDashboardCommand,
  'dashboard-token': async () => (await import('../dashboards/cli.ts')).registerDashboardCommand,
  broker: async () => (await import('../deploy/broker-cli.ts')).registerBrokerCommands,
  passwd: async () => (await import('../deploy/broker-cli.ts')).registerBrokerCommands,
  'broker-acl': async () => (await import('../deploy/broker-cli.ts')).registerBrokerCommands,
};

const program = new Command('cleanstream')
  .description('Industrial IoT telemetry for green manufacturing: meters -> gateways -> MQTT -> ingest -> InfluxDB -> rules and dashboards')
  .showHelpAfterError();

const requested = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
const loaders = requested && commands[requested] ? [commands[requested]] : Object.values(commands);
const registered = new Set<Register>();
for (const load of loaders) {
  const register = await load();
  if (registered.has(register)) continue;
  registered.add(register);
  register(program);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Config and transport errors carry a message written for the user; print it without a stack trace.
  if (err instanceof CleanstreamError) {
    console.error(`cleanstream: ${err.message}`);
  } else {
    console.error(err);
  }
  process.exitCode = 1;
}
