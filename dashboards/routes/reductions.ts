/**
 * GET /api/reductions?plant=|region=&from=YYYY-MM&to=YYYY-MM&by=plant|region&format=json|csv|xlsx : COD and NH3-N
 * discharged per month against the load the baseline implies, and the reduction (method: dashboards/reductions.ts);
 * for admins and regulators also the national year-to-date progress against the plan's targets. CSV and XLSX for
 * spreadsheets.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { PlantRegistry } from '../../core/plants.ts';
import { callerOf, plantsForCaller } from '../auth.ts';
import { fetchBaselines } from '../baselines.ts';
import type { InfluxClient } from '../../influxdb/client.ts';
import { PARTIAL_BELOW } from '../../core/coverage.ts';
import {
  fetchLoadSums,
  fetchNationalProgress,
  MONTH_PATTERN,
  monthOf,
  monthsBetween,
  POLLUTANTS,
  CSV_COLUMNS,
  reductionCells,
  reductionRows,
  reductionsCsv,
  regionTotals,
  type Pollutant,
} from '../reductions.ts';
import { badParameter, EARLIEST_MS, latestAccepted } from '../params.ts';
import { XLSX_CONTENT_TYPE, xlsxWorkbook } from '../xlsx.ts';
import { idString, nullableNumber, tokenParam } from './schemas.ts';

/** YYYY-MM strings compare in time order. */
const EARLIEST_MONTH = monthOf(EARLIEST_MS);

const METHOD =
  'Summed from the per-minute loads ingest integrates from the readings received (flow × concentration over the time they cover; a sample holds until the next within loads.maxGapMs, longer gaps are not filled). ' +
  'discharged (t) = Σ kg / 1000 per outfall pairing the pollutant with a flow meter; baseline (t) = the plant\'s own baseline concentration (baselines, level plant) × the volume of the same covered time / 1e6; reduction = baseline − discharged. ' +
  'Nothing is scaled up to the month: coverage = hours with data / hours in the month so far (the mean over the plant\'s outfalls; for a region, over its plants), partial below partialBelow. No data: figures null, coverage 0. Months in China Standard Time. ' +
  'National progress: the rules stage\'s year-to-date rows (written hourly from the same loads).';

interface ReductionsQuery {
  plant?: string;
  region?: string;
  from?: string;
  to?: string;
  by?: 'plant' | 'region';
  format?: 'json' | 'csv' | 'xlsx';
}

const tonnes = { type: 'number' } as const;

