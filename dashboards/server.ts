/**
 * The dashboard server: the API under /api (token required), /healthz, and the web page at /. Assembled from
 * plugins, each route group with its own schemas; the only shared state is the plant registry, the InfluxDB client
 * and one live MQTT feed.
 */
import { STATUS_CODES } from 'node:http';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { CleanstreamError, ConfigError, TransportError, type ErrorCode } from '../core/errors.ts';
import type { PlantRegistry } from '../core/plants.ts';
import { authPlugin, docsAuth, presentedToken, type ErrorReply, type TokenStore } from './auth.ts';
import { createInfluxClient, type InfluxEndpoint } from '../influxdb/client.ts';
import { loadLimits, type LimitSource } from './limits.ts';
import { LiveFeed } from './live-feed.ts';
import { alertRoutes } from './routes/alerts.ts';
import { baselinesRoutes } from './routes/baselines.ts';
import { healthRoutes } from './routes/health.ts';
import { latestRoutes } from './routes/latest.ts';
import { limitsRoutes } from './routes/limits.ts';
import { liveRoutes } from './routes/live.ts';
import { overviewRoutes } from './routes/overview.ts';
import { plantsRoutes } from './routes/plants.ts';
import { reductionsRoutes } from './routes/reductions.ts';
import { seriesRoutes } from './routes/series.ts';
import { vendorRoutes } from './routes/vendor.ts';

export interface DashboardOptions {
  registry: PlantRegistry;
  influx: InfluxEndpoint;
  mqtt: { url: string; username?: string; password?: string; clientId?: string };
  tokens: TokenStore;
  /** Log requests and events with pino (default false). */
  logger?: boolean;
  /** Tuning for the live stream; the defaults suit production. */
  live?: { heartbeatMs?: number; bufferSize?: number; maxBufferedBytes?: number };
  /**
   * Limits files or folders besides the shipped standards (permits, overrides: what the rules stage is given), or a
   * ready LimitSource. Default: the shipped standards only.
   */
  limits?: readonly string[] | LimitSource;
  /** Requests per token (per address without one) and window under /api (default 1200 a minute). */
  rateLimit?: { max: number; timeWindowMs: number };
  /** How long an acknowledgement waits for the rules stage to confirm before answering 202 (default 3 s). */
  ackWaitMs?: number;
  /** A meter silent for longer counts as stale in the overview (default 5 min). */
  staleAfterMs?: number;
  /** Serve /docs (Swagger UI) and /docs/json to anyone; by default they need a token like the API (default false). */
  docsPublic?: boolean;
}

export const DEFAULT_RATE_LIMIT = { max: 1200, timeWindowMs: 60_000 } as const;

/**
 * Rate limits count per known token, so that many people behind one address (a plant's NAT) do not share one budget;
 * requests without a known token count per address, so that guessing tokens is limited too.
 */
export function rateLimitKey(tokens: TokenStore): (request: FastifyRequest) => string {
  return (request) => {
    const token = presentedToken(request);
    const caller = token ? tokens.authenticate(token) : undefined;
    return caller ? `token:${caller.name}` : `ip:${request.ip}`;
  };
}

export interface RunningDashboard {
  /** Base URL, e.g. http://127.0.0.1:8080 (no token). */
  url: string;
  app: FastifyInstance;
  stop(): Promise<void>;
}

const WEB_ROOT = fileURLToPath(new URL('./web/', import.meta.url));

/**
 * On every response, JSON and event streams included: no MIME sniffing (a JSON answer echoing a parameter must not
 * run as a page), never framed (clickjacking), no Referer (pages carry tokens in their URL until they move them).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/** The web page loads nothing from elsewhere, runs no inline script and sets styles only through the CSSOM. */
export const PAGE_CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * Swagger UI: its scripts are files under /docs/static, but it writes inline style elements and draws icons from
 * data: URLs; "Try it out" calls this origin only.
 */
export const DOCS_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * What the static route serves from web/: the page, its modules and styles (and images or fonts should it get any).
 * Everything else there (the tests beside the modules, type declarations) is 404.
 */
export function isWebAsset(pathName: string): boolean {
  if (pathName === '/') return true;
  return /^\/[a-z0-9][a-z0-9-]*\.(html|js|css|svg|png|ico|woff2)$/.test(pathName) && !/\.test\.[a-z]+$/.test(pathName);
}

/** Upstream failures answer with a code and a message that name no address, host, port or database (those are logged). */
const UPSTREAM_MESSAGES: Partial<Record<ErrorCode, string>> = {
  INFLUX_UNREACHABLE: 'the history database did not answer; try again later',
  INFLUX_QUERY: 'the history database could not answer this query',
  MQTT_UNAVAILABLE: 'the dashboard is not connected to the message broker; try again later',
  MQTT_PUBLISH: 'forwarding to the message broker failed; try again',
};

/** Our code, Fastify's own (`FST_ERR_*`), or ERROR for anything else: an unlisted code is not answered. */
function replyCode(error: FastifyError): ErrorReply['code'] {
  if (error instanceof CleanstreamError) return error.code;
  return typeof error.code === 'string' && error.code.startsWith('FST_') ? (error.code as `FST_${string}`) : 'ERROR';
}

/** The parameter a Fastify (Ajv) validation error is about: `to` for `/to`, the missing or unexpected property's name. */
function validationField(error: FastifyError): string | undefined {
  const first = error.validation?.[0];
  if (!first) return undefined;
  const params = first.params as Record<string, unknown>;
  const named = params.missingProperty ?? params.additionalProperty;
  if (typeof named === 'string') return named;
  const path = first.instancePath.replace(/^\//, '').replace(/\//g, '.');
  return path || error.validationContext;
}

/** `?token=` would otherwise be written to every request log line. */
export function redactToken(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/g, '$1[redacted]');
}

