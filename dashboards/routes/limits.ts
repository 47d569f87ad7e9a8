/**
 * GET /api/plants/:plant/limits?at= : the limit in force for each quantity the plant measures (canonical units), with
 * the standard or permit it comes from, for limit lines on charts.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { PlantRegistry } from '../../core/plants.ts';
import { callerOf, plantForCaller } from '../auth.ts';
import type { LimitSource } from '../limits.ts';
import { checkInstant, instantSchema } from '../params.ts';
import { idString, plantParams, quantityId, tokenParam } from './schemas.ts';

export const limitSchema = {
  type: 'object',
  required: ['quantity', 'standard', 'source', 'verified'],
  properties: {
    quantity: quantityId,
    min: { type: 'number' },
    max: { type: 'number' },
    standard: { type: 'string' },
    source: { type: 'string' },
    verified: { type: 'boolean' },
    note: { type: 'string' },
  },
} as const;

export const limitsRoutes: FastifyPluginAsync<{ registry: PlantRegistry; limits: LimitSource; now?: () => number }> = async (app, { registry, limits, now = Date.now }) => {
  app.get<{ Params: { plant: string }; Querystring: { at?: number } }>(
    '/plants/:plant/limits',
    {
      schema: {
        summary: 'Limits in force for a plant',
        tags: ['plants'],
        params: plantParams,
        querystring: {
          type: 'object',
          properties: { at: instantSchema('instant, ms since the epoch (default: now)'), token: tokenParam },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            required: ['plant', 'at', 'limits'],
            properties: { plant: idString, at: { type: 'integer' }, limits: { type: 'array', items: limitSchema } },
          },
        },
      },
    },
    async (request) => {
      const plant = plantForCaller(callerOf(request), registry, request.params.plant);
      checkInstant('at', request.query.at, now());
      const at = request.query.at ?? now();
      return { plant: plant.id, at, limits: limits.limitsFor(plant, at) };
    },
  );
};
