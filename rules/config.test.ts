import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { configErrorOf as errorOf, tempConfigFile } from '../test/harness/config-files.ts';
import { loadRulesConfig } from './config.ts';

const configFile = (rules: string): string =>
  tempConfigFile('rules.yaml', `mqtt: { url: mqtt://127.0.0.1:1883 }\ninflux: { url: http://127.0.0.1:8086, database: cs }\nrules:\n${rules}`);

describe('rules config', () => {
  it('loads the sample rules with paths resolved next to the file', () => {
    const sample = fileURLToPath(new URL('./sample.yaml', import.meta.url));
    const config = loadRulesConfig(sample, {});
    expect(config.rules.map((r) => r.kind)).toEqual(['limit', 'limit', 'limit', 'limit', 'limit', 'stale', 'flatline', 'repeated', 'baseline', 'quality', 'intensity']);
    expect(config.rules.at(-1)).toMatchObject({ id: 'water-intensity', selector: { industries: ['steel'] }, params: { indicator: 'water_m3_per_t', level: 'III', marginPct: 10, windowMs: 86_400_000 } });
    expect(config.history).toMatchObject({ enabled: true, learn: { quantities: ['cod', 'nh3n'], days: 30, percentile: 50 } });
    expect(config.plants).toBe(fileURLToPath(new URL('../deploy/demo/plants.yaml', import.meta.url)));
    expect(config.rules[0]).toMatchObject({ id: 'cod-limit', severity: 'major', params: { limit: 'catalog', clear: { deadbandPct: 5 }, averaging: 'instantaneous' } });
  });

  it('names the file, the field path and what was expected', () => {
    const file = configFile(`  - { id: a, kind: limit, severity: major, selector: { quantity: cod }, limit: { max: 90 }, clear: { below: 95 } }
  - { id: b, kind: limit, severity: urgent, selector: { quantity: cod }, limit: catalog }
  - { id: c, kind: sustained, severity: minor, selector: { quantity: cod }, limit: catalog }
  - { id: d, kind: rate, severity: minor, selector: {}, maxPerMinute: 3 }
`);
    const err = errorOf(() => loadRulesConfig(file, {}));
    expect(err.file).toBe(file);
    expect(err.issues).toEqual(
      expect.arrayContaining([
        { path: 'rules[1].severity', expected: 'expected one of "warning", "minor", "major", "critical"' },
        { path: 'rules[2].forMs', expected: expect.stringContaining('expected number') },
      ]),
    );
  });

  it('checks across fields: clear level inside the limit, quantity where the kind needs one, unique ids', () => {
    const file = configFile(`  - { id: a, kind: limit, severity: major, selector: { quantity: cod }, limit: { max: 90 }, clear: { below: 95 } }
  - { id: a, kind: rate, severity: minor, selector: {}, maxPerMinute: 3 }
`);
    const err = errorOf(() => loadRulesConfig(file, {}));
    expect(err.issues).toEqual([
      { path: 'rules[0].clear.below', expected: 'expected a level at or below max (90)' },
      { path: 'rules[1].id', expected: 'expected a unique rule id, a is also rules[0]' },
      { path: 'rules[1].selector.quantity', expected: 'expected the quantity a rate rule judges' },
    ]);
  });

  it('refuses unknown fields in a rule, so a typo is not silently ignored', () => {
    const file = configFile(`  - { id: a, kind: limit, severity: major, selector: { quantity: cod }, limit: catalog, averageing: instantaneous }\n`);
    expect(errorOf(() => loadRulesConfig(file, {})).issues).toEqual([{ path: 'rules[0]', expected: 'unknown field(s) "averageing"' }]);
  });
});
