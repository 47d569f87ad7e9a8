/**
 * GET /api/reductions?plant=|region=&from=YYYY-MM&to=YYYY-MM&by=plant|region&format=json|csv : COD and NH3-N loads
 * (tonnes) per month, each compared with the month before (method: dashboards/reductions.ts). CSV for spreadsheets.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { PlantRegistry } from '../../core/plants.ts';
import { callerOf, plantsForCaller } from '../auth.ts';
import type { InfluxQueryClient } from '../influx.ts';
import { computeLoads, loadsCsv, MONTH_PATTERN, monthOf, monthsBetween, POLLUTANTS, regionTotals } from '../reductions.ts';
import { idString, nullableNumber, tokenParam } from './schemas.ts';

const METHOD =
  'load (t) = Σ over hours of mean concentration (mg/L) × mean wastewater flow (m3/h) × 1 h / 1e6, per outfall (concentration and flow meters at the same outfall); hours lacking either mean are not counted (see coveredHours); months in China Standard Time; change is against the month before; baselines are not modelled yet';

interface ReductionsQuery {
  plant?: string;
  region?: string;
  from?: string;
  to?: string;
  by?: 'plant' | 'region';
  format?: 'json' | 'csv';
}

export const reductionsRoutes: FastifyPluginAsync<{ registry: PlantRegistry; influx: InfluxQueryClient; now?: () => number }> = async (app, { registry, influx, now = Date.now }) => {
  app.get<{ Querystring: ReductionsQuery }>(
    '/reductions',
    {
      schema: {
        summary: 'COD and NH3-N loads per month (tonnes), JSON or CSV',
        tags: ['reductions'],
        produces: ['application/json', 'text/csv'],
        querystring: {
          type: 'object',
          properties: {
            plant: idString,
            region: idString,
            from: { type: 'string', pattern: MONTH_PATTERN.source, description: 'first month, YYYY-MM (China Standard Time); default: two months before to' },
            to: { type: 'string', pattern: MONTH_PATTERN.source, description: 'last month, YYYY-MM; default: this month' },
            by: { type: 'string', enum: ['plant', 'region'], default: 'plant' },
            format: { type: 'string', enum: ['json', 'csv'], default: 'json' },
            token: tokenParam,
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            required: ['method', 'pollutants', 'months', 'rows'],
            properties: {
              method: { type: 'string' },
              pollutants: { type: 'array', items: { type: 'string' } },
              months: { type: 'array', items: { type: 'string' } },
              rows: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['month', 'region', 'plant', 'pollutant', 'tonnes', 'coveredHours', 'hours', 'previousTonnes', 'change'],
                  properties: {
                    month: { type: 'string' },
                    region: idString,
                    plant: { type: 'string', description: 'plant id, or * for a region total' },
                    pollutant: { type: 'string', enum: POLLUTANTS },
                    tonnes: { type: 'number' },
                    coveredHours: { type: 'integer' },
                    hours: { type: 'number' },
                    previousTonnes: nullableNumber,
                    change: nullableNumber,
                  },
                },
              },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const plants = plantsForCaller(callerOf(request), registry, { plant: q.plant, region: q.region });
      const at = now();
      const to = q.to ?? monthOf(at);
      const from = q.from ?? monthsBack(to, 2);
      const months = monthsBetween(from, to);
      const plantRows = await computeLoads(influx, plants, months, at);
      const rows = q.by === 'region' ? regionTotals(plantRows) : plantRows;
      if (q.format === 'csv') {
        return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="cleanstream-loads-${from}-${to}.csv"`).send(loadsCsv(rows));
      }
      return { method: METHOD, pollutants: [...POLLUTANTS], months, rows };
    },
  );
};

function monthsBack(month: string, n: number): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const index = y * 12 + (m - 1) - n;
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, '0')}`;
}
