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
import { idSchema, loadConfigFile, mqttConnectionSchema, parseConfig } from '../core/config.ts';
import { DRIVER_TYPES, inputSchemas } from './drivers/index.ts';

export const inputSchema = z.discriminatedUnion('type', inputSchemas, {
  error: (issue) => (issue.code === 'invalid_union' ? `expected type to be one of ${DRIVER_TYPES.map((t) => JSON.stringify(t)).join(', ')}` : undefined),
});

export const gatewayConfigSchema = z
  .strictObject({
    /** Used in topics (readings/{plant}/{id}, status/{id}) and as the batch's `gateway`. */
    id: idSchema,
    mqtt: mqttConnectionSchema,
    /** Folder for the gateway's state (OPC UA PKI, later the store-and-forward spool). Default var/gateway/<id>. */
    dataDir: z.string().min(1).optional(),
    inputs: z.array(inputSchema).min(1),
    publish: z.strictObject({ qos: z.union([z.literal(0), z.literal(1)]).default(1) }).default({ qos: 1 }),
  })
  .transform((config) => ({ ...config, dataDir: config.dataDir ?? path.join('var', 'gateway', config.id) }));

export type GatewayConfig = z.output<typeof gatewayConfigSchema>;

/** Load and validate a gateway config file; throws ConfigError naming the file, field paths and expectations. */
export function loadGatewayConfig(file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return loadConfigFile(file, gatewayConfigSchema, env);
}

/** Validate a config built in code (by `cleanstream up`, tests); `source` names it in errors. */
export function parseGatewayConfig(source: string, raw: unknown, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return parseConfig(source, raw, gatewayConfigSchema, env);
}