function loggerOption(enabled: boolean): FastifyServerOptions['logger'] {
  if (!enabled) return false;
  return {
    serializers: {
      req: (req: { method: string; url: string; ip?: string }) => ({ method: req.method, url: redactToken(req.url), remoteAddress: req.ip }),
    },
  };
}

export async function buildServer(opts: DashboardOptions): Promise<FastifyInstance> {
  const scopeIssues = opts.tokens.scopeIssues(opts.registry);
  if (scopeIssues.length) throw new ConfigError(opts.tokens.source, scopeIssues);

  const app = Fastify({ logger: loggerOption(opts.logger ?? false) });
  const influx = createInfluxClient(opts.influx);
  const feed = new LiveFeed({ mqtt: opts.mqtt, log: app.log, ...(opts.live?.bufferSize ? { bufferSize: opts.live.bufferSize } : {}) });
  const limits = opts.limits === undefined || Array.isArray(opts.limits) ? loadLimits(opts.limits ?? []) : (opts.limits as LimitSource);
  const rateLimit = opts.rateLimit ?? DEFAULT_RATE_LIMIT;

  // Before any route is registered, so that every route, the 404 answer and hijacked event streams get them.
  app.addHook('onRequest', async (_request, reply) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.raw.setHeader(name, value);
  });
  app.addHook('onSend', async (request, reply, payload) => {
    const type = reply.getHeader('content-type');
    if (typeof type === 'string' && type.startsWith('text/html')) reply.header('content-security-policy', request.url.startsWith('/docs') ? DOCS_CSP : PAGE_CSP);
    return payload;
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof TransportError) {
      const status = error.retryable && error.code !== 'INFLUX_QUERY' ? 503 : 502;
      request.log.error({ code: error.code, context: error.context, err: error }, error.message);
      return reply.code(status).send({ statusCode: status, code: error.code, error: STATUS_CODES[status] ?? 'Error', message: UPSTREAM_MESSAGES[error.code] ?? 'a service the dashboard depends on failed' } satisfies ErrorReply);
    }
    if (error.validation) {
      const field = validationField(error);
      return reply.code(400).send({ statusCode: 400, code: 'BAD_PARAMETER', error: 'Bad Request', message: error.message, ...(field ? { field } : {}) } satisfies ErrorReply);
    }
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500) request.log.error({ err: error }, 'dashboard: request failed');
    const field = error instanceof CleanstreamError && typeof error.context.field === 'string' ? error.context.field : undefined;
    return reply.code(status).send({
      statusCode: status,
      code: replyCode(error),
      error: STATUS_CODES[status] ?? 'Error',
      message: status >= 500 ? 'internal error' : error.message,
      ...(field && status < 500 ? { field } : {}),
    } satisfies ErrorReply);
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'cleanstream dashboard API',
        version: '1',
        description: 'Plants, readings, alerts and loads in the caller\'s scope. Values in the catalog\'s canonical units; times in ms since the epoch.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API token (cleanstream dashboard-token)' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'plants', description: 'plants, latest values, series, limits, overview' },
        { name: 'alerts', description: 'current alerts, history, acknowledgement' },
        { name: 'reductions', description: 'baselines, and pollutant loads per month against them' },
        { name: 'live', description: 'Server-Sent Events' },
      ],
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', ...(opts.docsPublic ? {} : { uiHooks: { onRequest: docsAuth(opts.tokens) } }) });

  await app.register(healthRoutes, { feed, influx });
  await app.register(
    async (api) => {
      // As a hook of this context before auth's (not per route, which would run after it), so that requests with
      // unknown tokens are limited too.
      await api.register(fastifyRateLimit, { global: false, max: rateLimit.max, timeWindow: rateLimit.timeWindowMs, keyGenerator: rateLimitKey(opts.tokens) });
      api.addHook('onRequest', api.rateLimit());
      await api.register(authPlugin, { tokens: opts.tokens });
      await api.register(plantsRoutes, { registry: opts.registry });
      await api.register(latestRoutes, { registry: opts.registry, influx });
      await api.register(seriesRoutes, { registry: opts.registry, influx });
      await api.register(limitsRoutes, { registry: opts.registry, limits });
      await api.register(alertRoutes, { registry: opts.registry, feed, influx, ...(opts.ackWaitMs !== undefined ? { ackWaitMs: opts.ackWaitMs } : {}) });
      await api.register(overviewRoutes, { registry: opts.registry, influx, feed, ...(opts.staleAfterMs !== undefined ? { staleAfterMs: opts.staleAfterMs } : {}) });
      await api.register(baselinesRoutes, { registry: opts.registry, influx });
      await api.register(reductionsRoutes, { registry: opts.registry, influx });
      await api.register(liveRoutes, { registry: opts.registry, feed, ...opts.live });
    },
    { prefix: '/api' },
  );
  await app.register(vendorRoutes);
  await app.register(fastifyStatic, { root: WEB_ROOT, prefix: '/', allowedPath: isWebAsset });

  app.addHook('onClose', async () => feed.stop());
  feed.start();
  await app.ready();
  return app;
}

export async function startDashboard(opts: DashboardOptions & { host: string; port: number }): Promise<RunningDashboard> {
  const app = await buildServer(opts);
  try {
    await app.listen({ host: opts.host, port: opts.port });
  } catch (err) {
    await app.close();
    throw new TransportError('DASHBOARD_LISTEN', `dashboard cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}`, false, { host: opts.host, port: opts.port }, { cause: err });
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return { url: `http://${host}:${port}`, app, stop: () => app.close() };
}
