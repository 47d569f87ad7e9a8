/**
 * GET /api/plants/:plant/series?quantity=&meter=&from=&to=&every=&mode= : the mean of a quantity per `every` bucket
 * between `from` (inclusive) and `to` (exclusive), one series per meter (or only the meter asked for); with
 * `mode=increase`, for a counter, the amount counted in each bucket instead (see counterIncreases).
 *
 * The statement is built here from validated parameters; the number of buckets is bounded so that no request can
 * ask the database for an unbounded answer.
 */
import type { FastifyPluginAsync } from 'fastify';
import { quantityDef, type QuantityId } from '../../core/catalog.ts';
import type { PlantRegistry } from '../../core/plants.ts';
import { callerOf, plantForCaller } from '../auth.ts';
import { badParameter, checkedWindow, instantSchema, MIN_EVERY_MS } from '../params.ts';
import type { InfluxClient } from '../../influxdb/client.ts';
import { quoteIdentifier, quoteStringLiteral, tagIn } from '../../influxdb/schema.ts';
import { metersByQuantity } from './latest.ts';
import { idString, plantParams, quantityId, tokenParam } from './schemas.ts';

/** Buckets per series at most. */
export const MAX_POINTS = 1000;
/** Buckets when `every` is not given. */
export const DEFAULT_POINTS = 120;
export const DEFAULT_RANGE_MS = 3_600_000;

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export const EVERY_PATTERN = /^([1-9][0-9]{0,8})(ms|s|m|h|d)$/;

/** `30s` → 30000; undefined when it is not a duration this API accepts. */
export function parseEvery(text: string): number | undefined {
  const match = EVERY_PATTERN.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

export interface SeriesRequest {
  plant: string;
  quantity: QuantityId;
  meters: readonly string[];
  from: number;
  to: number;
  everyMs: number;
}

/** `mean`: the mean per bucket (gauges); `increase`: what a counter counted per bucket. */
export const SERIES_MODES = ['mean', 'increase'] as const;
export type SeriesMode = (typeof SERIES_MODES)[number];

export interface SeriesQuery {
  quantity?: string;
  meter?: string;
  from?: number;
  to?: number;
  every?: string;
  mode?: SeriesMode;
}

/**
 * Resolve defaults and check the window: both ends between 2000 and a day from now, `every` from 1 s to the window's
 * span, at most MAX_POINTS buckets. Throws HttpError 400 naming the parameter.
 */
export function resolveWindow(query: Pick<SeriesQuery, 'from' | 'to' | 'every'>, now: number): { from: number; to: number; everyMs: number } {
  const { from, to } = checkedWindow(query, now, DEFAULT_RANGE_MS);
  const span = to - from;
  const everyMs = query.every === undefined ? Math.max(MIN_EVERY_MS, Math.ceil(span / DEFAULT_POINTS / 1000) * 1000) : parseEvery(query.every);
  if (everyMs === undefined) throw badParameter('every', `every must be a duration like 10s, 5m or 1h, got ${query.every}`, 'BAD_EVERY');
  if (everyMs < MIN_EVERY_MS || (query.every !== undefined && everyMs > span)) {
    throw badParameter('every', `every must be from ${MIN_EVERY_MS / 1000} s to the window's span (${span} ms), got ${query.every}`, 'BAD_EVERY');
  }
  const points = Math.ceil(span / everyMs);
  if (points > MAX_POINTS) {
    throw badParameter('every', `${points} buckets of ${everyMs} ms between from and to; at most ${MAX_POINTS}: ask for a larger every or a shorter window`, 'TOO_MANY_POINTS');
  }
  return { from, to, everyMs };
}

export function seriesStatement(req: SeriesRequest): string {
  const measurement = quoteIdentifier(quantityDef(req.quantity).domain);
  return (
    `SELECT mean(${quoteIdentifier(req.quantity)}) AS "value" FROM ${measurement}` +
    ` WHERE "plant" = ${quoteStringLiteral(req.plant)} AND ${tagIn('meter', req.meters)} AND time >= ${req.from}ms AND time < ${req.to}ms` +
    ` GROUP BY time(${req.everyMs}ms), "meter" fill(none)`
  );
}

/**
 * The counter's last reading per bucket, from the bucket before the window's first one (the increase of the first
 * bucket is counted from it).
 */
export function counterStatement(req: SeriesRequest): string {
  const measurement = quoteIdentifier(quantityDef(req.quantity).domain);
  const from = Math.floor(req.from / req.everyMs) * req.everyMs - req.everyMs;
  return (
    `SELECT last(${quoteIdentifier(req.quantity)}) AS "value" FROM ${measurement}` +
    ` WHERE "plant" = ${quoteStringLiteral(req.plant)} AND ${tagIn('meter', req.meters)} AND time >= ${from}ms AND time < ${req.to}ms` +
    ` GROUP BY time(${req.everyMs}ms), "meter" fill(none)`
  );
}

/** The counter's last reading in the window, at its own time: where a live client counts on from. */
export function counterLastStatement(req: SeriesRequest): string {
  const measurement = quoteIdentifier(quantityDef(req.quantity).domain);
  return (
    `SELECT last(${quoteIdentifier(req.quantity)}) AS "value" FROM ${measurement}` +
    ` WHERE "plant" = ${quoteStringLiteral(req.plant)} AND ${tagIn('meter', req.meters)} AND time >= ${req.from}ms AND time < ${req.to}ms GROUP BY "meter"`
  );
}

/**
 * What a counter counted in each bucket, from its last reading per bucket ([bucket start, last], sorted): the last
 * reading minus the previous bucket's last. A drop is a reset (a meter replaced, a register that wrapped): the bucket
 * counts from zero, its last reading, never a negative amount (as Prometheus' increase()). A bucket whose previous
 * bucket has no reading is left out: what was counted over the silence cannot be told apart per bucket, and a gap is
 * shown as a gap, never as zero or as one tall bar. Buckets starting before `firstBucket` (the one read only to count
 * the first bucket from) are not returned.
 */
export function counterIncreases(lasts: readonly (readonly [number, number])[], everyMs: number, firstBucket: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 1; i < lasts.length; i++) {
    const [t, value] = lasts[i] as readonly [number, number];
    const [previousT, previous] = lasts[i - 1] as readonly [number, number];
    if (t < firstBucket || t - previousT !== everyMs) continue;
    out.push([t, value >= previous ? value - previous : value]);
  }
  return out;
}

