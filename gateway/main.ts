/**
 * A running gateway: the drivers of its config's inputs (created through gateway/drivers/index.ts), each scan handed
 * to the publisher, every driver and publisher error logged (and never fatal: drivers retry by themselves).
 * `cleanstream gateway --config <file>` runs one until SIGINT/SIGTERM.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import type { Command } from 'commander';
import { pino, type Logger } from 'pino';
import { routeNodeOpcuaLogs } from './drivers/opcua/library-logs.ts';
import { DiskQueue } from '../core/disk-queue.ts';
import type { CleanstreamError } from '../core/errors.ts';
import type { ReadingBatch } from '../core/reading.ts';
import type { InputDriver } from './driver.ts';
import { createDriver } from './drivers/index.ts';
import { loadGatewayConfig, type GatewayConfig } from './config.ts';
import { Publisher } from './publisher.ts';
import { HealthReporter, type GatewayStats, type HealthReport, type InputStats } from './health.ts';
import type { MetricsServer } from './metrics.ts';

/** /healthz stays 503 this long after a probe saw batches dropped (refused by a full queue). */
const UNHEALTHY_AFTER_DROP_MS = 60_000;

export type { GatewayStats, HealthReport, InputStats } from './health.ts';

export interface StartGatewayOptions {
  /** Called for each batch the broker acknowledged. */
  onPublished?: (topic: string, batch: ReadingBatch) => void;
  /** Called with each periodic health report (also published on the health topic). */
  onHealth?: (report: HealthReport) => void;
  logger?: Logger;
}

export interface RunningGateway {
  /** Stops the drivers, then publishes `offline` and disconnects; what the broker has not acknowledged stays queued on disk. */
  stop(): Promise<void>;
  /** Resolves when every batch published so far has been acknowledged by the broker (see Publisher.flush). */
  flush(timeoutMs?: number): Promise<void>;
  stats(): GatewayStats;
  /** http://host:port of the /metrics and /healthz endpoint, when the config asks for one. */
  readonly metricsUrl: string | undefined;
}

/** Repeated errors of one kind from one source are logged once per interval with a count, not once per poll. */
class ErrorLogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly intervalMs = 60_000) {}

  /** Returns how many were suppressed since the last logged one, or undefined to suppress this one. */
  admit(key: string, now = Date.now()): number | undefined {
    const entry = this.last.get(key);
    if (!entry || now - entry.at >= this.intervalMs) {
      this.last.set(key, { at: now, suppressed: 0 });
      return entry?.suppressed ?? 0;
    }
    entry.suppressed++;
    return undefined;
  }
}

export async function startGateway(config: GatewayConfig, opts: StartGatewayOptions = {}): Promise<RunningGateway> {
  const log = opts.logger ?? pino({ name: 'gateway' });
  const logger = log.child({ gateway: config.id });
  const startedAt = Date.now();
  mkdirSync(config.dataDir, { recursive: true });

  const throttle = new ErrorLogThrottle();
  const logError = (source: string, err: CleanstreamError): void => {
    const suppressed = throttle.admit(`${source}|${err.code}|${String(err.context.address ?? err.context.nodeId ?? '')}`);
    if (suppressed === undefined) return;
    logger.warn({ source, code: err.code, context: err.context, ...(suppressed ? { suppressedSinceLast: suppressed } : {}) }, err.message);
  };

  const queue = await DiskQueue.open({ dir: config.queue.dir, maxBytes: config.queue.maxBytes, segmentBytes: 4 * 1024 * 1024 });
  queue.on('warning', (info) => logger.warn(info, `the store-and-forward queue holds ${info.bytes} of ${info.maxBytes} bytes; new batches are refused when it is full`));
  // Damage found on opening is reported by the queue, not emitted: nobody could have listened yet.
  for (const damage of queue.recovery) {
    const { code, file, bytes, ids, recordsLost } = damage;
    logger.warn({ code, file, bytes, ids, lostBatches: recordsLost }, `store-and-forward queue: ${damage.message}`);
  }
  if (queue.length > 0) logger.info({ batches: queue.length, bytes: queue.bytes, dir: config.queue.dir }, `${queue.length} batches queued by a previous run will be sent first`);

  const publisher = new Publisher({
    gatewayId: config.id,
    mqtt: config.mqtt,
    queue,
    rejectedFile: path.join(config.dataDir, 'rejected-batches.jsonl'),
    qos: config.publish.qos,
    window: config.publish.window,
    maxReadingsPerBatch: config.publish.maxReadingsPerBatch,
    ackIntervalMs: config.publish.ackIntervalMs,
    reconnectBackoff: { ...config.publish.reconnect, jitter: 0.2 },
    ...(opts.onPublished ? { onPublished: opts.onPublished } : {}),
  });
  publisher.on('error', (err) => logError('mqtt', err));
  publisher.on('connected', () => logger.info({ url: config.mqtt.url }, 'connected to the broker'));
  publisher.on('disconnected', () => logger.warn({ url: config.mqtt.url, queued: publisher.stats().queuedBatches }, 'broker unreachable; batches are kept in the disk queue until it is back'));

  const inputs: { driver: InputDriver; stats: InputStats }[] = config.inputs.map((input) => {
    const driver = createDriver(input, { gatewayId: config.id, dataDir: config.dataDir });
    const stats: InputStats = { name: driver.name, type: input.type, state: 'disconnected', scans: 0, readings: 0, badReadings: 0, errors: 0 };
    driver.on('scan', (readings) => {
      stats.scans++;
      stats.readings += readings.length;
      for (const r of readings) if (r.quality === 'bad') stats.badReadings++;
      publisher.publishScan(readings);
    });
    driver.on('error', (err) => {
      stats.errors++;
      logError(driver.name, err);
    });
    driver.on('state', (state) => {
      stats.state = state;
      logger.info({ input: driver.name, state }, `input ${driver.name} is ${state}`);
    });
    return { driver, stats };
  });

  const stats = (): GatewayStats => ({ gateway: config.id, inputs: inputs.map((i) => ({ ...i.stats })), publisher: publisher.stats() });
  const reporter = new HealthReporter(startedAt);
  // Its own rate window, so that probes do not shorten the periodic report's.
  const probeReporter = new HealthReporter(startedAt);
  const healthTimer =
    config.health.intervalMs > 0
      ? setInterval(() => {
          const report = reporter.report(stats());
          publisher.publishHealth(report);
          opts.onHealth?.(report);
        }, config.health.intervalMs)
      : undefined;
  healthTimer?.unref();

  let metrics: MetricsServer | undefined;
  const stopAll = async (): Promise<void> => {
    clearInterval(healthTimer);
    await Promise.all(inputs.map(({ driver }) => driver.stop().catch((err: unknown) => logger.error({ err, input: driver.name }, 'stopping input failed'))));
    await publisher.stop();
    await queue.close();
    await metrics?.stop();
  };

  /** Batches refused for want of queue room as last seen by a health probe, and when the count last grew. */
  const dropsSeen = { count: 0, at: Number.NEGATIVE_INFINITY };
  try {
    if (config.metrics) {
      const { gatewayMetrics, startMetricsServer } = await import('./metrics.ts');
      metrics = await startMetricsServer({
        host: config.metrics.host,
        port: config.metrics.port,
        registry: gatewayMetrics(stats),
        health: () => {
          const s = stats();
          // Queueing through a broker outage is the gateway doing its job; dropping data is not. A full queue refuses
          // a batch that does not fit in what is left, so it never reaches its maximum exactly: the drops say it.
          const now = Date.now();
          if (s.publisher.droppedBatches > dropsSeen.count) Object.assign(dropsSeen, { count: s.publisher.droppedBatches, at: now });
          const healthy = now - dropsSeen.at >= UNHEALTHY_AFTER_DROP_MS && s.publisher.queueBytes < s.publisher.queueMaxBytes;
          return { healthy, detail: { healthy, ...probeReporter.report(s) } };
        },
      });
      logger.info({ url: metrics.url }, 'serving /metrics and /healthz');
    }
    await Promise.all(inputs.map(({ driver }) => driver.start()));
  } catch (err) {
    await stopAll();
    throw err;
  }
  logger.info({ inputs: inputs.map((i) => i.driver.name), dataDir: config.dataDir }, 'gateway started');

  let stopping: Promise<void> | undefined;
  return {
    stop: () => (stopping ??= stopAll().then(() => logger.info(publisher.stats(), 'gateway stopped'))),
    flush: (timeoutMs) => publisher.flush(timeoutMs),
    stats,
    metricsUrl: metrics?.url,
  };
}

