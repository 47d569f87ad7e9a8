import { describe, expect, it } from 'vitest';
import { configErrorOf as errorOf, tempConfigFile } from '../../test/harness/config-files.ts';
import { BUILTIN_STANDARDS_DIR, loadLimitsCatalog } from './catalog.ts';
import { DEMO_OVERRIDES, demoRegistry } from '../test-support.ts';

const at = (iso: string): number => Date.parse(iso);
const plant = (id: string) => demoRegistry().plant(id)!;
const withCategory = (id: string, category: string) => ({ ...plant(id), category });

const limitsFile = (text: string): string => tempConfigFile('limits.yaml', text);

describe('limits catalog', () => {
  const catalog = loadLimitsCatalog([BUILTIN_STANDARDS_DIR, DEMO_OVERRIDES]);

  it('gives GB 3544-2008 Table 2 by pulp-paper category: COD 100/90/80, NH3-N 12/8/8', () => {
    const t = at('2024-01-01T00:00:00Z');
    expect(['pulp', 'integrated', 'paper'].map((c) => catalog.limitFor(withCategory('paper-01', c), 'cod', t)?.max)).toEqual([100, 90, 80]);
    expect(['pulp', 'integrated', 'paper'].map((c) => catalog.limitFor(withCategory('paper-01', c), 'nh3n', t)?.max)).toEqual([12, 8, 8]);
    expect(catalog.limitFor(plant('paper-01'), 'tp', t)).toMatchObject({ max: 0.8, standard: 'GB 3544-2008', verified: true });
    expect(catalog.limitFor(plant('paper-01'), 'ph', t)).toMatchObject({ min: 6, max: 9 });
  });

  it('falls back to GB 8978-1996 grade 1 where no industry standard applies (steel before GB 13456-2012), or before it took effect', () => {
    expect(catalog.limitFor(plant('steel-01'), 'cod', at('2012-09-30T00:00:00Z'))).toMatchObject({ max: 100, standard: 'GB 8978-1996' });
    expect(catalog.limitFor(plant('steel-01'), 'nh3n', at('2012-09-30T00:00:00Z'))?.max).toBe(15);
    // GB 3544-2008 takes effect 2008-08-01 00:00 China Standard Time
    expect(catalog.limitFor(plant('paper-01'), 'cod', at('2008-07-31T15:59:59Z'))).toMatchObject({ max: 100, standard: 'GB 8978-1996' });
    expect(catalog.limitFor(plant('paper-01'), 'cod', at('2008-07-31T16:00:00Z'))).toMatchObject({ max: 90, standard: 'GB 3544-2008' });
  });

  it('judges the steel works by its sector standards: GB 13456-2012 for water, GB 28662-2012 for the sinter stack (unverified, row named)', () => {
    const t = at('2024-01-01T00:00:00Z');
    expect(catalog.limitFor(plant('steel-01'), 'cod', t)).toMatchObject({ max: 50, standard: 'GB 13456-2012', verified: false, source: expect.stringContaining('Table 2, row COD') });
    expect(catalog.limitFor(plant('steel-01'), 'nh3n', t)).toMatchObject({ max: 5, standard: 'GB 13456-2012' });
    expect(catalog.limitFor(plant('steel-01'), 'ph', t)).toMatchObject({ min: 6, max: 9, standard: 'GB 13456-2012' });
    expect(['so2', 'nox', 'particulate'].map((q) => catalog.limitFor(plant('steel-01'), q as 'so2', t)?.max)).toEqual([200, 300, 50]);
    expect(catalog.limitFor(plant('steel-01'), 'so2', t)).toMatchObject({ standard: 'GB 28662-2012', verified: false, source: expect.stringContaining('Table 2, row SO2') });
  });

  it('judges a cement works\' kiln stack by GB 4915-2013 Table 2 (unverified, row named)', () => {
    const cement = { ...plant('steel-01'), id: 'cement-01', industry: 'cement' as const };
    const t = at('2024-01-01T00:00:00Z');
    expect(['particulate', 'so2', 'nox'].map((q) => catalog.limitFor(cement, q as 'so2', t)?.max)).toEqual([30, 200, 400]);
    expect(catalog.limitFor(cement, 'nox', t)).toMatchObject({ standard: 'GB 4915-2013', verified: false, source: expect.stringContaining('Table 2, row NOx') });
    expect(catalog.limitFor(cement, 'so2', at('2014-02-28T00:00:00Z'))?.standard).not.toBe('GB 4915-2013');
  });

  it('gives every demo stack air-emission limits: GB 13271-2014 boilers, coal-fired (Hebei special limits) at the paper mill, gas-fired at the dyeing works', () => {
    const t = at('2024-01-01T00:00:00Z');
    expect(['so2', 'nox', 'particulate'].map((q) => catalog.limitFor(plant('paper-01'), q as 'so2', t)?.max)).toEqual([200, 200, 30]);
    expect(catalog.limitFor(plant('paper-01'), 'nox', t)).toMatchObject({ standard: 'GB 13271-2014', verified: false, source: expect.stringContaining('Table 3') });
    expect(['so2', 'nox', 'particulate'].map((q) => catalog.limitFor(plant('dyeing-01'), q as 'so2', t)?.max)).toEqual([50, 200, 20]);
    expect(catalog.limitFor(plant('dyeing-01'), 'so2', t)).toMatchObject({ verified: false, source: expect.stringContaining('gas-fired') });
    expect(catalog.limitFor(plant('dyeing-01'), 'so2', at('2014-06-30T00:00:00Z'))).toBeUndefined(); // before GB 13271-2014
  });

  it('marks UNVERIFIED values (GB 4287-2012 direct discharge) and lets a per-plant override win from its effective date', () => {
    expect(catalog.limitFor(plant('dyeing-01'), 'cod', at('2014-06-01T00:00:00Z'))).toMatchObject({ max: 80, standard: 'GB 4287-2012', verified: false });
    expect(catalog.limitFor(plant('dyeing-01'), 'cod', at('2016-01-01T00:00:00Z'))).toMatchObject({ max: 500, standard: 'demo permits' });
    expect(catalog.limitFor(plant('dyeing-01'), 'nh3n', at('2016-01-01T00:00:00Z'))).toMatchObject({ max: 10, verified: false });
  });

  it('gives GB 13223-2011 flue gas limits when the standard is named, key-region values by region', () => {
    const t = at('2024-01-01T00:00:00Z');
    expect(catalog.limitFor(plant('paper-01'), 'nox', t)?.standard).not.toBe('GB 13223-2011'); // a paper mill is not a power plant
    const q = { standard: 'GB 13223-2011' };
    expect(catalog.limitFor(plant('paper-01'), 'so2', t, q)?.max).toBe(50); // Hebei: key region
    expect(catalog.limitFor(plant('steel-01'), 'so2', t, q)?.max).toBe(100);
    expect(catalog.limitFor(plant('steel-01'), 'particulate', t, q)?.max).toBe(30);
    expect(catalog.limitFor({ ...plant('steel-01'), industry: 'thermal-power' }, 'nox', t)?.max).toBe(100);
  });

  it('says how long an answer holds, so callers re-resolve only at effective dates', () => {
    const r = catalog.lookup(plant('dyeing-01'), 'cod', at('2014-06-01T00:00:00Z'));
    expect(r.validFrom).toBe(at('2013-01-01T00:00:00+08:00'));
    expect(r.validUntil).toBe(at('2015-01-01T00:00:00+08:00'));
  });

  it('refuses two entries that tie, naming both', () => {
    const file = limitsFile(`standard: X
version: 1
title: { en: X, zh: X }
source: test
scope: fallback
entries:
  - { quantity: cod, max: 100, effectiveFrom: 2000-01-01 }
  - { quantity: cod, max: 90, effectiveFrom: 2000-01-01 }
`);
    const err = errorOf(() => loadLimitsCatalog([file]));
    expect(err.issues[0]!.path).toContain('entries[1]');
    expect(err.issues[0]!.expected).toContain('entries[0]');
  });

  it('names the file, field path and expectation for a bad file', () => {
    const file = limitsFile(`standard: X
version: 1
title: { en: X, zh: X }
source: test
scope: industry
entries:
  - { quantity: codd, max: 100, effectiveFrom: 2000-01-01 }
  - { quantity: cod, min: 9, max: 6, effectiveFrom: 2000-13-01 }
`);
    const err = errorOf(() => loadLimitsCatalog([file]));
    expect(err.file).toBe(file);
    const paths = err.issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['entries[0].quantity', 'entries[1].effectiveFrom']));
    expect(err.message).toContain('expected a quantity id');
  });
});
