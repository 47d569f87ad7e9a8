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
  uplink: async () => (await import('../uplink/cli.ts')).registerUplinkCommand,
  dashboard: async () => (await import('../dashboards/cli.ts')).registerDashboardCommand,
  'dashboard-token': async () => (await import('../dashboards/cli.ts')).registerDashboardCommand,
  broker: async () => (await import('../bus/broker-cli.ts')).registerBrokerCommands,
  passwd: async () => (await import('../bus/broker-cli.ts')).registerBrokerCommands,
  'broker-acl': async () => (await import('../bus/broker-cli.ts')).registerBrokerCommands,
};

const program = new Command('cleanstream')
  .description('Industrial IoT telemetry for green manufacturing: meters -> gateways -> MQTT -> ingest -> InfluxDB -> rules and dashboards')
  .showHelpAfterError()
  // a command's options stay its own: `dashboard-token list --tokens F` gives --tokens to list, not to dashboard-token
  .enablePositionalOptions();

const requested = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
const known = requested !== undefined && (Object.hasOwn(commands, requested) || requested === 'help');
const loaders = known && requested !== 'help' ? [commands[requested]!] : Object.values(commands);
const registered = new Set<Register>();
for (const load of loaders) {
  const register = await load();
  if (registered.has(register)) continue;
  registered.add(register);
  register(program);
}

/**
 * Scripts and systemd units must see a mistyped command or flag: commander answers `report --help` (an unknown
 * command) with the main help and exit 0, and `gateway --bogus` with "required option --config" rather than naming
 * --bogus. So an unknown command is handed to commander without its flags (it then names it and exits 1), and a known
 * command's flags are checked before commander looks at required options or --help.
 */
function unknownFlag(command: Command, args: readonly string[]): string | undefined {
  const flags = new Set(['-h', '--help']);
  for (const option of command.options) {
    if (option.long) flags.add(option.long);
    if (option.short) flags.add(option.short);
  }
  for (const arg of args) {
    if (arg === '--') return undefined;
    if (!arg.startsWith('-') || arg === '-' || /^-\d/.test(arg)) continue;
    const flag = arg.startsWith('--') ? arg.split('=')[0]! : arg.slice(0, 2);
    if (!flags.has(flag)) return flag;
  }
  return undefined;
}

const args = process.argv.slice(2);
let argv = process.argv;
if (requested !== undefined && !known) {
  argv = [...process.argv.slice(0, 2), requested];
} else if (requested !== undefined && requested !== 'help') {
  const command = program.commands.find((c) => c.name() === requested);
  const flag = command && unknownFlag(command, args.slice(args.indexOf(requested) + 1));
  if (command && flag) command.error(`error: unknown option '${flag}'`, { code: 'commander.unknownOption', exitCode: 1 });
}

try {
  await program.parseAsync(argv);
} catch (err) {
  // Config and transport errors carry a message written for the user; print it without a stack trace.
  if (err instanceof CleanstreamError) {
    console.error(`cleanstream: ${err.message}`);
  } else {
    console.error(err);
  }
  process.exitCode = 1;
}
