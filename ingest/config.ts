/**
 * The ingest service's config file (YAML; see ingest/sample.yaml). `${ENV}` references are expanded (core/config.ts).
 */
import path from 'node:path';
import { z } from 'zod';
import { durationMs, influxConnectionSchema, loadConfigFile, mqttConnectionSchema, parseConfig } from '../core/config.ts';
import { topics } from '../core/topics.ts';

export const ingestConfigSchema = z
  .strictObject({
    mqtt: mqttConnectionSchema,
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
    /** Plant registry file (relative to this config file). When given, unknown plants and meters are dead-lettered. */
    plants: z.string().min(1).optional(),
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
  const config = loadConfigFile(file, ingestConfigSchema, env);
  if (config.plants) config.plants = path.resolve(path.dirname(file), config.plants);
  return config;
}
