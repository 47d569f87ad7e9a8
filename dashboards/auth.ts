/**
 * API tokens for the dashboard, and the Fastify plugin that turns a request's token into a caller with a scope.
 *
 * Tokens are kept only as SHA-256 hashes, in a YAML file:
 *
 *   tokens:
 *     - { name: ops-paper, sha256: <64 hex>, role: operator, plants: [paper-01] }
 *     - { name: hebei-epb, sha256: <64 hex>, role: regulator, regions: [hebei] }
 *     - { name: admin, sha256: <64 hex>, role: admin }
 *
 * An operator sees its plants, a regulator the plants of its regions, an admin every plant. A plain hash (not a
 * password KDF) is enough because tokens are 256 random bits, not something a person chose.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { stringify } from 'yaml';
import { z } from 'zod';
import { idSchema, loadConfigFile, parseConfig } from '../core/config.ts';
import { CleanstreamError, ConfigError, type ConfigIssue, type ErrorCode } from '../core/errors.ts';
import type { Plant, PlantRegistry } from '../core/plants.ts';

export const ROLES = ['admin', 'operator', 'regulator'] as const;
export type Role = (typeof ROLES)[number];

const tokenEntrySchema = z
  .strictObject({
    name: z.string().min(1),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, { message: 'expected the SHA-256 of the token as 64 lower-case hex digits' }),
    role: z.enum(ROLES),
    plants: z.array(idSchema).optional(),
    regions: z.array(idSchema).optional(),
  })
  .superRefine((entry, ctx) => {
    const scopeField = entry.role === 'operator' ? 'plants' : entry.role === 'regulator' ? 'regions' : undefined;
    const other = entry.role === 'operator' ? 'regions' : 'plants';
    const role = entry.role === 'operator' ? 'an operator' : `a ${entry.role}`;
    if (scopeField && !entry[scopeField]?.length) {
      ctx.addIssue({ code: 'custom', path: [scopeField], message: `${role} token needs a non-empty ${scopeField} list (its scope)` });
    }
    if (entry.role === 'admin') {
      for (const field of ['plants', 'regions'] as const) {
        if (entry[field]) ctx.addIssue({ code: 'custom', path: [field], message: 'an admin token sees every plant: remove this field' });
      }
    } else if (entry[other]) {
      ctx.addIssue({ code: 'custom', path: [other], message: `${role} token is scoped by ${scopeField} only: remove this field` });
    }
  });

export const tokenFileSchema = z.strictObject({ tokens: z.array(tokenEntrySchema).default([]) });

export type TokenEntry = z.output<typeof tokenEntrySchema>;

/** Who is asking, and what they may see. */
export interface Caller {
  name: string;
  role: Role;
  plants: readonly string[];
  regions: readonly string[];
}

export interface TokenSpec {
  name: string;
  role: Role;
  plants?: string[];
  regions?: string[];
}

export interface GeneratedToken {
  /** The secret: show it once, never store it. */
  token: string;
  /** What the token file keeps. */
  entry: TokenEntry;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** 32 random bytes, base64url (safe in a query string); the prefix lets secret scanners recognise a leaked token. */
export function newToken(): string {
  return `cs_${randomBytes(32).toString('base64url')}`;
}

export class TokenStore {
  /** The file the tokens came from, for error messages. */
  readonly source: string;
  private readonly entries: TokenEntry[] = [];
  private readonly hashes: Buffer[] = [];

  constructor(entries: readonly TokenEntry[] = [], source = '(tokens in memory)') {
    this.source = source;
    for (const entry of parseConfig(source, { tokens: entries }, tokenFileSchema).tokens) this.addChecked(entry);
  }

  static load(file: string): TokenStore {
    return new TokenStore(loadConfigFile(file, tokenFileSchema).tokens, file);
  }

  /** Add an entry (validated like one in the file). A name or hash already present is a config error. */
  add(entry: TokenEntry): void {
    const parsed = parseConfig(this.source, { tokens: [...this.entries, entry] }, tokenFileSchema).tokens.at(-1) as TokenEntry;
    this.addChecked(parsed);
  }

  // Names appear in logs and must say who it was; a hash listed twice would make the caller ambiguous.
  private addChecked(entry: TokenEntry): void {
    const issues: ConfigIssue[] = [];
    const at = `tokens[${this.entries.length}]`;
    if (this.entries.some((e) => e.name === entry.name)) issues.push({ path: `${at}.name`, expected: `a unique name, ${entry.name} is used twice` });
    if (this.entries.some((e) => e.sha256 === entry.sha256)) issues.push({ path: `${at}.sha256`, expected: 'a unique token hash (the same token is listed twice)' });
    if (issues.length) throw new ConfigError(this.source, issues);
    this.entries.push(entry);
    this.hashes.push(Buffer.from(entry.sha256, 'hex'));
  }

