import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { registerMapMarkdown } from './register-map.ts';
import { demoPlants } from '../test/harness/plants.ts';

describe('documented register map', () => {
  it('in simulators/README.md is the one the layout produces for the demo registry', () => {
    const registry = demoPlants();
    const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    expect(readme).toContain(registerMapMarkdown(registry));
  });
});
