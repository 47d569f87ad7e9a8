/**
 * `cleanstream rules --config <file>`: run the rules service until SIGINT/SIGTERM, then publish what is pending,
 * write a checkpoint and stop. The config file and the limits and baseline files it names are watched: a change
 * (or SIGHUP) reloads the rules without losing window or alert state; an invalid change is logged, naming the file
 * and field, and the rules in force stay.
 */
import { unwatchFile, watchFile } from 'node:fs';
import type { Command } from 'commander';
import { pino, type Logger } from 'pino';
import { CleanstreamError } from '../core/errors.ts';
import { loadRulesConfig, type RulesConfig } from './config.ts';
import { parsePartitionFlag } from './partition.ts';
import { startRules, type RulesService } from './service.ts';

/** The files a reload reads: the config, and the limits and baseline files it names. */
function watchedFiles(configFile: string, config: RulesConfig): string[] {
  return [configFile, ...config.limits, ...config.history.baselineFiles];
}

/**
 * Reload on change: files polled every `intervalMs` (editors that save by renaming are seen too), changes within
 * 300 ms taken as one, one reload at a time. Returns a stop function.
 */
function watchAndReload(configFile: string, load: () => RulesConfig, rules: RulesService, first: RulesConfig, intervalMs: number | undefined, log: Logger): { reloadNow(): void; stop(): void } {
  let files: string[] = [];
  let debounce: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const watch = (list: string[]): void => {
    for (const f of files) unwatchFile(f);
    if (intervalMs === undefined) return; // --no-watch: SIGHUP only
    files = [...new Set(list)];
    for (const f of files) watchFile(f, { interval: intervalMs }, (now, before) => {
      if (now.mtimeMs !== before.mtimeMs || now.size !== before.size) schedule(`${f} changed`);
    });
  };
  const reloadNow = (why: string): void => {
    running = running.then(async () => {
      let config: RulesConfig;
      try {
        config = load();
        const result = await rules.reload(config);
        log.info({ why, rules: config.rules.length, ...result }, `rules reloaded: ${result.added.length} added, ${result.changed.length} changed, ${result.removed.length} removed; the state of the others carried over`);
        if (result.restartNeeded.length) log.warn({ settings: result.restartNeeded }, `changed settings take effect at the next start: ${result.restartNeeded.join(', ')}`);
      } catch (err) {
        const detail = err instanceof CleanstreamError ? { code: err.code, ...err.context } : {};
        log.error({ why, err: (err as Error).message, ...detail }, `rules not reloaded, the rules in force stay: ${(err as Error).message}`);
        return;
      }
      watch(watchedFiles(configFile, config));
    });
  };
  const schedule = (why: string): void => {
    clearTimeout(debounce);
    debounce = setTimeout(() => reloadNow(why), 300);
  };
  watch(watchedFiles(configFile, first));
  return {
    reloadNow: () => reloadNow('SIGHUP'),
    stop: () => {
      clearTimeout(debounce);
      for (const f of files) unwatchFile(f);
    },
  };
}

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
      const watcher = watchAndReload(opts.config, load, rules, config, opts.watch ? Math.max(50, opts.watchInterval * 1000) : undefined, log);
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
