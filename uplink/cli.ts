/**
 * `cleanstream uplink --config FILE`: report plants' data to a regulator's HJ 212 platform.
 */
import type { Command } from 'commander';
import { pino } from 'pino';
import { loadUplinkConfig } from './config.ts';
import { startHj212Uplink } from './hj212-uplink.ts';

export function registerUplinkCommand(program: Command): void {
  program
    .command('uplink')
    .description('send plants\' real-time, minute, hourly and daily data to a regulator platform over HJ 212 (Flag=5, resent until 9014)')
    .requiredOption('--config <file>', 'uplink config file (uplink/sample.yaml shows every field)')
    .option('--log-level <level>', 'log level (fatal, error, warn, info, debug)', 'info')
    .option('--stats-interval <seconds>', 'log the per-station counters this often (0: never)', '60')
    .action(async (opts: { config: string; logLevel: string; statsInterval: string }) => {
      const config = loadUplinkConfig(opts.config);
      const logger = pino({ name: 'uplink', level: opts.logLevel });
      const uplink = await startHj212Uplink(config, { logger });
      const every = Number(opts.statsInterval) * 1000;
      const timer = every > 0 ? setInterval(() => logger.info({ stats: uplink.stats() }, 'uplink stats'), every) : undefined;
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      if (timer) clearInterval(timer);
      await uplink.stop();
    });
}
