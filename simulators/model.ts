/**
 * The simulated plant: every meter's value as a pure function of (seed, plant, meter, quantity, time).
 *
 * A plant-wide production level (three shifts, weekends, a slow wander; see production.ts) drives each gauge
 * through its industry profile (plants/), plus a per-point wander and per-second measurement jitter from hash
 * noise. Counters (wastewater_volume, active_energy) are the closed-form integral of their meter's true rate
 * since COUNTER_ORIGIN_MS, so they only increase and agree with the rate. Being stateless, the OPC UA server,
 * the Modbus server and a later replay all see the same value for the same instant.
 */
import { quantityDef, type QuantityId } from '../core/catalog.ts';
import { CleanstreamError } from '../core/errors.ts';
import type { Plant, PlantRegistry } from '../core/plants.ts';
import type { Quality } from '../core/reading.ts';
import { createWander, gaussian, hashString, mix, uniform } from './noise.ts';
import { COUNTER_RATE, INDUSTRY_PROFILES, gaugeProfile, isCounterQuantity, type GaugeProfile } from './plants/index.ts';
import { createProduction, type Production } from './production.ts';
import { simulatedQuantity } from './layout.ts';

export interface Sample {
  value: number;
  quality: Quality;
}

export interface PlantModel {
  readonly plant: Plant;
  readonly seed: number;
  /** The plant's size relative to its industry profile (0.8-1.25), applied to flows, power and fuel. */
  readonly size: number;
  /** Production level at t (1 = weekday day shift). */
  production(tMs: number): number;
  /** Whether the plant is in a planned maintenance stop at t (industries with stops in their profile only). */
  stopped(tMs: number): boolean;
  /** The value of one point at t (ms since the epoch), in the quantity's canonical unit (core/catalog.ts). */
  sample(meterId: string, quantity: QuantityId, tMs: number): Sample;
}

/** Counters read their commissioning value at 2024-01-01 00:00 China Standard Time and totalise from there. */
export const COUNTER_ORIGIN_MS = Date.UTC(2023, 11, 31, 16, 0, 0);

const MS_PER_HOUR = 3_600_000;
/** Jitter changes once per second: two reads within the same second agree. */
const JITTER_BUCKET_MS = 1_000;

type Sampler = (tMs: number) => number;

const GOOD: Quality = 'good';

export function createPlantModel(plant: Plant, seed: number): PlantModel {
  const plantKey = hashString(`${seed}\u0000${plant.id}`);
  const size = 0.8 + 0.45 * uniform(plantKey, 1);
  const production = createProduction(INDUSTRY_PROFILES[plant.industry].shifts, mix(plantKey, 2));
  const pointKey = (meterId: string, quantity: QuantityId): number => hashString(`${meterId}\u0000${quantity}`, plantKey);

  const samplers = new Map<string, Map<QuantityId, Sampler>>();
  for (const meter of plant.meters) {
    const byQuantity = new Map<QuantityId, Sampler>();
    for (const declaredOrBuiltin of meter.quantities) {
      const q = simulatedQuantity(declaredOrBuiltin);
      if (isCounterQuantity(q)) {
        const rateQuantity = COUNTER_RATE[q];
        byQuantity.set(q, counterSampler(gaugeProfile(plant.industry, rateQuantity), pointKey(meter.id, rateQuantity), size, production));
      } else {
        byQuantity.set(q, gaugeSampler(q, gaugeProfile(plant.industry, q), pointKey(meter.id, q), size, production));
      }
    }
    samplers.set(meter.id, byQuantity);
  }

  return {
    plant,
    seed,
    size,
    production: (tMs) => production.at(tMs),
    stopped: (tMs) => production.stopped(tMs),
    sample(meterId, quantity, tMs) {
      const sampler = samplers.get(meterId)?.get(quantity);
      if (!sampler) {
        throw new CleanstreamError('SIM_UNKNOWN_POINT', `plant ${plant.id} has no meter ${meterId} measuring ${quantity}`, {
          plant: plant.id,
          meter: meterId,
          quantity,
        });
      }
      return { value: sampler(tMs), quality: GOOD };
    },
  };
}

/** One model per plant of the registry, keyed by plant id. */
export function createRegistryModels(registry: PlantRegistry, seed: number): Map<string, PlantModel> {
  return new Map(registry.plants.map((plant) => [plant.id, createPlantModel(plant, seed)]));
}

function gaugeSampler(quantity: QuantityId, profile: GaugeProfile, key: number, size: number, production: Production): Sampler {
  const scale = profile.extensive ? size : 1;
  const wander = createWander(key);
  const jitterKey = mix(key, 0x6a177e5);
  const [catalogMin, catalogMax] = quantityDef(quantity).range;
  const min = Math.max(profile.min * scale, catalogMin);
  const max = Math.min(profile.max * scale, catalogMax);
  const { mean, coupling } = profile;
  return (tMs) => {
    const level = mean * (1 + coupling * (production.at(tMs) - 1));
    const v = scale * (level + profile.wander * wander.at(tMs / MS_PER_HOUR) + profile.jitter * gaussian(jitterKey, Math.floor(tMs / JITTER_BUCKET_MS)));
    return v < min ? min : v > max ? max : v;
  };
}

/**
 * The true rate (the rate gauge without its measurement jitter) integrated in closed form. The rate is positive for
 * every profile (checked by a unit test), so the counter strictly increases after the origin and is constant before it.
 */
function counterSampler(rate: GaugeProfile, rateKey: number, size: number, production: Production): Sampler {
  const scale = rate.extensive ? size : 1;
  const wander = createWander(rateKey);
  const { mean, coupling } = rate;
  const integral = (tMs: number): number => {
    const h = tMs / MS_PER_HOUR;
    return scale * (mean * (1 - coupling) * h + mean * coupling * production.integral(tMs) + rate.wander * wander.integral(h));
  };
  const atOrigin = integral(COUNTER_ORIGIN_MS);
  // the meter's reading when it was commissioned: some hundreds to a few thousand hours of earlier service
  const initial = scale * mean * (500 + 2_000 * uniform(rateKey, 7));
  return (tMs) => initial + (tMs <= COUNTER_ORIGIN_MS ? 0 : integral(tMs) - atOrigin);
}
