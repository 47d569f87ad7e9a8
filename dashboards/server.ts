/**
 * The dashboard server: the API under /api (token required), /healthz, and the web page at /. Assembled from
 * plugins, each route group with its own schemas; the only shared state is the plant registry, the InfluxDB client
 * and one live MQTT feed.
 */
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fastifyStatic from '@fastify/static';
import { ConfigError, TransportError } from '../core/errors.ts';
import type { PlantRegistry } from '../core/plants.ts';
import { authPlugin, type TokenStore } from './auth.ts';
import { InfluxQueryClient, type InfluxQueryConnection } from './influx.ts';
import { LiveFeed } from './live-feed.ts';
import { healthRoutes } from './routes/health.ts';
import { latestRoutes } from './routes/latest.ts';
import { liveRoutes } from './routes/live.ts';
import { plantsRoutes } from './routes/plants.ts';
import { seriesRoutes } from './routes/series.ts';

export interface DashboardOptions {
  registry: PlantRegistry;
  influx: InfluxQueryConnection;
  mqtt: { url: string; username?: string; password?: string };
  tokens: TokenStore;
  /** Log requests and events with pino (default false). */
  logger?: boolean;
  /** Tuning for the live stream; the defaults suit production. */
  live?: { heartbeatMs?: number; bufferSize?: number; maxBufferedBytes?: number };
}

export interface RunningDashboard {
  /** Base URL, e.g. http://127.0.0.1:8080 (no token). */
  url: string;
  app: FastifyInstance;
  stop(): Promise<void>;
}

const WEB_ROOT = fileURLToPath(new URL('./web/', import.meta.url));

/** The page gets tokens in its URL: keep them out of Referer headers, and let it load nothing from elsewhere. */
const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

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
  const influx = new InfluxQueryClient(opts.influx);
  const feed = new LiveFeed({ mqtt: opts.mqtt, log: app.log, ...(opts.live?.bufferSize ? { bufferSize: opts.live.bufferSize } : {}) });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof TransportError) {
      request.log.warn({ code: error.code, context: error.context }, error.message);
      return reply.code(502).send({ statusCode: 502, code: error.code, error: 'Bad Gateway', message: error.message });
    }
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500) request.log.error({ err: error }, 'dashboard: request failed');
    return reply.code(status).send({ statusCode: status, code: error.code ?? 'ERROR', error: status >= 500 ? 'Internal Server Error' : 'Bad Request', message: status >= 500 ? 'internal error' : error.message });
  });

  await app.register(healthRoutes, { feed, influx });
  await app.register(
    async (api) => {
      await api.register(authPlugin, { tokens: opts.tokens });
      await api.register(plantsRoutes, { registry: opts.registry });
      await api.register(latestRoutes, { registry: opts.registry, influx });
      await api.register(seriesRoutes, { registry: opts.registry, influx });
      await api.register(liveRoutes, { registry: opts.registry, feed, ...opts.live });
    },
    { prefix: '/api' },
  );
  await app.register(fastifyStatic, {
    root: WEB_ROOT,
    prefix: '/',
    setHeaders: (res) => {
      for (const [name, value] of Object.entries(PAGE_HEADERS)) res.setHeader(name, value);
    },
  });

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
