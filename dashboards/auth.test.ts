import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.ts';
import { canSeePlant, hashToken, HttpError, plantForCaller, plantsInScope, TokenStore, type Caller } from './auth.ts';
import { plantsInTwoRegions } from '../test/harness/plants.ts';

const registry = plantsInTwoRegions();


const dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-tokens-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tokenFile(text: string): string {
  const file = path.join(dir, `tokens-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  return file;
}

const caller = (role: Caller['role'], scope: Partial<Pick<Caller, 'plants' | 'regions'>> = {}): Caller => ({ name: 'c', role, plants: scope.plants ?? [], regions: scope.regions ?? [] });

describe('TokenStore', () => {
  it('keeps only the SHA-256 of a generated token, and recognises the token by it', () => {
    const store = new TokenStore();
    const { token, entry } = store.generate({ name: 'ops', role: 'operator', plants: ['paper-01'] });
    expect(token).toMatch(/^cs_[A-Za-z0-9_-]{43}$/);
    expect(entry.sha256).toBe(hashToken(token));
    expect(store.toYaml()).not.toContain(token);
    expect(store.toYaml()).toContain(entry.sha256);
    expect(store.authenticate(token)).toEqual({ name: 'ops', role: 'operator', plants: ['paper-01'], regions: [] });
  });

  it('gives every generated token fresh randomness', () => {
    const store = new TokenStore();
    const tokens = new Set(Array.from({ length: 20 }, (_, i) => store.generate({ name: `t${i}`, role: 'admin' }).token));
    expect(tokens.size).toBe(20);
  });

  it('does not recognise an unknown token, an empty one, or the hash itself', () => {
    const store = new TokenStore();
    const { token, entry } = store.generate({ name: 'admin', role: 'admin' });
    expect(store.authenticate(`${token}x`)).toBeUndefined();
    expect(store.authenticate('')).toBeUndefined();
    expect(store.authenticate(entry.sha256)).toBeUndefined();
  });

  it('loads a token file and authenticates the tokens whose hashes it lists', () => {
    const file = tokenFile(`tokens:\n  - { name: epb, sha256: ${hashToken('secret-1')}, role: regulator, regions: [zhejiang] }\n`);
    const store = TokenStore.load(file);
    expect(store.authenticate('secret-1')).toEqual({ name: 'epb', role: 'regulator', plants: [], regions: ['zhejiang'] });
    expect(store.authenticate('secret-2')).toBeUndefined();
  });

  it('round-trips through its YAML', () => {
    const store = new TokenStore();
    const { token } = store.generate({ name: 'epb', role: 'regulator', regions: ['hebei'] });
    expect(TokenStore.load(tokenFile(store.toYaml())).authenticate(token)?.regions).toEqual(['hebei']);
  });

  it.each([
    ['a plaintext token instead of a hash', 'tokens:\n  - { name: a, sha256: my-secret, role: admin }\n', 'tokens[0].sha256'],
    ['an unknown role', `tokens:\n  - { name: a, sha256: ${hashToken('x')}, role: root }\n`, 'tokens[0].role'],
    ['an operator without plants', `tokens:\n  - { name: a, sha256: ${hashToken('x')}, role: operator }\n`, 'tokens[0].plants'],
    ['a regulator without regions', `tokens:\n  - { name: a, sha256: ${hashToken('x')}, role: regulator, regions: [] }\n`, 'tokens[0].regions'],
    ['an admin with a scope', `tokens:\n  - { name: a, sha256: ${hashToken('x')}, role: admin, plants: [paper-01] }\n`, 'tokens[0].plants'],
    ['a plaintext field', `tokens:\n  - { name: a, token: x, sha256: ${hashToken('x')}, role: admin }\n`, 'tokens[0]'],
    ['a name used twice', `tokens:\n  - { name: a, sha256: ${hashToken('x')}, role: admin }\n  - { name: a, sha256: ${hashToken('y')}, role: admin }\n`, 'tokens[1].name'],
    ['a token listed twice', `tokens:\n  - { name: a, sha256: ${hashToken('x')}, role: admin }\n  - { name: b, sha256: ${hashToken('x')}, role: admin }\n`, 'tokens[1].sha256'],
  ])('refuses a file with %s, naming the file and the field', (_what, text, field) => {
    const file = tokenFile(text);
    let error: unknown;
    try {
      TokenStore.load(file);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(file);
    expect((error as ConfigError).issues.map((i) => i.path)).toContain(field);
  });

  it('names a missing file clearly', () => {
    expect(() => TokenStore.load(path.join(dir, 'nope.yaml'))).toThrow(/nope\.yaml[\s\S]*readable file \(ENOENT\)/);
  });

  it('reports scopes naming plants or regions the registry does not have', () => {
    const store = new TokenStore();
    store.generate({ name: 'ops', role: 'operator', plants: ['paper-01', 'paper-99'] });
    store.generate({ name: 'epb', role: 'regulator', regions: ['mars'] });
    expect(store.scopeIssues(registry).map((i) => i.path)).toEqual(['tokens[0].plants[1]', 'tokens[1].regions[0]']);
  });
});

describe('scope', () => {
  it('shows an operator its plants, a regulator its regions\' plants, an admin every plant', () => {
    const ids = (c: Caller) => plantsInScope(c, registry).map((p) => p.id);
    expect(ids(caller('operator', { plants: ['paper-02'] }))).toEqual(['paper-02']);
    expect(ids(caller('regulator', { regions: ['hebei'] }))).toEqual(['paper-01', 'paper-02']);
    expect(ids(caller('regulator', { regions: ['zhejiang', 'hebei'] }))).toEqual(['paper-01', 'paper-02', 'dyeing-01']);
    expect(ids(caller('admin'))).toEqual(['paper-01', 'paper-02', 'dyeing-01']);
  });

  it('does not let an operator\'s plant list stand in for regions, or the reverse', () => {
    const dyeing = registry.plant('dyeing-01')!;
    expect(canSeePlant(caller('operator', { regions: ['zhejiang'] }), dyeing)).toBe(false);
    expect(canSeePlant(caller('regulator', { plants: ['dyeing-01'] }), dyeing)).toBe(false);
  });

  it('answers 403 for a plant out of scope and for an unknown plant, 404 only to an admin', () => {
    const status = (c: Caller, plant: string) => {
      try {
        plantForCaller(c, registry, plant);
        return 200;
      } catch (err) {
        return (err as HttpError).statusCode;
      }
    };
    const ops = caller('operator', { plants: ['paper-01'] });
    expect(status(ops, 'paper-01')).toBe(200);
    expect(status(ops, 'dyeing-01')).toBe(403);
    expect(status(ops, 'ghost-01')).toBe(403);
    expect(status(caller('admin'), 'ghost-01')).toBe(404);
  });
});
