/**
 * The ingest service's config file (YAML; see ingest/sample.yaml). `${ENV}` references are expanded (core/config.ts).
 */
import { z } from 'zod';
import { configPathSchema, durationMs, influxConnectionSchema, loadConfigFile, mqttConnectionSchema, parseConfig, sessionExpirySecondsSchema, catalogPathSchema } from '../core/config.ts';
import { DEFAULT_MAX_AGE_MS, DEFAULT_MAX_FUTURE_SKEW_MS } from '../core/reading.ts';
import { DEFAULT_DEAD_LETTER_MAX_PAYLOAD_BYTES, topics } from '../bus/topics.ts';

/** An InfluxQL duration literal (`30d`, `52w`, `12h`) or INF (keep forever). */
const influxDuration = z.string().regex(/^(INF|\d+(m|h|d|w))$/, { message: 'expected an InfluxQL duration such as 90d, 52w or INF' });

export const ingestConfigSchema = z
  .strictObject({
    mqtt: mqttConnectionSchema,
    /** A plant's own quantities (core/catalog-file.ts), relative to this config file; the built-in catalog without it. */
    catalog: catalogPathSchema,
    /** Subscription filter; a `$share/<group>/...` filter lets several ingest instances split the feed (MQTT 5 brokers). */
    subscription: z.string().min(1).default(topics.readingsFilter()),
    /** Fixed, so that the broker keeps this consumer's session (clean: false) and queues for it while it is away. */
    clientId: z.string().min(1).max(128).default('cleanstream-ingest'),
    influx: influxConnectionSchema,
    batch: z
      .strictObject({
        /** Lines per InfluxDB write (whole messages: a write may exceed it by part of one message). */
        maxLines: z.number().int().positive().default(5000),
        /** Longest a reading waits in the buffer before its batch is written. */
        maxDelayMs: durationMs.default(1000),
        /** Lines accepted and not yet written above which ingest stops reading from the broker (default 4 × maxLines). */
        highWaterLines: z.number().int().positive().optional(),
        /**
         * Messages received and not yet acknowledged above which ingest writes at once and stops reading. Keep it at or
         * below the broker's in-flight window for this client (Mosquitto `max_inflight_messages`, MQTT 5 Receive Maximum).
         */
        maxUnackedMessages: z.number().int().positive().default(1000),
      })
      .prefault({}),
    retry: z
      .strictObject({
        /** Attempts per write before the failure is reported; the batch is then tried again after `pauseMs`, forever. */
        maxAttempts: z.number().int().positive().default(6),
        initialDelayMs: durationMs.default(100),
        maxDelayMs: durationMs.default(30_000),
        requestTimeoutMs: durationMs.default(30_000),
        pauseMs: durationMs.default(5_000),
      })
      .prefault({}),
    /**
     * How far a reading's `ts` may be from ingest's clock. Beyond either bound the message is dead-lettered
     * (`ts_in_future`, `ts_too_old`); readings before 2000-01-02 are refused even with backfill on.
     */
    timestamps: z
      .strictObject({
        /** Clock skew allowed ahead of ingest's clock (gateway clocks drift; NTP keeps them within seconds). */
        maxFutureSkewMs: durationMs.default(DEFAULT_MAX_FUTURE_SKEW_MS),
        /** The oldest accepted, behind ingest's clock: at least a gateway's longest store-and-forward backlog. */
        maxAgeMs: durationMs.default(DEFAULT_MAX_AGE_MS),
        /** Accept readings older than maxAgeMs (replaying an archive or dead letters of an outage longer than it). */
        backfill: z.boolean().default(false),
      })
      .prefault({}),
    deadLetter: z
      .strictObject({
        /**
         * The most of a refused payload a dead letter keeps; a longer one is cut there, its full length and SHA-256
         * kept beside it (`payloadBytes`, `payloadSha256`), so that a 10 MB message cannot make a 10 MB dead letter.
         */
        maxPayloadBytes: z.number().int().min(256).max(64 * 1024 ** 2).default(DEFAULT_DEAD_LETTER_MAX_PAYLOAD_BYTES),
      })
      .prefault({}),
    /** Plant registry file (relative to this config file). When given, unknown plants and meters are dead-lettered. */
    plants: configPathSchema.optional(),
    /** MQTT 5 only: how long the broker keeps this client's session (and queues for it) after a disconnect. */
    sessionExpirySeconds: sessionExpirySecondsSchema,
    write: z
      .strictObject({
        /**
         * gzip write bodies at this level (1 fastest … 9 smallest); 0 sends plain text. Off by default: on loopback or
         * a LAN, compressing costs ingest and InfluxDB more CPU than it saves (bench: 145k vs 110k readings/s); use 1
         * over slow or metered links.
         */
        gzipLevel: z.number().int().min(0).max(9).default(0),
        /**
         * Batches written to InfluxDB at once, live or replayed from the spool. InfluxDB 1.x takes two writers much
         * faster than one; beyond what its cores can use, more only adds memory (each batch in flight holds its lines
         * and messages unacknowledged).
         */
        concurrency: z.number().int().min(1).max(64).default(3),
      })
      .prefault({}),
    /**
     * The durable spool (see README): batches InfluxDB cannot take are kept here, their messages acknowledged, and
     * written in order once InfluxDB is back. Without it, ingest holds them in memory unacknowledged and stops reading.
     */
    spool: z
      .strictObject({
        /** Folder (relative to the config file); one ingest process per folder. */
        dir: configPathSchema,
        /** Bound on disk use; near it ingest stops acknowledging and reading (backpressure), it never drops. */
        maxBytes: z.number().int().positive().default(1024 ** 3),
        /** Size of one segment file of the log. */
        segmentBytes: z.number().int().positive().default(16 * 1024 ** 2),
        /** Share of maxBytes above which a warning is logged (and `spool_warning` is 1 in the metrics). */
        warnRatio: z.number().gt(0).lt(1).default(0.8),
        /** gzip level for spooled batches (0: plain). */
        gzipLevel: z.number().int().min(0).max(9).default(1),
      })
      .optional(),
    /**
     * Pollutant loads per outfall (ingest/loads.ts): kg of COD and NH3-N per interval, written to measurement `loads`.
     * Needs the plant registry (`plants`), which pairs each outfall's flow meter with its concentration meters.
     */
    loads: z
      .strictObject({
        intervalMs: durationMs.default(60_000),
        /** How far past an interval's end readings may still come (in data time) before it is computed. */
        graceMs: z.number().int().nonnegative().default(5_000),
        /** An outfall silent this long (wall clock) has its open intervals computed. */
        idleCloseMs: durationMs.default(120_000),
        /**
         * The longest time between two samples of a series across which the first one still holds; a longer gap is
         * not filled (it is missing time, not load). Set it to about 3 × the meters' sampling interval; the default
         * suits minute data (HJ 212 loggers) and anything faster.
         */
        maxGapMs: durationMs.default(180_000),
      })
      .optional(),
    /**
     * 1-minute and 1-hour rollups (ingest/rollups.ts): retention policies and continuous queries, created at start
     * when `influx.createDatabase` is on.
     */
    rollups: z
      .strictObject({
        minute: z
          .strictObject({ retentionPolicy: z.string().min(1).default('rollup_1m'), duration: influxDuration.default('90d') })
          .prefault({}),
        hour: z
          .strictObject({ retentionPolicy: z.string().min(1).default('rollup_1h'), duration: influxDuration.default('1825d') })
          .prefault({}),
      })
      .optional(),
    /** Prometheus /metrics, /healthz and /readyz. Loopback unless said otherwise; port 0 picks a free port. */
    http: z
      .strictObject({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535),
      })
      .optional(),
  })
  .superRefine((config, ctx) => {
    if (config.mqtt.clientId !== undefined && config.mqtt.clientId !== config.clientId) {
      ctx.addIssue({ code: 'custom', path: ['mqtt', 'clientId'], message: `leave it out and set the top-level clientId (now ${JSON.stringify(config.clientId)})` });
    }
  });

export type IngestConfig = z.output<typeof ingestConfigSchema>;
/** What code may pass to startIngest: the file's shape, defaults optional. */
export type IngestConfigInput = z.input<typeof ingestConfigSchema>;

/** Validate a config built in code (with the same ConfigError as a file); `source` names it in errors. */
export function parseIngestConfig(source: string, raw: unknown, env: NodeJS.ProcessEnv = process.env): IngestConfig {
  return parseConfig(source, raw, ingestConfigSchema, env);
}

/** Load and validate a config file; `plants` is resolved relative to the file. Throws ConfigError. */
export function loadIngestConfig(file: string, env: NodeJS.ProcessEnv = process.env): IngestConfig {
  return loadConfigFile(file, ingestConfigSchema, env);
}
