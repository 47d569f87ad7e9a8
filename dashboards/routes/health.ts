/**
 * GET /healthz: whether the dashboard can serve live data (subscribed to the broker) and history (InfluxDB answers
 * /ping). 200 when both hold, 503 otherwise, with the detail in the body. Needs no token and tells no data.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { InfluxClient } from '../../influxdb/client.ts';
import type { LiveFeed } from '../live-feed.ts';

const healthSchema = {
  type: 'object',
  required: ['status', 'mqtt', 'influx', 'liveClients'],
  properties: {
    status: { type: 'string', enum: ['ok', 'degraded'] },
    mqtt: { type: 'object', required: ['connected', 'subscribed'], properties: { connected: { type: 'boolean' }, subscribed: { type: 'boolean' } } },
    influx: { type: 'object', required: ['reachable'], properties: { reachable: { type: 'boolean' } } },
    liveClients: { type: 'integer' },
  },
} as const;

export const healthRoutes: FastifyPluginAsync<{ feed: LiveFeed; influx: InfluxClient }> = async (app, { feed, influx }) => {
  app.get(
    '/healthz',
    {
      schema: {
        response: {
          200: healthSchema,
          503: healthSchema,
        },
      },
    },
    async (_request, reply) => {
      const mqtt = feed.status();
      const influxReachable = await influx.ping();
      const ok = mqtt.subscribed && influxReachable;
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', mqtt, influx: { reachable: influxReachable }, liveClients: feed.clients });
    },
  );
};
