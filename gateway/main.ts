/**
 * A running gateway: the drivers of its config's inputs (created through gateway/drivers/index.ts), each scan handed
 * to the publisher, every driver and publisher error logged (and never fatal: drivers retry by themselves).
 * `cleanstream gateway --config <file>` runs one until SIGINT/SIGTERM.
 */
import { mkdirSync } from 'node:fs';
import type { Command } from 'commander';
import { pino, type Logger } from 'pino';
import type { CleanstreamError } from '../core/errors.ts';
import type { ReadingBatch } from '../core/reading.ts';
import type { DriverState, InputDriver } from './driver.ts';
import { createDriver } from './drivers/index.ts';
import { loadGatewayConfig, type GatewayConfig } from './config.ts';
import { Publisher, type PublisherStats } from './publisher.ts';

export interface InputStats {
  name: string;
  type: string;
  state: DriverState;
  scans: number;
  readings: number;
  /** Readings with quality 'bad' (no value): a dead meter or a failed request. */
  badReadings: number;
  errors: number;
}

export interface GatewayStats {
  gateway: string;
  inputs: InputStats[];
  publisher: PublisherStats;
}

export interface StartGatewayOptions {
  /** Called for each batch the broker acknowledged. */
  onPublished?: (topic: string, batch: ReadingBatch) => void;
  logger?: Logger;
}

export interface RunningGateway {
  /** Stops the drivers, then publishes `offline` and disconnects (waiting briefly for batches in flight). */
  stop(): Promise<void>;
  /** Resolves when every batch published so far has been acknowledged by the broker (see Publisher.flush). */
  flush(timeoutMs?: number): Promise<void>;
  stats(): GatewayStats;
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
  mkdirSync(config.dataDir, { recursive: true });

  const throttle = new ErrorLogThrottle();
  const logError = (source: string, err: CleanstreamError): void => {
    const suppressed = throttle.admit(`${source}|${err.code}|${String(err.context.address ?? err.context.nodeId ?? '')}`);
    if (suppressed === undefined) return;
    logger.warn({ source, code: err.code, context: err.context, ...(suppressed ? { suppressedSinceLast: suppressed } : {}) }, err.message);
  };

  const publisher = new Publisher({ gatewayId: config.id, mqtt: config.mqtt, qos: config.publish.qos, ...(opts.onPublished ? { onPublished: opts.onPublished } : {}) });
  publisher.on('error', (err) => logError('mqtt', err));
  publisher.on('connected', () => logger.info({ url: config.mqtt.url }, 'connected to the broker'));
  publisher.on('disconnected', () => logger.warn({ url: config.mqtt.url }, 'broker unreachable; batches are kept in memory until it is back'));

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

  const stopAll = async (): Promise<void> => {
    await Promise.all(inputs.map(({ driver }) => driver.stop().catch((err: unknown) => logger.error({ err, input: driver.name }, 'stopping input failed'))));
    await publisher.stop();
  };

  try {
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
    stats: () => ({ gateway: config.id, inputs: inputs.map((i) => ({ ...i.stats })), publisher: publisher.stats() }),
  };
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
    .description('read meters over OPC UA and Modbus TCP and publish their readings to MQTT, until Ctrl-C')
    .requiredOption('--config <file>', 'gateway config file (YAML); examples: gateway/drivers/opcua/sample.yaml, gateway/drivers/modbus/sample.yaml')
    .option('--log-level <level>', `log level (${LOG_LEVELS.join(', ')})`, logLevel, 'info')
    .option('--stats-interval <seconds>', 'log input and publishing counters this often; 0 turns it off', seconds, 60)
    .option('--flush-timeout <seconds>', 'on stop, how long to wait for the broker to acknowledge batches still in flight', seconds, 10)
    .action(async (opts: { config: string; logLevel: string; statsInterval: number; flushTimeout: number }) => {
      const config = loadGatewayConfig(opts.config);
      const logger = pino({ name: 'gateway', level: opts.logLevel });
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
