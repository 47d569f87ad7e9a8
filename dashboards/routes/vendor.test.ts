import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vendorRoutes } from './vendor.ts';

const app = Fastify();
const installed = (specifier: string) => readFileSync(createRequire(import.meta.url).resolve(specifier));

beforeAll(async () => {
  await app.register(vendorRoutes, { headers: { 'content-security-policy': "default-src 'self'" } });
  await app.ready();
});
afterAll(() => app.close());

describe('the chart library served by the dashboard itself', () => {
  it('serves the installed uPlot script and stylesheet with their types and the page headers', async () => {
    const script = await app.inject({ url: '/vendor/uplot/uPlot.iife.min.js' });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toMatch(/^text\/javascript/);
    expect(script.headers['content-security-policy']).toBe("default-src 'self'");
    expect(script.rawPayload.equals(installed('uplot/dist/uPlot.iife.min.js'))).toBe(true);
    const css = await app.inject({ url: '/vendor/uplot/uPlot.min.css' });
    expect(css.headers['content-type']).toMatch(/^text\/css/);
    expect(css.body).toContain('.uplot');
  });

  it('answers 304 to a browser that holds the same version', async () => {
    const first = await app.inject({ url: '/vendor/uplot/uPlot.min.css' });
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^".+"$/);
    const again = await app.inject({ url: '/vendor/uplot/uPlot.min.css', headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    const stale = await app.inject({ url: '/vendor/uplot/uPlot.min.css', headers: { 'if-none-match': '"other"' } });
    expect(stale.statusCode).toBe(200);
  });

  it('serves nothing else from the package or node_modules', async () => {
    for (const url of ['/vendor/uplot/uPlot.esm.js', '/vendor/uplot/../package.json', '/vendor/uplot/', '/vendor/fastify/package.json']) {
      expect((await app.inject({ url })).statusCode, url).toBe(404);
    }
  });
});
