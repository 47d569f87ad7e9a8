/**
 * The periodic jobs of the rules service that read InfluxDB history: baselines (static and learned) and reductions,
 * both written back to InfluxDB (`baselines`, `reductions`) for the API and dashboards to read.
 */
import type { Logger } from 'pino';
import type { PlantRegistry } from '../core/plants.ts';
import { baselineLines, learnBaselines, type Baseline, type BaselineBook } from './baselines.ts';
import { createInfluxClient, type InfluxClient } from '../influxdb/client.ts';
import type { RulesConfig } from './config.ts';
import { computeReductions, monthsOfYearTo, reductionLines } from './reductions.ts';

export interface JobsConfig {
  learn?: { quantities: string[]; days: number; percentile: number } | undefined;
  reductions: boolean;
}

export interface JobsResult {
  baselines: Baseline[];
  /** Rows written to `reductions`: none until ingest has written loads (no row says 0 t for want of data). */
  reductionRows: number;
  /** Reductions are on and there were no loads to sum yet. */
  waitingForData: boolean;
}

async function writeLines(influx: InfluxClient, lines: readonly string[]): Promise<void> {
  if (lines.length > 0) await influx.write(lines.join('\n'));
}

/** One run: write static and learned baselines, then the reductions of the year to date. */
export async function runHistoryJobs(influx: InfluxClient, registry: PlantRegistry, book: BaselineBook, config: JobsConfig, now: number): Promise<JobsResult> {
  const statics = book.all(registry);
  const learned = config.learn ? await learnBaselines(influx, registry, { ...config.learn, now }) : [];
  await writeLines(influx, baselineLines([...statics, ...learned], now));
  let reductionRows = 0;
  if (config.reductions) {
    // a reduction counts against the plant's own static value: a baseline learned from its present discharge would
    // make every reduction zero
    const own = statics.filter((b) => b.level === 'plant');
    const { plants, aggregates } = await computeReductions({ influx, registry, baselines: own, months: monthsOfYearTo(now), now });
    const lines = reductionLines(plants, aggregates);
    await writeLines(influx, lines);
    reductionRows = lines.length;
  }
  return { baselines: [...statics, ...learned], reductionRows, waitingForData: config.reductions && reductionRows === 0 };
}

/**
 * Run 1 s after start, then every `everyMs`; while a run writes no reduction rows (no loads yet: a fresh start), again
 * after `waitForDataMs` instead, so that the first figures follow the first data by a minute rather than an hour.
 * Failures are logged and the next run tries again. Returns a stop function.
 */
export function scheduleHistoryJobs(run: () => Promise<JobsResult>, everyMs: number, log: Logger, waitForDataMs = Math.min(60_000, everyMs)): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const next = (ms: number): void => {
    if (!stopped) timer = setTimeout(once, ms);
  };
  const once = (): void => {
    run()
      .then((r) => {
        log.info({ baselines: r.baselines.length, reductionRows: r.reductionRows }, 'baselines and reductions written to InfluxDB');
        next(r.waitingForData ? waitForDataMs : everyMs);
      })
      .catch((err: unknown) => {
        log.error({ err: (err as Error).message }, 'baselines/reductions job failed; retrying at the next run');
        next(everyMs);
      });
  };
  next(1_000);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** The history jobs a config turns on (`history.enabled`, which needs a registry), scheduled; returns a stop function. */
export function startHistoryJobs(config: RulesConfig, registry: PlantRegistry | undefined, baselines: () => BaselineBook, clock: () => number, log: Logger): (() => void) | undefined {
  const history = config.history;
  if (!history.enabled || !registry) return undefined;
  const influx = createInfluxClient(config.influx, { queryTimeoutMs: 30_000 });
  return scheduleHistoryJobs(() => runHistoryJobs(influx, registry, baselines(), { learn: history.learn, reductions: history.reductions }, clock()), history.everyMs, log);
}
