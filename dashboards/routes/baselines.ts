/**
 * GET /api/baselines?plant=|region=&indicator=&level= : the baselines in force for the plants in scope, per plant and
 * indicator, as the rules stage wrote them to InfluxDB (dashboards/baselines.ts).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { PlantRegistry } from '../../core/plants.ts';
import { callerOf, plantsForCaller } from '../auth.ts';
import { BASELINE_LEVELS, type BaselineLevel } from '../../influxdb/schema.ts';
import { fetchBaselines } from '../baselines.ts';
import type { InfluxClient } from '../../influxdb/client.ts';
import { idString, tokenParam } from './schemas.ts';

interface BaselinesQuery {
  plant?: string;
  region?: string;
  indicator?: string;
  level?: BaselineLevel;
}

export const baselinesRoutes: FastifyPluginAsync<{ registry: PlantRegistry; influx: InfluxClient }> = async (app, { registry, influx }) => {
  app.get<{ Querystring: BaselinesQuery }>(
    '/baselines',
    {
      schema: {
        summary: 'Baselines in force per plant and indicator (static from data files, or learned percentiles)',
        tags: ['reductions'],
        querystring: {
          type: 'object',
          properties: {
            plant: idString,
            region: idString,
            indicator: { type: 'string', pattern: '^[a-z0-9_]+$', maxLength: 64, description: 'a quantity id (cod, nh3n, …) or a per-unit-product indicator' },
            level: { type: 'string', enum: BASELINE_LEVELS, description: 'plant: the plant\'s own reference (what reductions count against); I/II/III: its industry\'s clean-production grades; learned: a percentile of its history' },
            token: tokenParam,
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            required: ['baselines'],
            properties: {
              baselines: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['plant', 'region', 'indicator', 'level', 'source', 'value', 'unit', 'verified', 'writtenAt'],
                  properties: {
                    plant: idString,
                    region: idString,
                    indicator: { type: 'string' },
                    level: { type: 'string', enum: BASELINE_LEVELS },
                    source: { type: 'string', enum: ['static', 'learned'] },
                    value: { type: 'number' },
                    unit: { type: ['string', 'null'], description: 'the catalog\'s canonical unit; null for per-unit-product indicators' },
                    verified: { type: 'boolean' },
                    writtenAt: { type: 'integer', description: 'when the rules stage last wrote it (ms)' },
                  },
                },
              },
            },
          },
        },
      },
    },
    async (request) => {
      const q = request.query;
      const plants = plantsForCaller(callerOf(request), registry, { plant: q.plant, region: q.region });
      return { baselines: await fetchBaselines(influx, plants, { indicator: q.indicator, level: q.level }) };
    },
  );
};
