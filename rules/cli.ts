/**
 * `cleanstream rules --config <file>`: run the rules service until SIGINT/SIGTERM, then publish what is pending,
 * write a checkpoint and stop. The config file and the limits and baseline files it names are watched (watch.ts): a
 * change (or SIGHUP) reloads the rules without losing window or alert state; an invalid change is logged, naming the
 * file and field, and the rules in force stay.
 */
import type { Command } from 'commander';
import { pino } from 'pino';
import { loadRulesConfig, type RulesConfig } from './config.ts';
import { parsePartitionFlag } from './partition.ts';
import { startRules } from './service.ts';
import { watchRulesFiles } from './watch.ts';

function seconds(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${flag} must be a non-negative number, got ${v}`);
    return n;
  };
}

export function registerRulesCommand(program: Command): void {
  program
    .command('rules')
    .description('judge readings from MQTT against rules (limits from the catalog, deadman, flatline, rate, quality); publish alerts retained and write them to InfluxDB')
    .requiredOption('--config <file>', 'rules config file (YAML; see rules/sample.yaml)')
    .option('--plants <file>', 'plant registry file; overrides the config file\'s `plants`')
    .option('--checkpoint <file>', 'where window and alert state is kept across restarts; overrides `checkpoint.file`')
    .option('--partition <index/count>', 'judge only this partition of the plants (e.g. 0/2: plants by a stable hash of their id); overrides `partition`', parsePartitionFlag)
    .option('--stats-interval <seconds>', 'log counters this often (0: never)', seconds('--stats-interval'), 60)
    .option('--no-watch', 'do not reload the rules when the config file (or a limits or baseline file it names) changes; SIGHUP still reloads')
    .option('--watch-interval <seconds>', 'how often the watched files are checked for changes', seconds('--watch-interval'), 1)
    .action(async (opts: { config: string; plants?: string; checkpoint?: string; partition?: { index: number; count: number }; statsInterval: number; watch: boolean; watchInterval: number }) => {
      const log = pino({ name: 'rules' });
      const load = (): RulesConfig => {
        const config = loadRulesConfig(opts.config);
        if (opts.plants) config.plants = opts.plants;
        if (opts.checkpoint) config.checkpoint.file = opts.checkpoint;
        if (opts.partition) config.partition = opts.partition;
        return config;
      };
      const config = load();
      const rules = await startRules(config, { logger: log });
      const watcher = watchRulesFiles({ configFile: opts.config, load, rules, first: config, intervalMs: opts.watch ? Math.max(50, opts.watchInterval * 1000) : undefined, log });
      const onHup = (): void => watcher.reloadNow();
      process.on('SIGHUP', onHup);
      log.info({ broker: config.mqtt.url, rules: config.rules.length, checkpoint: config.checkpoint.file ?? null, partition: config.partition ?? null }, 'rules running');
      const timer = opts.statsInterval > 0 ? setInterval(() => log.info({ stats: rules.stats() }, 'stats'), opts.statsInterval * 1000) : undefined;
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      clearInterval(timer);
      watcher.stop();
      process.off('SIGHUP', onHup);
      await rules.stop();
      log.info({ stats: rules.stats() }, 'stopped');
    });
}
