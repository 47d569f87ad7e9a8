/**
 * GET /api/overview?region= : every plant in scope (or of one region) with its data health from the age and quality
 * of its last readings (plant-status.ts), and apart from it its compliance and open alerts by severity: the
 * regulator's region view in one request.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { PlantRegistry } from '../../core/plants.ts';
import { SEVERITIES, type Severity } from '../../core/alert.ts';
import { isOpen, severityRank } from '../alerts.ts';
import { callerOf, plantsForCaller } from '../auth.ts';
import type { InfluxClient } from '../../influxdb/client.ts';
import type { LiveFeed } from '../live-feed.ts';
import { COMPLIANCE_STATES, PLANT_STATUSES, plantCompliance, plantHealth } from '../plant-status.ts';
import { fetchLatest } from './latest.ts';
import { idString, localizedName, tokenParam } from './schemas.ts';

const count = { type: 'integer' } as const;

export interface OverviewOptions {
  registry: PlantRegistry;
  influx: InfluxClient;
  feed: LiveFeed;
  /** A meter silent for longer is stale (default 5 min). */
  staleAfterMs?: number;
  now?: () => number;
}

export const overviewRoutes: FastifyPluginAsync<OverviewOptions> = async (app, { registry, influx, feed, staleAfterMs = 300_000, now = Date.now }) => {
  app.get<{ Querystring: { region?: string } }>(
    '/overview',
    {
      schema: {
        summary: 'Plants in scope with status and open alerts',
        tags: ['plants'],
        querystring: { type: 'object', properties: { region: idString, token: tokenParam }, additionalProperties: false },
        response: {
          200: {
            type: 'object',
            required: ['generatedAt', 'staleAfterMs', 'plants'],
            properties: {
              generatedAt: { type: 'integer' },
              staleAfterMs: { type: 'integer' },
              plants: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['id', 'name', 'region', 'industry', 'status', 'compliance', 'lastTs', 'meters', 'openAlerts'],
                  properties: {
                    id: idString,
                    name: localizedName,
                    region: { type: 'object', required: ['id', 'name'], properties: { id: idString, name: localizedName } },
                    industry: { type: 'string' },
                    status: { type: 'string', enum: PLANT_STATUSES, description: 'data health: whether the meters report' },
                    compliance: { type: 'string', enum: COMPLIANCE_STATES, description: 'the worst open alert\'s severity, none, or unknown (offline or no data, no open alert)' },
                    lastTs: { type: ['integer', 'null'] },
                    meters: { type: 'object', required: ['total', 'reporting', 'online', 'stale', 'notGood'], properties: { total: count, reporting: count, online: count, stale: count, notGood: count } },
                    openAlerts: {
                      type: 'object',
                      required: ['total', 'worst', 'bySeverity'],
                      properties: {
                        total: count,
                        worst: { type: ['string', 'null'], enum: [...SEVERITIES, null] },
                        bySeverity: { type: 'object', properties: Object.fromEntries(SEVERITIES.map((s) => [s, count])) },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
    async (request) => {
      const plants = plantsForCaller(callerOf(request), registry, { region: request.query.region });
      const latest = await fetchLatest(influx, plants);
      const at = now();
      const open = feed.alerts.all().filter(isOpen);
      const regionName = (id: string) => registry.regions.find((r) => r.id === id)?.name ?? { en: id, zh: id };
      return {
        generatedAt: at,
        staleAfterMs,
        plants: plants.map((plant) => {
          const alerts = open.filter((a) => a.plant === plant.id);
          const bySeverity = Object.fromEntries(SEVERITIES.map((s) => [s, alerts.filter((a) => a.severity === s).length])) as Record<Severity, number>;
          const worst = alerts.reduce<Severity | null>((w, a) => (w === null || severityRank(a.severity) > severityRank(w) ? a.severity : w), null);
          const health = plantHealth(plant, latest.get(plant.id) ?? [], at, staleAfterMs);
          return {
            id: plant.id,
            name: plant.name,
            region: { id: plant.region, name: regionName(plant.region) },
            industry: plant.industry,
            ...health,
            compliance: plantCompliance(worst, health.status),
            openAlerts: { total: alerts.length, worst, bySeverity },
          };
        }),
      };
    },
  );
};
