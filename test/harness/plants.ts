/**
 * The plant registries tests run on, by name: a test says which plant shape it needs ("the demo's plants", "one
 * paper mill", "plants in two regions") instead of spelling out a registry, so the shapes stay few and each test
 * still reads on its own. Every builder returns a fresh registry; the demo one is loaded once per test file.
 */
import path from 'node:path';
import type { QuantityId } from '../../core/catalog.ts';
import { loadPlantRegistry, plantRegistryFrom, type Meter, type PlantRegistry } from '../../core/plants.ts';

/** The demo registry the `up` command and most integration tests use: paper-01, dyeing-01, steel-01 and more. */
export const DEMO_PLANTS_FILE = path.resolve(import.meta.dirname, '../../deploy/demo/plants.yaml');

let demo: PlantRegistry | undefined;

/** The demo's plants (deploy/demo/plants.yaml). */
export function demoPlants(): PlantRegistry {
  return (demo ??= loadPlantRegistry(DEMO_PLANTS_FILE));
}

/** The meters of the paper mill below: outfall flow, COD and NH3-N, and the site's power meter. */
export const PAPER_MILL_METERS: readonly Meter[] = [
  { id: 'outfall-1-flow', location: 'outfall-1', quantities: ['wastewater_flow'] },
  { id: 'outfall-1-cod', location: 'outfall-1', quantities: ['cod'] },
  { id: 'outfall-1-nh3n', location: 'outfall-1', quantities: ['nh3n'] },
  { id: 'main-power', location: 'site', quantities: ['active_power'] },
];

/** One plant like the demo's paper mill: paper-01 (造纸) in region hebei, one outfall, `meters` (default PAPER_MILL_METERS). */
export function paperMillPlants(meters: readonly Meter[] = PAPER_MILL_METERS): PlantRegistry {
  return plantRegistryFrom('test plants: one paper mill', {
    regions: [{ id: 'hebei', name: { en: 'Hebei', zh: '河北' } }],
    plants: [{ id: 'paper-01', name: { en: 'Paper', zh: '造纸' }, region: 'hebei', industry: 'pulp-paper', outfalls: [{ id: 'outfall-1' }], meters: meters.map((m) => ({ ...m, quantities: [...m.quantities] })) }],
  });
}

/** Three plants in two regions, for scopes: paper-01 and paper-02 in hebei, dyeing-01 in zhejiang; each a COD meter cod-1. */
export function plantsInTwoRegions(): PlantRegistry {
  const cod = [{ id: 'cod-1', location: 'site', quantities: ['cod'] }];
  return plantRegistryFrom('test plants: two regions', {
    regions: [
      { id: 'hebei', name: { en: 'Hebei', zh: '河北' } },
      { id: 'zhejiang', name: { en: 'Zhejiang', zh: '浙江' } },
    ],
    plants: [
      { id: 'paper-01', name: { en: 'Paper', zh: '造纸' }, region: 'hebei', industry: 'pulp-paper', meters: cod },
      { id: 'paper-02', name: { en: 'Paper 2', zh: '造纸二' }, region: 'hebei', industry: 'pulp-paper', meters: cod },
      { id: 'dyeing-01', name: { en: 'Dyeing', zh: '印染' }, region: 'zhejiang', industry: 'textile-dyeing', meters: cod },
    ],
  });
}

/**
 * One chemical works p1 with two outfalls, for pollutant loads: flow meter f1 (flow and volume) and analyser c1 (COD,
 * NH3-N) at outfall-1, analyser c2 (COD) alone at outfall-2 (no flow there), a site power meter.
 */
export function twoOutfallWorks(): PlantRegistry {
  return plantRegistryFrom('test plants: two outfalls', {
    plants: [
      {
        id: 'p1',
        name: { en: 'P1', zh: 'P1' },
        region: 'r',
        industry: 'chemicals',
        outfalls: [{ id: 'outfall-1' }, { id: 'outfall-2' }],
        meters: [
          { id: 'f1', location: 'outfall-1', quantities: ['wastewater_flow', 'wastewater_volume'] },
          { id: 'c1', location: 'outfall-1', quantities: ['cod', 'nh3n'] },
          { id: 'c2', location: 'outfall-2', quantities: ['cod'] },
          { id: 'power', location: 'site', quantities: ['active_power'] },
        ],
      },
    ],
  });
}

/** `count` steel plants `<idPrefix>0`, `<idPrefix>1`, … in region r, each one site meter `m` measuring `quantity`: for fleets. */
export function manyPlants(count: number, opts: { idPrefix: string; quantity: QuantityId }): PlantRegistry {
  return plantRegistryFrom(`test plants: ${count}`, {
    plants: Array.from({ length: count }, (_, i) => ({
      id: `${opts.idPrefix}${i}`,
      name: { en: `Plant ${i}`, zh: `工厂${i}` },
      region: 'r',
      industry: 'steel',
      meters: [{ id: 'm', location: 'site', quantities: [opts.quantity] }],
    })),
  });
}