/**
 * How far V8 lets the old generation grow past what the last full GC kept, in percent, for the gateway process.
 * A gateway at 10,000 notifications/s keeps ~55 MB live but promotes several MB/s of short-lived scan data; with
 * V8's own factor (up to 4x for a heap it collects quickly) the old generation climbed to 240 MB before a full GC
 * (RSS peaks of 275-389 MB in bench/gateway). At 50 % a full GC comes every few seconds at a few percent of a core.
 * Read by V8 at every full GC, so setting it once the process runs takes effect; a flag given on the command line
 * (NODE_OPTIONS or node's own arguments) wins.
 */
export const GATEWAY_HEAP_GROWING_PERCENT = 50;

export function limitHeapGrowth(percent = GATEWAY_HEAP_GROWING_PERCENT, execArgv: readonly string[] = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]): boolean {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg))) return false;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  return true;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function logLevel(value: string): string {
  if (!LOG_LEVELS.includes(value)) throw new Error(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${value}`);
  return value;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`expected a non-negative number of seconds, got ${value}`);
  return n;
}

export function registerGatewayCommand(program: Command): void {
  program
    .command('gateway')
    .description('read meters over OPC UA and Modbus (TCP or RTU) and publish their readings to MQTT, until Ctrl-C')
    .requiredOption('--config <file>', 'gateway config file (YAML); examples: gateway/drivers/opcua/sample.yaml, gateway/drivers/modbus/sample.yaml')
    .option('--log-level <level>', `log level (${LOG_LEVELS.join(', ')})`, logLevel, 'info')
    .option('--stats-interval <seconds>', 'log input and publishing counters this often; 0 turns it off', seconds, 60)
    .option('--flush-timeout <seconds>', 'on stop, how long to wait for the broker to acknowledge batches still in flight', seconds, 10)
    .action(async (opts: { config: string; logLevel: string; statsInterval: number; flushTimeout: number }) => {
      // First: parsing a config of 10,000 nodes is already enough garbage to set the heap's next limit.
      limitHeapGrowth();
      const config = loadGatewayConfig(opts.config);
      const logger = pino({ name: 'gateway', level: opts.logLevel });
      routeNodeOpcuaLogs(logger);
      const gateway = await startGateway(config, { logger });
      const statsTimer = opts.statsInterval > 0 ? setInterval(() => logger.info(gateway.stats(), 'stats'), opts.statsInterval * 1000) : undefined;
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      clearInterval(statsTimer);
      logger.info('stopping');
      try {
        await gateway.flush(opts.flushTimeout * 1000);
      } catch (err) {
        logger.error({ err }, 'not every batch was acknowledged before stopping');
      }
      await gateway.stop();
    });
}