  /** A fresh random token for this role and scope, added to the store; its entry is what a token file keeps. */
  generate(spec: TokenSpec): GeneratedToken {
    const token = newToken();
    const entry: TokenEntry = {
      name: spec.name,
      sha256: hashToken(token),
      role: spec.role,
      ...(spec.plants ? { plants: spec.plants } : {}),
      ...(spec.regions ? { regions: spec.regions } : {}),
    };
    this.add(entry);
    return { token, entry };
  }

  /** The caller a token belongs to, or undefined. Every entry is compared in constant time, so timing says nothing. */
  authenticate(token: string): Caller | undefined {
    const presented = createHash('sha256').update(token, 'utf8').digest();
    let found: TokenEntry | undefined;
    this.hashes.forEach((hash, i) => {
      if (timingSafeEqual(hash, presented)) found = this.entries[i];
    });
    if (!found) return undefined;
    return { name: found.name, role: found.role, plants: found.plants ?? [], regions: found.regions ?? [] };
  }

  list(): readonly TokenEntry[] {
    return this.entries;
  }

  /** Remove the token with this name; false when there is none. */
  revoke(name: string): boolean {
    const i = this.entries.findIndex((e) => e.name === name);
    if (i < 0) return false;
    this.entries.splice(i, 1);
    this.hashes.splice(i, 1);
    return true;
  }

  /**
   * Take the tokens of another store in place of ours (a token file read again): requests from then on are judged
   * by the new list, so a revoked token stops working and an added one starts, without a restart.
   */
  replaceWith(other: TokenStore): void {
    this.entries.splice(0, this.entries.length, ...other.entries);
    this.hashes.splice(0, this.hashes.length, ...other.hashes);
  }

  /**
   * Read the token file again whenever it changes (polled, so that editors that replace the file are seen too). A file
   * that no longer validates is reported and the tokens in force stay: a typo must not lock everyone out, nor let a
   * revoked token back in.
   */
  watch(onReload: (result: { ok: true; tokens: number } | { ok: false; error: Error }) => void, intervalMs = 1000): () => void {
    const file = this.source;
    const listener = (now: Stats, before: Stats): void => {
      if (now.mtimeMs === before.mtimeMs && now.size === before.size && now.ino === before.ino) return;
      try {
        this.replaceWith(TokenStore.load(file));
        onReload({ ok: true, tokens: this.entries.length });
      } catch (err) {
        onReload({ ok: false, error: err as Error });
      }
    };
    watchFile(file, { interval: intervalMs, persistent: false }, listener);
    return () => unwatchFile(file, listener);
  }

  /** The token file's text (hashes only). */
  toYaml(): string {
    return stringify({ tokens: this.entries });
  }

  /** Scopes naming plants or regions the registry does not have: a typo there would silently show nothing. */
  scopeIssues(registry: PlantRegistry): ConfigIssue[] {
    const regions = new Set([...registry.regions.map((r) => r.id), ...registry.plants.map((p) => p.region)]);
    const issues: ConfigIssue[] = [];
    this.entries.forEach((entry, i) => {
      entry.plants?.forEach((plant, j) => {
        if (!registry.plant(plant)) issues.push({ path: `tokens[${i}].plants[${j}]`, expected: `a plant of the registry, ${plant} is not one` });
      });
      entry.regions?.forEach((region, j) => {
        if (!regions.has(region)) issues.push({ path: `tokens[${i}].regions[${j}]`, expected: `a region of the registry, ${region} is not one` });
      });
    });
    return issues;
  }
}

export function canSeePlant(caller: Caller, plant: Plant): boolean {
  switch (caller.role) {
    case 'admin':
      return true;
    case 'operator':
      return caller.plants.includes(plant.id);
    case 'regulator':
      return caller.regions.includes(plant.region);
  }
}

export function plantsInScope(caller: Caller, registry: PlantRegistry): Plant[] {
  return registry.plants.filter((p) => canSeePlant(caller, p));
}

/**
 * The body of every error answer: `code` is one of the catalogue's (core/error-codes.ts, docs/errors.md), or
 * Fastify's or one of its plugins' own `FST_*` code (Fastify documentation, "Errors").
 */
export interface ErrorReply {
  statusCode: number;
  code: ErrorCode | `FST_${string}`;
  error: string;
  message: string;
  /** The parameter at fault, for a 400. */
  field?: string;
}

/** An error with the HTTP status it should be answered with (Fastify reads `statusCode`). */
export class HttpError extends CleanstreamError {
  readonly statusCode: number;

