/**
 * Config files: YAML, validated by a zod schema at start-up. A bad file fails before anything touches the network,
 * with a ConfigError naming the file, each field path (`drivers[0].nodes[3].quantity`) and what was expected there.
 *
 * Strings may reference environment variables as `${NAME}` (or `${NAME:-default}`) so that secrets such as broker
 * passwords stay out of files kept in git. A reference to an unset variable without a default is a config error.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from './errors.ts';
import { isQuantityId, quantityIds } from './catalog.ts';
import { loadCatalogFile } from './catalog-file.ts';
import { ID_PATTERN } from './reading.ts';

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected}${issue.message.includes('received') ? `, ${issue.message.split(', ').pop()}` : ''}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys':
      return `unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    default:
      return issue.message;
  }
}

export function zodIssues(error: z.ZodError): ConfigIssue[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path), expected: describeIssue(issue) }));
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function interpolate(value: unknown, path: (string | number)[], env: NodeJS.ProcessEnv, issues: ConfigIssue[]): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_m, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined) return v;
      if (fallback !== undefined) return fallback;
      issues.push({ path: formatPath(path), expected: `environment variable ${name} to be set` });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, [...path, i], env, issues));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, [...path, k], env, issues)]));
  }
  return value;
}

/**
 * The folder relative paths in the config being parsed are resolved against: the config file's own folder, so that a
 * copied sample config finds its plant registry wherever it is run from (a config built in code: the working
 * directory). Set only for the duration of one synchronous parse.
 */
let pathBase: string | undefined;

/** A file or folder named in a config: relative to the config file's folder, made absolute when parsed. */
export const configPathSchema = z
  .string()
  .min(1)
  .transform((p) => path.resolve(pathBase ?? process.cwd(), p));

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validate an already-parsed object (e.g. a config generated in code) with the same errors as a file. */
export function parseConfig<S extends z.ZodType>(source: string, raw: unknown, schema: S, env: NodeJS.ProcessEnv = process.env, baseDir?: string): z.output<S> {
  const issues: ConfigIssue[] = [];
  const expanded = interpolate(raw, [], env, issues);
  if (issues.length) throw new ConfigError(source, issues);
  // The plant's declared quantities first, so that the fields naming quantities are checked against them.
  const catalog = isRecord(expanded) ? expanded.catalog : undefined;
  if (typeof catalog === 'string' && catalog !== '') loadCatalogFile(path.resolve(baseDir ?? process.cwd(), catalog));
  pathBase = baseDir;
  try {
    const result = schema.safeParse(expanded);
    if (!result.success) throw new ConfigError(source, zodIssues(result.error));
    return result.data;
  } finally {
    pathBase = undefined;
  }
}

export function parseConfigText<S extends z.ZodType>(source: string, text: string, schema: S, env: NodeJS.ProcessEnv = process.env, baseDir?: string): z.output<S> {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => ({ path: e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '', expected: `valid YAML (${e.code}: ${e.message.split('\n')[0]})` })),
    );
  }
  return parseConfig(source, doc.toJS(), schema, env, baseDir);
}

export function loadConfigFile<S extends z.ZodType>(file: string, schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', expected: `a readable file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` }], { cause: err });
  }
  return parseConfigText(file, text, schema, env, path.dirname(path.resolve(file)));
}

// Schema pieces every stage's config uses, so that the same field means the same thing everywhere.

export const idSchema = z.string().regex(ID_PATTERN, { message: `expected an id matching ${ID_PATTERN.source}` });

/**
 * A quantity named in a config: a built-in one or one declared in the catalog file the config names (`catalog:`).
 * Unknown, it fails naming where a plant's own quantity is declared.
 */
export const quantityIdSchema = z.string().refine(isQuantityId, {
  error: () => `expected a quantity id, one of ${quantityIds().join(', ')}; a plant's own quantity is declared in a catalog file named by this config's catalog: field (docs/catalog.md)`,
});

/** The catalog file of a plant's own quantities (core/catalog-file.ts), declared before the rest of the config is read. */
export const catalogPathSchema = configPathSchema.optional();

export const durationMs = z.number().int().positive();

/**
 * An http(s) URL with a host: a typo such as `htp:/localhost:8086` fails at start, naming the field, instead of at the
 * first write (WHATWG URL parsing alone accepts it).
 */
