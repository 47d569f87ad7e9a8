/**
 * Reloading the rules while they run: the config file and the limits and baseline files it names are watched, and a
 * change (or a call to reloadNow, e.g. on SIGHUP) reloads the rules without losing window or alert state; an invalid
 * change is logged, naming the file and field, and the rules in force stay. Used by `cleanstream rules` and
 * `cleanstream up`.
 */
import { unwatchFile, watchFile } from 'node:fs';
import type { Logger } from 'pino';
import { CleanstreamError } from '../core/errors.ts';
import type { RulesConfig } from './config.ts';
import type { RulesReload, RulesService } from './service.ts';

/** The files a reload reads: the config, and the limits and baseline files it names. */
export function watchedFiles(configFile: string, config: RulesConfig): string[] {
  return [configFile, ...config.limits, ...config.history.baselineFiles];
}

export interface RulesWatchOptions {
  /** The config file: watched, with the limits and baseline files named in the config in force. */
  configFile: string;
  /** Reads the config file again (with any overrides the caller applies, so that they do not count as changes). */
  load: () => RulesConfig;
  rules: RulesService;
  /** The config the rules started with. */
  first: RulesConfig;
  /** How often the files are checked; undefined: never (reloadNow only). */
  intervalMs: number | undefined;
  log: Logger;
  /** Told after each reload that took effect, with the config now in force and what changed. */
  onReloaded?: (config: RulesConfig, result: RulesReload) => void;
}

export interface RulesWatch {
  /** Reload now (SIGHUP), whether or not a file changed. */
  reloadNow(why?: string): void;
  stop(): void;
}

/**
 * Reload on change: files polled every `intervalMs` (editors that save by renaming are seen too), changes within
 * 300 ms taken as one, one reload at a time.
 */
export function watchRulesFiles({ configFile, load, rules, first, intervalMs, log, onReloaded }: RulesWatchOptions): RulesWatch {
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
      let result: RulesReload;
      try {
        config = load();
        result = await rules.reload(config);
        log.info({ why, rules: config.rules.length, ...result }, `rules reloaded: ${result.added.length} added, ${result.changed.length} changed, ${result.removed.length} removed; the state of the others carried over`);
        if (result.restartNeeded.length) log.warn({ settings: result.restartNeeded }, `changed settings take effect at the next start: ${result.restartNeeded.join(', ')}`);
      } catch (err) {
        const detail = err instanceof CleanstreamError ? { code: err.code, ...err.context } : {};
        log.error({ why, err: (err as Error).message, ...detail }, `rules not reloaded, the rules in force stay: ${(err as Error).message}`);
        return;
      }
      watch(watchedFiles(configFile, config));
      onReloaded?.(config, result);
    });
  };
  const schedule = (why: string): void => {
    clearTimeout(debounce);
    debounce = setTimeout(() => reloadNow(why), 300);
  };
  watch(watchedFiles(configFile, first));
  return {
    reloadNow: (why = 'SIGHUP') => reloadNow(why),
    stop: () => {
      clearTimeout(debounce);
      for (const f of files) unwatchFile(f);
    },
  };
}