export const seriesRoutes: FastifyPluginAsync<{ registry: PlantRegistry; influx: InfluxClient; now?: () => number }> = async (app, { registry, influx, now = Date.now }) => {
  app.get<{ Params: { plant: string }; Querystring: SeriesQuery & { quantity: QuantityId } }>(
    '/plants/:plant/series',
    {
      schema: {
        summary: 'Mean of a quantity per time bucket (InfluxQL built on the server from these parameters)',
        tags: ['plants'],
        params: plantParams,
        querystring: {
          type: 'object',
          required: ['quantity'],
          properties: {
            quantity: quantityId,
            meter: idString,
            from: instantSchema('start, ms since the epoch (default: an hour before to)'),
            to: instantSchema('end, exclusive, ms since the epoch (default: now)'),
            every: { type: 'string', pattern: EVERY_PATTERN.source, description: `bucket width such as 10s, 5m, 1h, from 1 s to the window's span (default: about ${DEFAULT_POINTS} buckets); at most ${MAX_POINTS} buckets` },
            mode: {
              type: 'string',
              enum: [...SERIES_MODES],
              description: 'mean (default): the mean per bucket; increase: for a counter (kind counter: totalised volume, energy, production), the amount counted in each bucket, a drop counted as a reset from zero, a bucket after one without readings left out',
            },
            token: tokenParam,
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            required: ['plant', 'quantity', 'unit', 'from', 'to', 'everyMs', 'mode', 'series'],
            properties: {
              plant: idString,
              quantity: quantityId,
              unit: { type: 'string' },
              mode: { type: 'string', enum: [...SERIES_MODES] },
              from: { type: 'integer' },
              to: { type: 'integer' },
              everyMs: { type: 'integer' },
              series: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['meter', 'points'],
                  properties: {
                    meter: idString,
                    points: { type: 'array', description: '[bucket start ms, mean] (mode increase: [bucket start ms, amount counted])', items: { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 } },
                    last: {
                      type: 'array',
                      description: 'mode increase: the counter\'s last reading in the window [ms, value], from which a live client counts on; absent without one',
                      items: { type: 'number' },
                      minItems: 2,
                      maxItems: 2,
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
      const plant = plantForCaller(callerOf(request), registry, request.params.plant);
      const { quantity, meter, mode = 'mean' } = request.query;
      const measuring = metersByQuantity(plant).get(quantity) ?? [];
      if (measuring.length === 0) throw badParameter('quantity', `plant ${plant.id} has no meter measuring ${quantity}`, 'NOT_MEASURED');
      if (meter !== undefined && !measuring.includes(meter)) throw badParameter('meter', `meter ${meter} of plant ${plant.id} does not measure ${quantity}`, 'NOT_MEASURED');
      if (mode === 'increase' && quantityDef(quantity).kind !== 'counter') {
        throw badParameter('mode', `mode increase is for counters; ${quantity} is a ${quantityDef(quantity).kind}`, 'NOT_A_COUNTER');
      }
      const window = resolveWindow(request.query, now());
      const meters = meter === undefined ? measuring : [meter];
      const req = { plant: plant.id, quantity, meters, ...window };
      const [result = [], lasts = []] = await influx.query(mode === 'increase' ? [counterStatement(req), counterLastStatement(req)] : [seriesStatement(req)]);
      const series = meters.map((m) => {
        const found = result.find((s) => s.tags.meter === m);
        const points = (found?.values ?? []).filter((v): v is [number, number] => typeof v[0] === 'number' && typeof v[1] === 'number').map(([t, v]): [number, number] => [t, v]);
        if (mode === 'mean') return { meter: m, points };
        const last = lasts.find((s) => s.tags.meter === m)?.values[0];
        const firstBucket = Math.floor(window.from / window.everyMs) * window.everyMs;
        const counted = counterIncreases(points, window.everyMs, firstBucket);
        return { meter: m, points: counted, ...(typeof last?.[0] === 'number' && typeof last[1] === 'number' ? { last: [last[0], last[1]] } : {}) };
      });
      return { plant: plant.id, quantity, unit: quantityDef(quantity).unit, mode, from: window.from, to: window.to, everyMs: window.everyMs, series };
    },
  );
};
