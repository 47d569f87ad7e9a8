import { describe, expect, it } from 'vitest';
import { CleanstreamError, ConfigError } from '../core/errors.ts';
import { parseRulesConfig } from './config.ts';
import { ownedPlantIds, parsePartitionFlag, partitionFile, partitionFilters, partitionName, partitionOf, partitionRegistry, plantHash } from './partition.ts';
import { manyPlants } from '../test/harness/plants.ts';

const registry = manyPlants(200, { idPrefix: 'plant-', quantity: 'cod' });


describe('partitions of the plants', () => {
  it('put every plant in exactly one partition, whatever the count', () => {
    for (const count of [1, 2, 3, 7]) {
      const seen = new Map<string, number>();
      for (let index = 0; index < count; index++) for (const id of ownedPlantIds({ index, count }, registry)) seen.set(id, (seen.get(id) ?? 0) + 1);
      expect(seen.size).toBe(200);
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
    }
  });

  it('spread plants roughly evenly (no partition more than 1.5× its share of 200 plants over 4)', () => {
    const sizes = [0, 1, 2, 3].map((index) => ownedPlantIds({ index, count: 4 }, registry).length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(75);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(25);
  });

  it('hash plant ids stably: the same id lands in the same partition on every run (FNV-1a)', () => {
    expect(plantHash('')).toBe(0x811c9dc5);
    expect(plantHash('a')).toBe(0xe40c292c);
    expect(partitionOf('steel-01', 3)).toBe(plantHash('steel-01') % 3);
  });

  it('subscribe per plant, never to a shared subscription that splits a plant\'s messages', () => {
    expect(partitionFilters(['paper-01', 'steel-01'])).toEqual(['cleanstream/v1/readings/paper-01/+', 'cleanstream/v1/readings/steel-01/+']);
  });

  it('give each partition its own checkpoint file and name', () => {
    expect(partitionName({ index: 1, count: 2 })).toBe('p1of2');
    expect(partitionFile('/var/rules/checkpoint.json', 'p1of2')).toBe('/var/rules/checkpoint.p1of2.json');
    expect(partitionFile('/var/rules.d/checkpoint', 'p0of2')).toBe('/var/rules.d/checkpoint.p0of2');
    expect(partitionName({ plants: ['b', 'a'] })).toBe(partitionName({ plants: ['a', 'b'] }));
  });

  it('see only their own plants in the registry', () => {
    const owned = new Set(ownedPlantIds({ index: 0, count: 2 }, registry));
    const view = partitionRegistry(registry, owned);
    expect(view.plants.map((p) => p.id)).toEqual([...owned]);
    expect(view.plant([...owned][0]!)).toBeDefined();
    expect(() => partitionRegistry(registry, new Set(['nowhere']))).toThrow(CleanstreamError);
  });

  it('need a registry to spread plants by hash', () => {
    expect(() => ownedPlantIds({ index: 0, count: 2 }, undefined)).toThrow(ConfigError);
    expect(ownedPlantIds({ plants: ['x'] }, undefined)).toEqual(['x']);
  });

  it('are validated in the config: index below count, or a plant list', () => {
    const base = { mqtt: { url: 'mqtt://127.0.0.1:1' }, influx: { url: 'http://127.0.0.1:1', database: 'd' }, rules: [{ id: 'r', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: { max: 1 } }] };
    expect(parseRulesConfig({ ...base, partition: { index: 1, count: 2 } } as never).partition).toEqual({ index: 1, count: 2 });
    expect(parseRulesConfig({ ...base, partition: { plants: ['steel-01'] } } as never).partition).toEqual({ plants: ['steel-01'] });
    expect(() => parseRulesConfig({ ...base, partition: { index: 2, count: 2 } } as never)).toThrow(/partition/);
  });

  it('read --partition I/N', () => {
    expect(parsePartitionFlag('1/4')).toEqual({ index: 1, count: 4 });
    expect(() => parsePartitionFlag('4/4')).toThrow(/INDEX\/COUNT/);
    expect(() => parsePartitionFlag('x')).toThrow(/INDEX\/COUNT/);
  });
});