export const httpUrlSchema = z.string().regex(/^https?:\/\/[^/\s?#]+(?:[/?#]\S*)?$/i, { message: 'expected an http:// or https:// URL with a host, such as http://127.0.0.1:8086' }).pipe(z.url());

export const mqttConnectionSchema = z.strictObject({
  url: z.string().regex(/^(mqtts?|wss?|tcp|tls):\/\/[^/\s?#]+(?:[/?#]\S*)?$/i, { message: 'expected an mqtt://, mqtts://, ws:// or wss:// URL with a host, such as mqtt://127.0.0.1:1883' }),
  username: z.string().optional(),
  password: z.string().optional(),
  clientId: z.string().optional(),
  /** PEM files for TLS: CA to trust, and a client certificate/key for mutual TLS. */
  caFile: configPathSchema.optional(),
  certFile: configPathSchema.optional(),
  keyFile: configPathSchema.optional(),
  protocolVersion: z.union([z.literal(4), z.literal(5)]).default(4),
});
export type MqttConnection = z.output<typeof mqttConnectionSchema>;

/** How long a broker keeps a durable subscriber's session, and queues for it, after it disconnects: a week by default. */
export const DEFAULT_SESSION_EXPIRY_SECONDS = 7 * 24 * 3600;

/**
 * MQTT 5 only: how long the broker keeps the session after a disconnect (0 to 2^32-1 s; 2^32-1 never expires). MQTT 5
 * ends a session at disconnect unless the client sets it (§3.1.2.11.2); MQTT 3.1.1 keeps it until the broker forgets it.
 */
export const sessionExpirySecondsSchema = z.number().int().nonnegative().max(0xffffffff).default(DEFAULT_SESSION_EXPIRY_SECONDS);

export const influxConnectionSchema = z.strictObject({
  /** Base URL of a server that serves the v1 API (/write, /query): InfluxDB 1.x, 2.x (v1 compat) or 3.x. */
  url: httpUrlSchema,
  database: idSchema.or(z.string().min(1)),
  retentionPolicy: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  /** For InfluxDB 2.x/3.x: sent as `Authorization: Token <token>`. */
  token: z.string().optional(),
  /** Create the database on start when it is missing (InfluxDB 1.x only; 2.x/3.x map databases to buckets). */
  createDatabase: z.boolean().default(true),
});
export type InfluxConnection = z.output<typeof influxConnectionSchema>;

/**
 * The session options of a durable subscriber (ingest, rules, the HJ 212 uplink: whatever must not miss a message
 * while it restarts): a persistent session, and on MQTT 5 the expiry that keeps it past the disconnect. Without the
 * expiry an MQTT 5 broker drops the session, its subscriptions and its queue the moment the client goes away.
 */
export function durableSessionOptions(mqtt: MqttConnection, sessionExpirySeconds: number): { clean: false; properties?: { sessionExpiryInterval: number } } {
  return { clean: false, ...(mqtt.protocolVersion === 5 ? { properties: { sessionExpiryInterval: sessionExpirySeconds } } : {}) };
}

/**
 * The MQTT.js connection options every stage derives from its `mqtt:` config section: credentials, TLS files,
 * protocol version, and reconnecting for good (MQTT.js otherwise gives up after a refused CONNACK, e.g. while a
 * broker restarts). Stages add what is theirs (client id, clean session, last will).
 */
export function mqttConnectOptions(mqtt: MqttConnection): {
  protocolVersion: 4 | 5;
  reconnectPeriod: number;
  reconnectOnConnackError: boolean;
  connectTimeout: number;
  username?: string;
  password?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
} {
  return {
    protocolVersion: mqtt.protocolVersion,
    reconnectPeriod: 1000,
    reconnectOnConnackError: true,
    connectTimeout: 10_000,
    ...(mqtt.username !== undefined ? { username: mqtt.username } : {}),
    ...(mqtt.password !== undefined ? { password: mqtt.password } : {}),
    ...(mqtt.caFile ? { ca: readFileSync(mqtt.caFile) } : {}),
    ...(mqtt.certFile ? { cert: readFileSync(mqtt.certFile) } : {}),
    ...(mqtt.keyFile ? { key: readFileSync(mqtt.keyFile) } : {}),
  };
}