export const reductionsRoutes: FastifyPluginAsync<{ registry: PlantRegistry; influx: InfluxClient; now?: () => number }> = async (app, { registry, influx, now = Date.now }) => {
  app.get<{ Querystring: ReductionsQuery }>(
    '/reductions',
    {
      schema: {
        summary: 'COD and NH3-N discharged per month against baseline (tonnes), the reduction, and national progress; JSON or CSV',
        tags: ['reductions'],
        produces: ['application/json', 'text/csv', XLSX_CONTENT_TYPE],
        querystring: {
          type: 'object',
          properties: {
            plant: idString,
            region: idString,
            from: { type: 'string', pattern: MONTH_PATTERN.source, description: 'first month, YYYY-MM (China Standard Time); default: two months before to' },
            to: { type: 'string', pattern: MONTH_PATTERN.source, description: 'last month, YYYY-MM; default: this month' },
            by: { type: 'string', enum: ['plant', 'region'], default: 'plant' },
            format: { type: 'string', enum: ['json', 'csv', 'xlsx'], default: 'json', description: 'csv and xlsx (Excel): the rows\' figures, columns as the CSV header; a missing figure is an empty cell' },
            token: tokenParam,
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            required: ['method', 'pollutants', 'months', 'partialBelow', 'rows', 'national'],
            properties: {
              method: { type: 'string' },
              pollutants: { type: 'array', items: { type: 'string' } },
              months: { type: 'array', items: { type: 'string' } },
              partialBelow: { type: 'number', description: 'a figure whose coverage is below this share of its period is marked partial' },
              rows: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['month', 'region', 'plant', 'pollutant', 'dischargedTonnes', 'baselineTonnes', 'reductionTonnes', 'reductionShare', 'volumeM3', 'coveredHours', 'hours', 'coverage', 'partial'],
                  properties: {
                    month: { type: 'string' },
                    region: idString,
                    plant: { type: 'string', description: 'plant id, or * for a region total' },
                    pollutant: { type: 'string', enum: POLLUTANTS },
                    dischargedTonnes: { ...nullableNumber, description: 'what the covered time discharged; null without data (never 0 for want of data)' },
                    baselineTonnes: { ...nullableNumber, description: 'the load the baseline implies for the same time and volume; null without data or without a baseline' },
                    reductionTonnes: { ...nullableNumber, description: 'baseline − discharged; null without data or without a baseline' },
                    reductionShare: { ...nullableNumber, description: 'reduction / baseline' },
                    volumeM3: { ...nullableNumber, description: 'the volume the figures cover, m3' },
                    coveredHours: { type: 'number', description: 'hours with data' },
                    hours: { type: 'number', description: 'hours in the month so far' },
                    coverage: { type: 'number', description: 'coveredHours / hours, 0..1' },
                    partial: { type: 'boolean', description: 'coverage below partialBelow' },
                  },
                },
              },
              national: {
                type: ['object', 'null'],
                description: 'admins and regulators: year-to-date reductions of every plant against the plan\'s targets, from the rules stage; null for operators or before rules has written',
                required: ['year', 'pollutants'],
                properties: {
                  year: { type: 'string' },
                  pollutants: {
                    type: 'array',
                    items: {
                      type: 'object',
                      required: ['pollutant', 'month', 'targetTonnes', 'yearToDateTonnes', 'progress'],
                      properties: { pollutant: { type: 'string', enum: POLLUTANTS }, month: { type: 'string' }, targetTonnes: tonnes, yearToDateTonnes: tonnes, progress: { type: 'number' } },
                    },
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
      const caller = callerOf(request);
      const plants = plantsForCaller(caller, registry, { plant: q.plant, region: q.region });
      const at = now();
      const latest = monthOf(latestAccepted(at));
      for (const field of ['from', 'to'] as const) {
        const month = q[field];
        if (month !== undefined && (month < EARLIEST_MONTH || month > latest)) throw badParameter(field, `${field} must be a month from ${EARLIEST_MONTH} to ${latest}, got ${month}`, 'BAD_MONTH');
      }
      const to = q.to ?? monthOf(at);
      const from = q.from ?? monthsBack(to, 2);
      const months = monthsBetween(from, to);
      const seesNation = caller.role === 'admin' || caller.role === 'regulator';
      const [sums, baselines, national] = await Promise.all([
        fetchLoadSums(influx, plants, months, at),
        fetchBaselines(influx, plants, { level: 'plant' }),
        seesNation && (q.format ?? 'json') === 'json' ? fetchNationalProgress(influx, to) : Promise.resolve([]),
      ]);
      const own = new Map(baselines.map((b) => [`${b.plant}\u0000${b.indicator}`, b.value]));
      const plantRows = reductionRows(plants, months, sums, (plant: string, pollutant: Pollutant) => own.get(`${plant}\u0000${pollutant}`), at);
      const rows = q.by === 'region' ? regionTotals(plantRows) : plantRows;
      if (q.format === 'xlsx') {
        const book = xlsxWorkbook('reductions', [[...CSV_COLUMNS], ...rows.map(reductionCells)]);
        return reply.type(XLSX_CONTENT_TYPE).header('content-disposition', `attachment; filename="cleanstream-reductions-${from}-${to}.xlsx"`).send(book);
      }
      if (q.format === 'csv') {
        return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="cleanstream-reductions-${from}-${to}.csv"`).send(reductionsCsv(rows));
      }
      return { method: METHOD, pollutants: [...POLLUTANTS], months, partialBelow: PARTIAL_BELOW, rows, national: national.length ? { year: to.slice(0, 4), pollutants: national } : null };
    },
  );
};

function monthsBack(month: string, n: number): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const index = y * 12 + (m - 1) - n;
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, '0')}`;
}
