/**
 * The reductions page in a real browser (Debian's chromium, headless, driven by playwright-core) against a running
 * pipeline (simulated plants → broker → ingest, which integrates the loads → InfluxDB; the dashboard). What people rely
 * on: the months with data show tonnes with their coverage, marked partial; months without data say 无数据 / no data,
 * never 0 t; the CSV and Excel downloads carry the same figures, in the token's scope. Screenshots go to
 * test-artifacts/browser/.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT, startPipeline, type Pipeline } from './pipeline.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`browser tests skipped: ${CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)`);

const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'browser');

/** This month and the one before, in China Standard Time. */
function months(): [string, string] {
  const month = (ms: number) => {
    const d = new Date(ms + 8 * 3_600_000);
    return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
  };
  const now = month(Date.now());
  const [y, m] = now.split('-').map(Number) as [number, number];
  return [now, m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, '0')}`];
}

/** The text of one file of a zip (an .xlsx), read with nothing but zlib: the central directory, then the entry. */
function zipEntry(zip: Buffer, name: string): string | undefined {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  let at = zip.readUInt32LE(end + 16);
  for (let i = 0; i < zip.readUInt16LE(end + 10); i++) {
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const skip = nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    if (zip.toString('utf8', at + 46, at + 46 + nameLength) === name) {
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(start, start + size);
      return (method === 8 ? inflateRawSync(data) : data).toString('utf8');
    }
    at += 46 + skip;
  }
  return undefined;
}

let pipeline: Pipeline;
let browser: Browser;
let page: Page;

describe.skipIf(!hasChromium)('the reductions page in a browser', () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    [pipeline, browser] = await Promise.all([
      startPipeline({ historySeconds: 240, faultAfterSeconds: 60, durationSeconds: 120 }),
      chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
      }),
    ]);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await pipeline?.stop();
  });

  it('shows each month\'s tonnes with their coverage, and no data (not 0 t) for a month without data, in Chinese', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'zh-CN', deviceScaleFactor: 1, acceptDownloads: true });
    page = await context.newPage();
    page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
    await page.goto(`${pipeline.dashboard.url}/?token=${encodeURIComponent(pipeline.tokens.zhejiangRegulator)}#/reductions`);
    const [now, before] = months();
    const current = page.locator(`#reductions-rows tr[data-plant="dyeing-01"][data-pollutant="cod"][data-month="${now}"]`);
    // ingest computes a minute once readings are past it: ask again until this month has its first tonnes
    await expect
      .poll(
        async () => {
          await page.click('#reductions-form button[type="submit"]');
          return current.getAttribute('data-empty', { timeout: 5_000 }).catch(() => null);
        },
        { timeout: 30_000, interval: 1_000 },
      )
      .toBe('false');
    expect(await page.textContent('#nav-reductions')).toBe('减排核算');
    // a regulator of zhejiang sees its plant only
    expect(new Set(await page.locator('#reductions-rows tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-plant'))))).toEqual(new Set(['dyeing-01']));
    const cells = await current.locator('td').allTextContents();
    // month, plant, pollutant, discharged, baseline, reduction, share, coverage, region
    expect(cells.slice(1, 3)).toEqual(['绍兴印染厂', 'COD']);
    expect(cells[3]).toMatch(/^[\d.,]+$/);
    expect(Number(cells[3]!.replace(/,/g, ''))).toBeGreaterThan(0);
    // minutes of data in a month: partial, with the coverage
    expect(cells[7]).toMatch(/%.*部分数据/);
    expect(await current.getAttribute('data-partial')).toBe('true');
    const empty = page.locator(`#reductions-rows tr[data-plant="dyeing-01"][data-pollutant="cod"][data-month="${before}"]`);
    expect(await empty.getAttribute('data-empty')).toBe('true');
    const emptyCells = await empty.locator('td').allTextContents();
    expect(emptyCells.slice(3, 7)).toEqual(['无数据', '—', '—', '—']);
    expect(emptyCells[7]).toMatch(/^0%/);
    // kilograms of a few minutes are shown as such, not rounded to 0
    for (const row of await page.locator('#reductions-rows tr[data-empty="false"]').all()) expect(await row.locator('td').nth(3).textContent()).not.toBe('0');
    await page.screenshot({ path: path.join(ARTIFACTS, 'reductions.png'), fullPage: true });
  });

  it('downloads the same figures as CSV and Excel from the API, in the token\'s scope', async () => {
    const [now, before] = months();
    const csvDownload = page.waitForEvent('download');
    await page.click('#reductions-csv');
    const csv = await csvDownload;
    expect(csv.suggestedFilename()).toMatch(/^cleanstream-reductions-\d{4}-\d{2}-\d{4}-\d{2}\.csv$/);
    const lines = readFileSync((await csv.path())!, 'utf8').trim().split('\r\n');
    expect(lines[0]).toBe('month,region,plant,pollutant,discharged_t,baseline_t,reduction_t,reduction_share,volume_m3,covered_hours,hours,coverage,partial');
    expect(new Set(lines.slice(1).map((l) => l.split(',')[2]))).toEqual(new Set(['dyeing-01']));
    expect(lines.find((l) => l.startsWith(`${before},zhejiang,dyeing-01,cod,`))).toMatch(/^[\d-]+,zhejiang,dyeing-01,cod,,,,,,0,[\d.]+,0,true$/);
    const cod = lines.find((l) => l.startsWith(`${now},zhejiang,dyeing-01,cod,`))!.split(',');
    expect(Number(cod[4])).toBeGreaterThan(0);

    const xlsxDownload = page.waitForEvent('download');
    await page.click('#reductions-xlsx');
    const xlsx = await xlsxDownload;
    expect(xlsx.suggestedFilename()).toMatch(/^cleanstream-reductions-\d{4}-\d{2}-\d{4}-\d{2}\.xlsx$/);
    const zip = readFileSync((await xlsx.path())!);
    expect(zip.subarray(0, 2).toString()).toBe('PK');
    const sheet = zipEntry(zip, 'xl/worksheets/sheet1.xml') ?? '';
    expect(zipEntry(zip, '[Content_Types].xml')).toContain('spreadsheetml.sheet.main+xml');
    // the header row, and the months without data with empty cells rather than zeros
    expect(sheet).toContain('<t>discharged_t</t>');
    expect(sheet).toContain(`<t>${before}</t>`);
    expect(sheet).toContain(`<t>${now}</t>`);
    expect(sheet.match(/<row /g)).toHaveLength(lines.length);
  });

  it('labels the page in English after the switch', async () => {
    await page.click('#lang');
    expect(await page.textContent('#nav-reductions')).toBe('Reductions');
    expect(await page.locator('#reductions-table th').allTextContents()).toContain('Discharged (t)');
    const [, before] = months();
    expect(await page.locator(`#reductions-rows tr[data-plant="dyeing-01"][data-pollutant="cod"][data-month="${before}"] td`).nth(3).textContent()).toBe('no data');
    await page.screenshot({ path: path.join(ARTIFACTS, 'reductions-en.png'), fullPage: true });
  });
});
