/**
 * The periodic jobs of the rules service that read InfluxDB history: baselines (static and learned) and reductions,
 * both written back to InfluxDB (`baselines`, `reductions`) for the API and dashboards to read.
 */
import type { Logger } from 'pino';
import type { PlantRegistry } from '../core/plants.ts';
import { baselineLines, learnBaselines, type Baseline, type BaselineBook } from './baselines.ts';
import type { InfluxClient } from './influx.ts';
import { computeReductions, monthsOfYearTo, reductionLines } from './reductions.ts';

export interface JobsConfig {
  learn?: { quantities: string[]; days: number; percentile: number } | undefined;
  reductions: boolean;
}

export interface JobsResult {
  baselines: Baseline[];
  reductionRows: number;
}

/** One run: write static and learned baselines, then the reductions of the year to date. */
export async function runHistoryJobs(influx: InfluxClient, registry: PlantRegistry, book: BaselineBook, config: JobsConfig, now: number): Promise<JobsResult> {
  const statics = book.all(registry);
  const learned = config.learn ? await learnBaselines(influx, registry, { ...config.learn, now }) : [];
  await influx.write(baselineLines([...statics, ...learned], now));
  let reductionRows = 0;
  if (config.reductions) {
    // a reduction counts against the plant's own static value: a baseline learned from its present discharge would
    // make every reduction zero
    const own = statics.filter((b) => b.level === 'plant');
    const { plants, aggregates } = await computeReductions({ influx, registry, baselines: own, months: monthsOfYearTo(now), now });
    const lines = reductionLines(plants, aggregates);
    await influx.write(lines);
    reductionRows = lines.length;
  }
  return { baselines: [...statics, ...learned], reductionRows };
}

/** Run now and every `everyMs`; failures are logged and the next run tries again. Returns a stop function. */
export function scheduleHistoryJobs(run: () => Promise<JobsResult>, everyMs: number, log: Logger): () => void {
  let running = false;
  const once = (): void => {
    if (running) return;
    running = true;
    run()
      .then((r) => log.info({ baselines: r.baselines.length, reductionRows: r.reductionRows }, 'baselines and reductions written to InfluxDB'))
      .catch((err: unknown) => log.error({ err: (err as Error).message }, 'baselines/reductions job failed; retrying at the next run'))
      .finally(() => (running = false));
  };
  const first = setTimeout(once, 1_000);
  const timer = setInterval(once, everyMs);
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
