import { plantRegistryFrom } from '../core/plants.ts';

/** One plant like the demo's paper mill, for unit tests. */
export const testRegistry = plantRegistryFrom('test registry', {
  regions: [{ id: 'hebei', name: { en: 'Hebei', zh: '河北' } }],
  plants: [
    {
      id: 'paper-01',
      name: { en: 'Paper', zh: '造纸' },
      region: 'hebei',
      industry: 'pulp-paper',
      outfalls: [{ id: 'outfall-1' }],
      meters: [
        { id: 'outfall-1-flow', location: 'outfall-1', quantities: ['wastewater_flow'] },
        { id: 'outfall-1-cod', location: 'outfall-1', quantities: ['cod'] },
        { id: 'outfall-1-nh3n', location: 'outfall-1', quantities: ['nh3n'] },
        { id: 'main-power', location: 'site', quantities: ['active_power'] },
      ],
    },
  ],
});

export const registryPlant = testRegistry.plant('paper-01')!;
