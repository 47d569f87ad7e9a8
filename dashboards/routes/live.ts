/**
 * GET /api/live?plant=… : Server-Sent Events of readings as they arrive on MQTT, for one plant or every plant in the
 * caller's scope. Event `readings` carries one batch (values in canonical units) with an id; a client reconnecting
 * with `Last-Event-ID` is first sent what it missed from the server's ring buffer, or an event `gap` when that is no
 * longer there (reload /latest and /series then). A comment every `heartbeatMs` keeps proxies from closing the stream.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { PlantRegistry } from '../../core/plants.ts';
import { callerOf, plantForCaller, plantsInScope } from '../auth.ts';
import type { LiveBatch, LiveFeed } from '../live-feed.ts';
import { SseConnection, type SseEvent } from '../sse.ts';
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

function readingsEvent(batch: LiveBatch): SseEvent {
  const { id, ...rest } = batch;
  return { id, event: 'readings', data: JSON.stringify(rest) };
}

export const liveRoutes: FastifyPluginAsync<LiveRouteOptions> = async (app, options) => {
  const { registry, feed, heartbeatMs = 15_000, maxBufferedBytes = 1 << 20, retryMs = 2000 } = options;
  const open = new Set<SseConnection>();

  app.get<{ Querystring: { plant?: string } }>(
    '/live',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { plant: { ...idString, description: 'one plant; default: every plant in the caller\'s scope' }, token: tokenParam },
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const plants = request.query.plant === undefined ? plantsInScope(caller, registry) : [plantForCaller(caller, registry, request.query.plant)];
      const allowed = new Set(plants.map((p) => p.id));

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
        for (const batch of replay.batches) if (allowed.has(batch.plant)) connection.send(readingsEvent(batch));
      } else {
        // Something to read at once, so that a client (and a proxy) knows the stream is up before the first reading.
        connection.comment(`live readings of ${[...allowed].join(', ') || 'no plants'}`);
      }
      if (!connection.isOpen) {
        open.delete(connection);
        return;
      }

      const unsubscribe = feed.subscribe((batch) => {
        if (allowed.has(batch.plant) && !connection.send(readingsEvent(batch))) finish();
      });
      const heartbeat = setInterval(() => {
        if (!connection.comment('heartbeat')) finish();
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
