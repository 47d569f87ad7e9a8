/**
 * `cleanstream ingest --config <file>`: run the ingest service until SIGINT/SIGTERM, then write what it accepted
 * and stop (whatever cannot be written in time stays unacknowledged with the broker and is delivered again).
 */
import type { Command } from 'commander';
import { pino } from 'pino';
import { loadIngestConfig } from './config.ts';
import { startIngest } from './service.ts';

export function registerIngestCommand(program: Command): void {
  program
    .command('ingest')
    .description('write readings from MQTT to InfluxDB (v1 API: InfluxDB 1.x, 2.x compat, 3.x); dead-letter what cannot be written')
    .requiredOption('--config <file>', 'ingest config file (YAML; see ingest/sample.yaml)')
    .option('--stats-interval <seconds>', 'log throughput counters this often (0: never)', (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new Error(`--stats-interval must be a non-negative number, got ${v}`);
      return n;
    }, 60)
    .action(async (opts: { config: string; statsInterval: number }) => {
      const log = pino({ name: 'ingest' });
      const config = loadIngestConfig(opts.config);
      const ingest = await startIngest(config);
      ingest.on('writeError', (err) => log.warn({ code: err.code, context: err.context }, err.message));
      ingest.on('deadLetter', (letter) => log.info({ reason: letter.reason, topic: letter.topic }, `dead-lettered: ${letter.detail}`));
      ingest.on('mqttError', (err) => log.warn({ err }, `mqtt: ${err.message}`));
      ingest.on('disconnected', () => log.warn('broker connection lost; reconnecting'));
      ingest.on('connected', () => log.info('connected to the broker'));
      ingest.on('spoolWarning', (info) => log.warn(info, `spool above its warning level: ${info.bytes} of ${info.maxBytes} bytes; ingest stops reading when it is full`));
      ingest.on('spoolError', (err) => log.warn({ err }, `spool: ${err.message}`));
      // Found when the spool was opened, before any listener: read from the stats rather than an event.
      for (const { code, file, bytes, ids, recordsLost, message } of ingest.stats().spool?.damage ?? []) {
        log.warn({ code, file, bytes, ids, lostBatches: recordsLost }, `spool: ${message}`);
      }
      log.info(
        {
          broker: config.mqtt.url,
          subscription: config.subscription,
          influx: config.influx.url,
          database: config.influx.database,
          spool: config.spool?.dir,
          http: ingest.httpUrl,
        },
        'ingest running',
      );

      const timer = opts.statsInterval > 0 ? setInterval(() => log.info({ stats: ingest.stats() }, 'stats'), opts.statsInterval * 1000) : undefined;
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      clearInterval(timer);
      log.info('stopping: writing what was accepted');
      await ingest.stop();
      log.info({ stats: ingest.stats() }, 'stopped');
    });
}
