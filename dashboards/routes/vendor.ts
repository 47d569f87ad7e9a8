/**
 * GET /vendor/uplot/uPlot.iife.min.js and GET /vendor/uplot/uPlot.min.css: the page's chart library (uPlot), from
 * the installed npm package, served by this server because the page loads nothing from elsewhere (CSP
 * `default-src 'self'`). Exactly these two files, read once at registration, so that no request path can reach
 * anything else under node_modules.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FastifyPluginAsync } from 'fastify';
import { ConfigError } from '../../core/errors.ts';

export interface VendorFile {
  /** Path under /vendor/ as the page links it. */
  route: string;
  /** Module specifier resolved from this package's node_modules. */
  specifier: string;
  contentType: string;
}

export const VENDOR_FILES: readonly VendorFile[] = [
  { route: '/vendor/uplot/uPlot.iife.min.js', specifier: 'uplot/dist/uPlot.iife.min.js', contentType: 'text/javascript; charset=utf-8' },
  { route: '/vendor/uplot/uPlot.min.css', specifier: 'uplot/dist/uPlot.min.css', contentType: 'text/css; charset=utf-8' },
];

interface LoadedFile extends VendorFile {
  body: Buffer;
  etag: string;
}

const requireFromHere = createRequire(import.meta.url);

function load(file: VendorFile): LoadedFile {
  let body: Buffer;
  try {
    body = readFileSync(requireFromHere.resolve(file.specifier));
  } catch (err) {
    throw new ConfigError('package.json', [{ path: 'dependencies.uplot', expected: `the uplot package installed (${file.specifier}: ${(err as Error).message})` }], { cause: err });
  }
  return { ...file, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

export const vendorRoutes: FastifyPluginAsync<{ headers?: Record<string, string> }> = async (app, { headers = {} }) => {
  for (const file of VENDOR_FILES.map(load)) {
    app.get(file.route, { schema: { hide: true } }, async (request, reply) => {
      reply.headers(headers).header('cache-control', 'public, max-age=3600').header('etag', file.etag);
      if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
      return reply.type(file.contentType).send(file.body);
    });
  }
};