  constructor(statusCode: number, code: ErrorCode, message: string, context: Record<string, unknown> = {}) {
    super(code, message, context);
    this.statusCode = statusCode;
  }
}

/**
 * The plant a request names, if the caller may see it. An unknown plant is a 403 like any plant out of scope, so that
 * a scoped caller cannot probe which plant ids exist; only an admin is told it does not exist.
 */
export function plantForCaller(caller: Caller, registry: PlantRegistry, plantId: string): Plant {
  const plant = registry.plant(plantId);
  if (plant && canSeePlant(caller, plant)) return plant;
  if (!plant && caller.role === 'admin') throw new HttpError(404, 'UNKNOWN_PLANT', `no plant ${plantId} in the registry`, { plant: plantId });
  throw new HttpError(403, 'OUT_OF_SCOPE', `plant ${plantId} is outside the scope of token ${caller.name}`, { plant: plantId, caller: caller.name });
}

/**
 * The plants a request is about: one plant (`plant`), the plants of a region (`region`), or, with neither, every
 * plant in scope. A region none of whose plants the caller may see is a 403, like a plant out of scope.
 */
export function plantsForCaller(caller: Caller, registry: PlantRegistry, filter: { plant?: string | undefined; region?: string | undefined }): Plant[] {
  if (filter.plant !== undefined) {
    const plant = plantForCaller(caller, registry, filter.plant);
    if (filter.region !== undefined && plant.region !== filter.region) return [];
    return [plant];
  }
  const inScope = plantsInScope(caller, registry);
  if (filter.region === undefined) return inScope;
  const inRegion = inScope.filter((p) => p.region === filter.region);
  if (inRegion.length) return inRegion;
  const known = registry.plants.some((p) => p.region === filter.region) || registry.regions.some((r) => r.id === filter.region);
  if (caller.role === 'admin') {
    if (known) return [];
    throw new HttpError(404, 'UNKNOWN_REGION', `no region ${filter.region} in the registry`, { region: filter.region });
  }
  throw new HttpError(403, 'OUT_OF_SCOPE', `region ${filter.region} is outside the scope of token ${caller.name}`, { region: filter.region, caller: caller.name });
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth plugin on every request it lets through. */
    caller: Caller | null;
  }
}

export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new HttpError(401, 'UNAUTHENTICATED', 'no caller on this request (is the auth plugin registered?)');
  return request.caller;
}

/** The token from `Authorization: Bearer …`, else from `?token=` (EventSource cannot send headers). */
export function presentedToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1];
  }
  const query = request.query as Record<string, unknown> | undefined;
  const token = query?.token;
  return typeof token === 'string' && token.length > 0 ? token : undefined;
}

function unauthorized(reply: FastifyReply, message: string, invalid: boolean): FastifyReply {
  // RFC 6750 §3: tell the client which scheme, and whether the token it sent was the problem.
  return reply
    .code(401)
    .header('www-authenticate', invalid ? 'Bearer realm="cleanstream", error="invalid_token"' : 'Bearer realm="cleanstream"')
    .send({ statusCode: 401, code: 'UNAUTHENTICATED', error: 'Unauthorized', message } satisfies ErrorReply);
}

/**
 * Requires a known token on every route of the context it is registered in (it skips encapsulation on purpose, so
 * that registering it next to route plugins protects them).
 */
export const authPlugin: FastifyPluginAsync<{ tokens: TokenStore }> = async (app, { tokens }) => {
  app.decorateRequest('caller', null);
  app.addHook('onRequest', async (request, reply) => {
    const token = presentedToken(request);
    if (!token) return unauthorized(reply, 'a token is required: Authorization: Bearer <token>, or ?token=<token>', false);
    const caller = tokens.authenticate(token);
    if (!caller) return unauthorized(reply, 'unknown token', true);
    request.caller = caller;
  });
};
(authPlugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;

/** The cookie that carries a token from `/docs?token=` to the requests Swagger UI makes itself (the spec, its script). */
export const DOCS_COOKIE = 'cleanstream_docs';

function cookieValue(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        const value = decodeURIComponent(part.slice(eq + 1).trim());
        return value.length > 0 ? value : undefined;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/**
 * Guards /docs and /docs/json (Swagger UI's `uiHooks.onRequest`). A browser cannot add a header to a page navigation,
 * so, as on the web page, the token arrives once as `/docs?token=`: it is then kept in an HttpOnly cookie sent only to
 * /docs (SameSite=Lax, not readable by scripts, never sent to /api) and the browser is sent on to /docs/ without it
 * in the address bar. Tools can send `Authorization: Bearer` as for the API.
 */
export function docsAuth(tokens: TokenStore): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  return async (request, reply) => {
    const fromRequest = presentedToken(request);
    const token = fromRequest ?? cookieValue(request, DOCS_COOKIE);
    if (!token) return unauthorized(reply, 'the API documentation needs a token: open /docs?token=<token>, or send Authorization: Bearer <token>', false);
    if (!tokens.authenticate(token)) return unauthorized(reply, 'unknown token', true);
    const path = request.url.split('?')[0];
    const query = request.query as Record<string, unknown> | undefined;
    if (typeof query?.token === 'string' && !request.headers.authorization && (path === '/docs' || path === '/docs/')) {
      const secure = request.protocol === 'https' ? '; Secure' : '';
      return reply
        .header('set-cookie', `${DOCS_COOKIE}=${encodeURIComponent(token)}; Path=/docs; HttpOnly; SameSite=Lax${secure}`)
        .header('cache-control', 'no-store')
        .redirect('/docs/', 303);
    }
    return undefined;
  };
}
