/**
 * GET /api/live?plant=… : Server-Sent Events of readings and alert changes as they arrive on MQTT, for one plant or
 * every plant in the caller's scope. Event `readings` carries one batch (values in canonical units), event `alert` an
 * alert's new state (the JSON of GET /api/alerts), each with an event id; a client reconnecting
 * with `Last-Event-ID` is first sent what it missed from the server's ring buffer, or an event `gap` when that is no
 * longer there (reload /latest and /series then). An event `heartbeat` at the start and every `heartbeatMs`
 * (`{"everyMs": …, "broker": true|false}`, no id) keeps proxies from closing the stream and tells the page that the
 * stream is alive and whether the server still has the broker: a page judges its live indicator by it when no data flows.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { PlantRegistry } from '../../core/plants.ts';
import { callerOf, plantForCaller, plantsInScope } from '../auth.ts';
import type { LiveEvent, LiveFeed } from '../live-feed.ts';
import { formatSseEvent, SseConnection } from '../sse.ts';
import { idString, tokenParam } from './schemas.ts';

export interface LiveRouteOptions {
  registry: PlantRegistry;
  feed: LiveFeed;
  /** Default 15 s. */
  heartbeatMs?: number;
  /** Bytes one client may have queued before it is dropped (default 1 MiB). */
  maxBufferedBytes?: number;
  /** Reconnect delay suggested to browsers (default 2 s). */
  retryMs?: number;
}

/** Formatted once per event, not once per client: with many clients the JSON would otherwise dominate. */
const formatted = new WeakMap<LiveEvent, string>();

export function liveEventText(event: LiveEvent): string {
  let text = formatted.get(event);
  if (text === undefined) {
    text = formatSseEvent(event.type === 'readings' ? { id: event.id, event: 'readings', data: JSON.stringify(event.batch) } : { id: event.id, event: 'alert', data: JSON.stringify(event.alert) });
    formatted.set(event, text);
  }
  return text;
}

export const liveRoutes: FastifyPluginAsync<LiveRouteOptions> = async (app, options) => {
  const { registry, feed, heartbeatMs = 15_000, maxBufferedBytes = 1 << 20, retryMs = 2000 } = options;
  const open = new Set<SseConnection>();

  app.get<{ Querystring: { plant?: string; types?: string } }>(
    '/live',
    {
      schema: {
        summary: 'Server-Sent Events: readings and alert changes in scope; resumes after Last-Event-ID',
        tags: ['live'],
        produces: ['text/event-stream'],
        querystring: {
          type: 'object',
          properties: {
            plant: { ...idString, description: 'one plant; default: every plant in the caller\'s scope' },
            types: { type: 'string', pattern: '^(readings|alerts)(,(readings|alerts))?$', description: 'event types to send: readings, alerts or both (default)' },
            token: tokenParam,
          },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const plants = request.query.plant === undefined ? plantsInScope(caller, registry) : [plantForCaller(caller, registry, request.query.plant)];
      const allowed = new Set(plants.map((p) => p.id));
      const types = new Set((request.query.types ?? 'readings,alerts').split(',').map((t) => (t === 'alerts' ? 'alert' : t)));
      const wanted = (event: LiveEvent): boolean => allowed.has(event.plant) && types.has(event.type);

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const connection = new SseConnection(res, {
        maxBufferedBytes,
        onDrop: (bytes) => request.log.warn({ caller: caller.name, bufferedBytes: bytes, limit: maxBufferedBytes }, `dashboard: dropped a live client that read too slowly (${bytes} bytes queued, limit ${maxBufferedBytes})`),
      });
      open.add(connection);

      connection.retry(retryMs);
      const lastEventId = request.headers['last-event-id'];
      if (typeof lastEventId === 'string' && lastEventId.length > 0) {
        const replay = feed.after(lastEventId);
        if (!replay.complete) connection.send({ event: 'gap', data: JSON.stringify({ lastEventId }) });
        for (const event of replay.events) if (wanted(event)) connection.sendFormatted(liveEventText(event));
      } else {
        // Something to read at once, so that a client (and a proxy) knows the stream is up before the first reading.
        connection.comment(`live readings and alerts of ${[...allowed].join(', ') || 'no plants'}`);
      }
      const heartbeatEvent = (): boolean => connection.send({ event: 'heartbeat', data: JSON.stringify({ everyMs: heartbeatMs, broker: feed.status().connected }) });
      heartbeatEvent();
      if (!connection.isOpen) {
        open.delete(connection);
        return;
      }

      const unsubscribe = feed.subscribe((event) => {
        if (wanted(event) && !connection.sendFormatted(liveEventText(event))) finish();
      });
      const heartbeat = setInterval(() => {
        if (!heartbeatEvent()) finish();
      }, heartbeatMs);
      function finish(): void {
        clearInterval(heartbeat);
        unsubscribe();
        open.delete(connection);
      }
      res.on('close', finish);
    },
  );

  // Open streams would keep the server from closing.
  app.addHook('preClose', async () => {
    for (const connection of open) connection.close();
    open.clear();
  });
};
