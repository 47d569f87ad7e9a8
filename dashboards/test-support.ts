import { paperMillPlants } from '../test/harness/plants.ts';

/** One plant like the demo's paper mill, for unit tests. */
export const testRegistry = paperMillPlants();


export const registryPlant = testRegistry.plant('paper-01')!;
