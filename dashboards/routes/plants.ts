/**
 * GET /api/plants: the plants the caller may see, with region, industry, meters and the quantities they measure
 * (labels in English and Chinese and canonical units from the catalog, so that clients need no copy of it).
 */
import type { FastifyPluginAsync } from 'fastify';
import { isBuiltinQuantityId, QUANTITY_KINDS, quantityDef, type QuantityId } from '../../core/catalog.ts';
import type { PlantRegistry } from '../../core/plants.ts';
import { callerOf, plantsInScope, ROLES } from '../auth.ts';
import { idString, localizedName, quantityId, tokenParam } from './schemas.ts';

const plantSchema = {
  type: 'object',
  required: ['id', 'name', 'region', 'industry', 'meters'],
  properties: {
    id: idString,
    name: localizedName,
    region: { type: 'object', required: ['id', 'name'], properties: { id: idString, name: localizedName } },
    industry: { type: 'string' },
    category: { type: 'string' },
    meters: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'location', 'quantities'],
        properties: { id: idString, location: idString, name: localizedName, quantities: { type: 'array', items: quantityId } },
      },
    },
  },
} as const;

const quantitySchema = {
  type: 'object',
  required: ['id', 'domain', 'label', 'unit', 'kind', 'range'],
  properties: {
    id: quantityId,
    domain: { type: 'string' },
    label: localizedName,
    unit: { type: 'string' },
    kind: { type: 'string', enum: [...QUANTITY_KINDS] },
    range: { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2, description: 'physically possible [min, max] in the unit' },
    hj212: { type: 'string', description: 'HJ 212 pollutant code' },
    states: {
      type: 'object',
      description: 'kind state: what 0 and 1 mean; a state is shown by these labels, never as a number',
      required: ['0', '1'],
      properties: { 0: localizedName, 1: localizedName },
    },
    declared: { type: 'boolean', description: 'declared in the plant catalog file rather than built in' },
  },
} as const;

export const plantsRoutes: FastifyPluginAsync<{ registry: PlantRegistry }> = async (app, { registry }) => {
  app.get(
    '/me',
    {
      schema: {
        summary: 'Who the token belongs to and what it may see',
        tags: ['plants'],
        querystring: { type: 'object', properties: { token: tokenParam }, additionalProperties: false },
        response: {
          200: {
            type: 'object',
            required: ['name', 'role', 'plants', 'regions'],
            properties: {
              name: { type: 'string' },
              role: { type: 'string', enum: ROLES },
              plants: { type: 'array', items: idString, description: 'operator: its plants' },
              regions: { type: 'array', items: idString, description: 'regulator: its regions' },
            },
          },
        },
      },
    },
    async (request) => callerOf(request),
  );

  app.get(
    '/plants',
    {
      schema: {
        summary: 'Plants in scope with their meters, and the catalog entries of the quantities they measure',
        tags: ['plants'],
        querystring: { type: 'object', properties: { token: tokenParam }, additionalProperties: false },
        response: {
          200: {
            type: 'object',
            required: ['plants', 'quantities'],
            properties: { plants: { type: 'array', items: plantSchema }, quantities: { type: 'array', items: quantitySchema } },
          },
        },
      },
    },
    async (request) => {
      const plants = plantsInScope(callerOf(request), registry);
      const regionName = (id: string) => registry.regions.find((r) => r.id === id)?.name ?? { en: id, zh: id };
      const used = new Set<QuantityId>(plants.flatMap((p) => p.meters.flatMap((m) => m.quantities as QuantityId[])));
      return {
        plants: plants.map((p) => ({
          id: p.id,
          name: p.name,
          region: { id: p.region, name: regionName(p.region) },
          industry: p.industry,
          ...(p.category ? { category: p.category } : {}),
          meters: p.meters,
        })),
        quantities: [...used].map((id) => {
          const q = quantityDef(id);
          return {
            id,
            domain: q.domain,
            label: q.label,
            unit: q.unit,
            kind: q.kind,
            range: q.range,
            ...(q.hj212 !== undefined ? { hj212: q.hj212 } : {}),
            ...(q.states ? { states: q.states } : {}),
            declared: !isBuiltinQuantityId(id),
          };
        }),
      };
    },
  );
};
