/**
 * Horizontal scale: several rules processes, each owning a partition of the plants. Every series of a plant (and so
 * every window, intensity and deadman rule of it) must be judged by one process, so a partition is a set of whole
 * plants, subscribed to with one per-plant topic filter each (`cleanstream/v1/readings/{plant}/+`). Shared
 * subscriptions (`$share/...`) are not used: the broker splits them message by message, not by plant.
 *
 * A partition is either `{ index, count }` (plants by a stable hash of their id: the same plant lands in the same
 * partition on every machine and every run) or an explicit `{ plants: [...] }` list. Each partition has its own MQTT
 * client id, checkpoint file and journal, derived from the partition's name unless given.
 */
import path from 'node:path';
import { CleanstreamError, ConfigError } from '../core/errors.ts';
import { PlantRegistry } from '../core/plants.ts';
import { topics } from '../bus/topics.ts';
import type { RulesConfig } from './config.ts';

export type PartitionSpec = { index: number; count: number } | { plants: readonly string[] };

/** FNV-1a (32 bit) of a plant id: stable across processes, machines and Node versions, unlike Map order or Math.random. */
export function plantHash(plantId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < plantId.length; i++) {
    h ^= plantId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The partition (0..count-1) a plant belongs to when plants are spread over `count` partitions. */
export function partitionOf(plantId: string, count: number): number {
  return plantHash(plantId) % count;
}

/** A short name for ids and file names: `p2of4`, or `plants-<hash of the list>` for an explicit list. */
export function partitionName(spec: PartitionSpec): string {
  if ('plants' in spec) return `plants-${plantHash([...spec.plants].sort().join(',')).toString(16)}`;
  return `p${spec.index}of${spec.count}`;
}

/** The plants of the registry a partition owns, in registry order. */
export function ownedPlantIds(spec: PartitionSpec, registry: PlantRegistry | undefined): string[] {
  if ('plants' in spec) return [...spec.plants];
  if (!registry) {
    throw new ConfigError('rules config', [{ path: 'partition', expected: 'a plant registry (`plants:`) to spread plants by { index, count }, or an explicit { plants: [...] } list' }]);
  }
  return registry.plants.filter((p) => partitionOf(p.id, spec.count) === spec.index).map((p) => p.id);
}

/**
 * The registry as this partition sees it: its own plants only, so deadman rules watch only its meters, intensity
 * operators are made only for its plants, and history jobs compute only its baselines and reductions.
 */
export function partitionRegistry(registry: PlantRegistry, owned: ReadonlySet<string>): PlantRegistry {
  const missing = [...owned].filter((id) => !registry.plant(id));
  if (missing.length) {
    throw new CleanstreamError('PARTITION_UNKNOWN_PLANTS', `partition plants not in the plant registry: ${missing.join(', ')}`, { missing });
  }
  return new PlantRegistry({ regions: [...registry.regions], plants: registry.plants.filter((p) => owned.has(p.id)) });
}

/** One readings filter per owned plant. */
export function partitionFilters(owned: readonly string[]): string[] {
  return owned.map((plant) => topics.readingsFilter(plant));
}

/** `checkpoint.json` → `checkpoint.p1of2.json`: a partition's own checkpoint (and so journal) next to the configured one. */
export function partitionFile(file: string, name: string): string {
  const dot = file.lastIndexOf('.');
  const slash = Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\'));
  return dot > slash + 1 ? `${file.slice(0, dot)}.${name}${file.slice(dot)}` : `${file}.${name}`;
}

/** Parse the CLI's `--partition I/N` (e.g. 0/2). */
export function parsePartitionFlag(value: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(value.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) throw new CleanstreamError('PARTITION_FLAG', `--partition must be INDEX/COUNT with 0 <= INDEX < COUNT (e.g. 0/2), got ${value}`, { value });
  return { index, count };
}

/** What a partition changes: the plants judged, the subscriptions, the client id and the checkpoint file. */
export interface RulesScope {
  registry: PlantRegistry | undefined;
  /** The plants this process judges; undefined: every plant. */
  owned: ReadonlySet<string> | undefined;
  subscriptions: string[];
  clientId: string;
  checkpointFile: string | undefined;
  /** Where the webhook outboxes are: a partition's own folder under the configured one (two processes never share a queue). */
  outboxDir: string | undefined;
  /**
   * Partitions of one feed fill up at the same pace: partition i of n takes its first checkpoint at (i + 1) / n of the
   * bounds, and keeps that phase, so that processes sharing a machine do not all checkpoint at once.
   */
  checkpointPhase: number;
}

/** The scope of a rules process: everything, or the partition its config names. */
export function scopeOf(config: RulesConfig, registry: PlantRegistry | undefined): RulesScope {
  const spec = config.partition;
  if (!spec) return { registry, owned: undefined, subscriptions: [config.subscription ?? topics.readingsFilter()], clientId: config.clientId, checkpointFile: config.checkpoint.file, outboxDir: config.notify.outboxDir, checkpointPhase: 1 };
  if (config.subscription) throw new ConfigError('rules config', [{ path: 'subscription', expected: 'no subscription with `partition` (a partition subscribes to its own plants)' }]);
  const ids = ownedPlantIds(spec, registry);
  const owned = new Set(ids);
  const name = partitionName(spec);
  return {
    registry: registry ? partitionRegistry(registry, owned) : undefined,
    owned,
    subscriptions: partitionFilters(ids),
    clientId: `${config.clientId}-${name}`,
    checkpointFile: config.checkpoint.file ? partitionFile(config.checkpoint.file, name) : undefined,
    outboxDir: config.notify.outboxDir ? path.join(config.notify.outboxDir, name) : undefined,
    checkpointPhase: 'index' in spec ? (spec.index + 1) / spec.count : 1,
  };
}
