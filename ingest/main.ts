/**
 * Ingest alone, without the other stages' imports (starts in a fraction of `cleanstream ingest`'s time):
 *   node bin/run-ts.js ingest/main.ts --config ingest/sample.yaml
 * Used by the fault tests and the benchmark, which start and kill ingest as a child process.
 */
import { Command } from 'commander';
import { CleanstreamError } from '../core/errors.ts';
import { registerIngestCommand } from './cli.ts';

const program = new Command('cleanstream');
registerIngestCommand(program);
try {
  await program.parseAsync([process.argv[0]!, 'cleanstream', 'ingest', ...process.argv.slice(2)]);
} catch (err) {
  console.error(err instanceof CleanstreamError ? `cleanstream ingest: ${err.message}` : err);
  process.exitCode = 1;
}
