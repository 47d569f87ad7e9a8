/**
 * A gateway's config file: its id, the broker it publishes to, where it keeps state, and its inputs (one entry per
 * device or server, each validated by its driver's schema, chosen by `type`).
 *
 *   id: gw-paper-01
 *   mqtt: { url: mqtt://127.0.0.1:1883 }
 *   inputs:
 *     - type: opcua
 *       endpoint: opc.tcp://127.0.0.1:4840
 *       nodes: [...]
 *
 * Errors name the file, the field path and what was expected there, e.g.
 * `inputs[0].registers[3].type: expected one of "int16", "uint16", ...`.
 */
import path from 'node:path';
import { z } from 'zod';
import { configPathSchema, idSchema, loadConfigFile, mqttConnectionSchema, parseConfig, catalogPathSchema } from '../core/config.ts';
import { DRIVER_TYPES, inputSchemas } from './drivers/index.ts';

export const inputSchema = z.discriminatedUnion('type', inputSchemas, {
  error: (issue) => (issue.code === 'invalid_union' ? `expected type to be one of ${DRIVER_TYPES.map((t) => JSON.stringify(t)).join(', ')}` : undefined),
});

export const gatewayConfigSchema = z
  .strictObject({
    /** Used in topics (readings/{plant}/{id}, status/{id}) and as the batch's `gateway`. */
    id: idSchema,
    mqtt: mqttConnectionSchema,
    /** A plant's own quantities (core/catalog-file.ts), relative to this config file; the built-in catalog without it. */
    catalog: catalogPathSchema,
    /** Folder for the gateway's state (OPC UA PKI, the store-and-forward queue). Default var/gateway/<id>. */
    dataDir: configPathSchema.optional(),
    inputs: z.array(inputSchema).min(1),
    publish: z
      .strictObject({
        qos: z.union([z.literal(0), z.literal(1)]).default(1),
        /** Batches published and not yet acknowledged at most. */
        window: z.number().int().min(1).max(1000).default(64),
        /** A plant's readings from one scan are split into batches of at most this many (keeps MQTT messages ~100 kB). */
        maxReadingsPerBatch: z.number().int().min(1).max(100_000).default(1_000),
        /** Delivered batches are removed from the disk queue at most this often: each removal costs two fsyncs. */
        ackIntervalMs: z.number().int().min(0).max(60_000).default(1_000),
        /** Delays between attempts to reach the broker: doubling from initialMs up to maxMs, with jitter. */
        reconnect: z
          .strictObject({ initialMs: z.number().int().min(10).default(1_000), maxMs: z.number().int().min(10).default(30_000) })
          .default({ initialMs: 1_000, maxMs: 30_000 }),
      })
      .default({ qos: 1, window: 64, maxReadingsPerBatch: 1_000, ackIntervalMs: 1_000, reconnect: { initialMs: 1_000, maxMs: 30_000 } }),
    /** Store-and-forward: every batch is written here before it is sent, and removed once the broker acknowledged it. */
    queue: z
      .strictObject({
        /** Default <dataDir>/queue. */
        dir: configPathSchema.optional(),
        /** When the queue holds this much, new batches are refused (and counted): the oldest data is kept. */
        maxBytes: z.number().int().min(1024 * 1024).default(1024 * 1024 * 1024),
      })
      .default({ maxBytes: 1024 * 1024 * 1024 }),
    health: z
      .strictObject({
        /** JSON on cleanstream/v1/status/{id}/health this often; 0 turns it off. */
        intervalMs: z.number().int().min(0).default(10_000),
      })
      .default({ intervalMs: 10_000 }),
    /** A Prometheus /metrics and /healthz HTTP endpoint; off unless a port is given (0 picks a free one). */
    metrics: z
      .strictObject({
        port: z.number().int().min(0).max(65535),
        /** Loopback unless said otherwise: the endpoint has no authentication. */
        host: z.string().min(1).default('127.0.0.1'),
      })
      .optional(),
  })
  .transform((config) => {
    const dataDir = config.dataDir ?? path.join('var', 'gateway', config.id);
    return { ...config, dataDir, queue: { ...config.queue, dir: config.queue.dir ?? path.join(dataDir, 'queue') } };
  });

export type GatewayConfig = z.output<typeof gatewayConfigSchema>;

/** Load and validate a gateway config file; throws ConfigError naming the file, field paths and expectations. */
export function loadGatewayConfig(file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return loadConfigFile(file, gatewayConfigSchema, env);
}

/** Validate a config built in code (by `cleanstream up`, tests); `source` names it in errors. */
export function parseGatewayConfig(source: string, raw: unknown, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return parseConfig(source, raw, gatewayConfigSchema, env);
}
