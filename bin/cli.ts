/**
 * The `cleanstream` command: each stage registers its own subcommand; this file only assembles them.
 */
import { Command } from 'commander';
import { CleanstreamError } from '../core/errors.ts';
import { registerUpCommand } from './up.ts';
import { registerRecordCommand, registerReplayCommand, registerSimulateCommand } from '../simulators/cli.ts';
import { registerGatewayCommand } from '../gateway/main.ts';
import { registerIngestCommand } from '../ingest/cli.ts';
import { registerDashboardCommand } from '../dashboards/cli.ts';
import { registerBrokerCommands } from '../deploy/broker-cli.ts';
import { registerRulesCommand } from '../rules/cli.ts';
import { registerUplinkCommand } from '../gateway/uplink/cli.ts';

const program = new Command('cleanstream')
  .description('Industrial IoT telemetry for green manufacturing: meters -> gateways -> MQTT -> ingest -> InfluxDB -> rules and dashboards')
  .showHelpAfterError();

registerUpCommand(program);
registerSimulateCommand(program);
registerRecordCommand(program);
registerReplayCommand(program);
registerGatewayCommand(program);
registerIngestCommand(program);
registerRulesCommand(program);
registerUplinkCommand(program);
registerDashboardCommand(program);
registerBrokerCommands(program);

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
