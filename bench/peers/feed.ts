/**
 * The bench feed: gateway-style batches of readings, shared by the load generator (which publishes them) and the
 * bench (which builds the same points as line protocol for the raw InfluxDB ceiling and counts what arrived).
 *
 * Message m carries `perMessage` COD readings of one plant: plant m % plants, a block of consecutive meters, one scan
 * timestamp. Every reading of the feed is a distinct point (series × timestamp), so InfluxDB's count is exact.
 */
export interface FeedShape {
  plants: number;
  perMessage: number;
}

export const METERS_PER_PLANT = 1000;
export const FEED_T0 = 1_600_000_000_000;

export function messageShape(shape: FeedShape, m: number): { plant: string; firstMeter: number; ts: number } {
  const blocks = Math.ceil(METERS_PER_PLANT / shape.perMessage);
  const plant = m % shape.plants;
  const block = Math.floor(m / shape.plants) % blocks;
  const scan = Math.floor(m / (shape.plants * blocks));
  return { plant: `bench-${String(plant).padStart(3, '0')}`, firstMeter: block * shape.perMessage, ts: FEED_T0 + scan };
}

export const meterId = (i: number): string => `m-${String(i % METERS_PER_PLANT).padStart(4, '0')}`;
export const valueOf = (m: number, j: number): number => ((m * 7 + j * 13) % 10_000) / 10;

export function topicOf(shape: FeedShape, m: number): string {
  return `cleanstream/v1/readings/${messageShape(shape, m).plant}/gw-1`;
}

/** The JSON payload of message m (core/reading.ts ReadingBatch), built by concatenation: the generator's hot path. */
export function payloadOf(shape: FeedShape, m: number): string {
  const { plant, firstMeter, ts } = messageShape(shape, m);
  let readings = '';
  for (let j = 0; j < shape.perMessage; j++) {
    if (j > 0) readings += ',';
    readings += `{"meter":"${meterId(firstMeter + j)}","quantity":"cod","value":${valueOf(m, j)},"unit":"mg/L","ts":${ts},"quality":"good"}`;
  }
  return `{"v":1,"plant":"${plant}","gateway":"gw-1","seq":${m},"sentAt":${ts},"readings":[${readings}]}`;
}

/** The same readings as ingest writes them (line protocol, ms timestamps). */
export function linesOf(shape: FeedShape, m: number): string {
  const { plant, firstMeter, ts } = messageShape(shape, m);
  let out = '';
  for (let j = 0; j < shape.perMessage; j++) {
    if (j > 0) out += '\n';
    out += `water,meter=${meterId(firstMeter + j)},plant=${plant} cod=${valueOf(m, j)},cod_quality="good" ${ts}`;
  }
  return out;
}
