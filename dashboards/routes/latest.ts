/**
 * GET /api/plants/:plant/latest: the last reading of every meter × quantity of a plant.
 *
 * One statement per quantity, all in one request:
 *   SELECT last("<q>_quality") AS "quality", "<q>" AS "value" FROM "<domain>" WHERE "plant" = '<p>' AND (<its meters>) GROUP BY "meter"
 * The selector is on the quality field because ingest writes a quality for every reading, a value only when there
 * was one: so a reading that arrived without a value shows as such instead of an older value.
 * Points stamped later than InfluxDB's now() + LATEST_MAX_FUTURE are left out: a reading from the future (a meter
 * clock far ahead, written before ingest refused such readings, or by another writer) would otherwise stay the
 * plant's "latest" until its time came, whatever arrived after it.
 */
import type { FastifyPluginAsync } from 'fastify';
import { quantityDef, type QuantityId } from '../../core/catalog.ts';
import type { Plant, PlantRegistry } from '../../core/plants.ts';
import type { BatchReading } from '../../core/reading.ts';
import { isQuality } from '../quality.ts';
import { callerOf, plantForCaller } from '../auth.ts';
import { seriesRows, type InfluxClient } from '../../influxdb/client.ts';
import { qualityField, quoteIdentifier, quoteStringLiteral, tagIn } from '../../influxdb/schema.ts';
import { idString, nullableNumber, plantParams, quality, quantityId, tokenParam } from './schemas.ts';

/** The last reading of one meter x quantity, as InfluxDB holds it (canonical unit). */
export type LatestReading = BatchReading;

/** Meters of the plant per quantity they measure. */
export function metersByQuantity(plant: Plant): Map<QuantityId, string[]> {
  const out = new Map<QuantityId, string[]>();
  for (const meter of plant.meters) {
    for (const q of meter.quantities as QuantityId[]) out.set(q, [...(out.get(q) ?? []), meter.id]);
  }
  return out;
}

/** Clock skew between the meters' clocks and InfluxDB's host that /latest tolerates (InfluxQL duration). */
export const LATEST_MAX_FUTURE = '1m';

export function latestStatement(plantId: string, quantity: QuantityId, meters: readonly string[]): string {
  const field = quoteIdentifier(quantity);
  const quality = quoteIdentifier(qualityField(quantity));
  const measurement = quoteIdentifier(quantityDef(quantity).domain);
  return `SELECT last(${quality}) AS "quality", ${field} AS "value" FROM ${measurement} WHERE "plant" = ${quoteStringLiteral(plantId)} AND ${tagIn('meter', meters)} AND time <= now() + ${LATEST_MAX_FUTURE} GROUP BY "meter"`;
}

/** The last reading of every meter × quantity of each plant, in one request to InfluxDB. */
export async function fetchLatest(influx: InfluxClient, plants: readonly Plant[]): Promise<Map<string, LatestReading[]>> {
  const wanted = plants.flatMap((plant) => [...metersByQuantity(plant)].map(([quantity, meters]) => ({ plant: plant.id, quantity, meters })));
  const out = new Map<string, LatestReading[]>(plants.map((p) => [p.id, []]));
  if (wanted.length === 0) return out;
  const results = await influx.query(wanted.map((w) => latestStatement(w.plant, w.quantity, w.meters)));
  wanted.forEach(({ plant, quantity, meters }, i) => {
    const readings = out.get(plant) as LatestReading[];
    for (const series of results[i] ?? []) {
      for (const row of seriesRows(series)) {
        const meter = row.meter;
        if (typeof meter !== 'string' || !meters.includes(meter) || !isQuality(row.quality) || typeof row.time !== 'number') continue;
        readings.push({ meter, quantity, value: typeof row.value === 'number' ? row.value : null, unit: quantityDef(quantity).unit, ts: row.time, quality: row.quality });
      }
    }
  });
  return out;
}

export const latestRoutes: FastifyPluginAsync<{ registry: PlantRegistry; influx: InfluxClient }> = async (app, { registry, influx }) => {
  app.get<{ Params: { plant: string } }>(
    '/plants/:plant/latest',
    {
      schema: {
        summary: 'Last value, time and quality of every meter and quantity of a plant',
        tags: ['plants'],
        params: plantParams,
        querystring: { type: 'object', properties: { token: tokenParam }, additionalProperties: false },
        response: {
          200: {
            type: 'object',
            required: ['plant', 'readings'],
            properties: {
              plant: idString,
              readings: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['meter', 'quantity', 'value', 'unit', 'ts', 'quality'],
                  properties: { meter: idString, quantity: quantityId, value: nullableNumber, unit: { type: 'string' }, ts: { type: 'integer' }, quality },
                },
              },
            },
          },
        },
      },
    },
    async (request) => {
      const plant = plantForCaller(callerOf(request), registry, request.params.plant);
      const readings = (await fetchLatest(influx, [plant])).get(plant.id) ?? [];
      return { plant: plant.id, readings };
    },
  );
};
