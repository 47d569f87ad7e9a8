import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadPlantRegistry } from '../core/plants.ts';
import { registerMapMarkdown } from './register-map.ts';

describe('documented register map', () => {
  it('in simulators/README.md is the one the layout produces for the demo registry', () => {
    const registry = loadPlantRegistry(new URL('../deploy/demo/plants.yaml', import.meta.url).pathname);
    const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    expect(readme).toContain(registerMapMarkdown(registry));
  });
});
