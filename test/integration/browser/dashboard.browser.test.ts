/**
 * The dashboard in a real browser (Debian's chromium, headless, driven by playwright-core) against a running pipeline:
 * simulated plants → broker → ingest → InfluxDB, rules → alerts, dashboard. What people rely on: the operator page
 * shows live values that change; the alert from a scripted COD excursion appears; acknowledging it with a comment
 * works; a regulator cannot see another region's plant; the regulator's overview shows this month's reductions
 * against each plant's baseline and the national progress against the plan's targets as progress bars; the operator's
 * charts draw the live half hour with the limit lines and follow the page's width; the region overview shows each
 * plant's compliance (open exceedances) apart from its data health; the alert page shows raise → acknowledgement (who,
 * comment) → clear; and when the pipeline stops under an open page, the live indicator goes off and every tile is
 * marked stale within seconds, and lists that cannot load say so instead of "none". Screenshots go to
 * test-artifacts/browser/ (phone width, and the operator page at desktop width).
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ROOT, startPipeline, type Pipeline } from './pipeline.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`browser tests skipped: ${CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)`);

const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'browser');
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

let pipeline: Pipeline;
let browser: Browser;
const contexts: BrowserContext[] = [];
/** What the page's CSP (default-src 'self') refused: the charts must work without loosening it. */
const cspViolations: string[] = [];

async function openPage(token: string, hash: string, locale = 'zh-CN'): Promise<Page> {
  const context = await browser.newContext({ viewport: PHONE, locale, deviceScaleFactor: 1 });
  contexts.push(context);
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
  });
  await page.goto(`${pipeline.dashboard.url}/?token=${encodeURIComponent(token)}${hash}`);
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

describe.skipIf(!hasChromium)('the dashboard in a browser', () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    [pipeline, browser] = await Promise.all([
      startPipeline({ historySeconds: 600, faultAfterSeconds: 8 }),
      chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
      }),
    ]);
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await pipeline?.stop();
  });

  let operator: Page;

  it('shows the operator live values that change, in Chinese for a Chinese browser', async () => {
    operator = await openPage(pipeline.tokens.paperOperator, '');
    // an operator starts on its plant
    await operator.waitForURL(/#\/plant\/paper-01$/);
    expect(await operator.getAttribute('html', 'lang')).toBe('zh-CN');
    await expect.poll(() => operator.textContent('#status'), { timeout: 10_000 }).toBe('实时');
    const flow = operator.locator('[data-key="outfall-1-flow/wastewater_flow"] .num');
    await expect.poll(() => flow.textContent(), { timeout: 10_000 }).not.toBe('—');
    const first = await flow.textContent();
    const time = operator.locator('[data-key="outfall-1-flow/wastewater_flow"] time');
    const firstTime = await time.textContent();
    // one scan a second: the time changes every second, the value with the simulated process
    await expect.poll(() => time.textContent(), { timeout: 10_000 }).not.toBe(firstTime);
    // a value that changes, not merely one present: the flow or the COD shows another number than it first did
    const codNum = operator.locator('[data-key="outfall-1-cod/cod"] .num');
    await expect.poll(() => codNum.textContent(), { timeout: 10_000 }).not.toBe('—');
    const firstCod = await codNum.textContent();
    const changed = async (num: typeof flow, initial: string | null) => {
      const now = await num.textContent();
      return now !== initial && now !== '—' && Number.isFinite(Number(now?.replace(/,/g, '')));
    };
    await expect.poll(async () => (await changed(flow, first)) || (await changed(codNum, firstCod)), { timeout: 15_000 }).toBe(true);
    // the COD tile carries its limit from the standard
    expect(await operator.locator('[data-key="outfall-1-cod/cod"] .limit').textContent()).toContain('GB 3544-2008');
    expect(await operator.locator('#groups .group h2').allTextContents()).toEqual(['废水排放口', '能源', '废气排放口', '生产']);
    // times are the plant's (China Standard Time), whatever the browser's zone
    const ts = Number(await operator.locator('[data-key="outfall-1-flow/wastewater_flow"]').getAttribute('data-ts'));
    const cst = new Intl.DateTimeFormat('zh-CN', { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZone: 'Asia/Shanghai' }).format(ts);
    expect(await operator.locator('[data-key="outfall-1-flow/wastewater_flow"] time').textContent()).toBe(cst);
    await shot(operator, 'operator-live');
  });

  it('charts the last half hour of each meter live, with its limit lines, at the page\'s width', async () => {
    const cod = operator.locator('[data-key="outfall-1-cod/cod"] .chart');
    expect(await cod.locator('canvas').count()).toBe(1);
    // history from /series, then the stream's readings: a new 5 s bucket at least every few seconds
    await expect.poll(async () => Number(await cod.getAttribute('data-points')), { timeout: 10_000 }).toBeGreaterThan(0);
    const before = Number(await cod.getAttribute('data-points'));
    await expect.poll(async () => Number(await cod.getAttribute('data-points')), { timeout: 12_000 }).toBeGreaterThan(before);
    // the limits the tile states are the lines drawn: COD's maximum, both pH bounds
    expect(await cod.getAttribute('data-limits')).toBe('90');
    expect((await operator.locator('[data-key="outfall-1-ph/ph"] .chart').getAttribute('data-limits'))?.split(' ').map(Number).sort()).toEqual([6, 9]);
    // the canvas holds the line (the page's --line colour) and the dashed limit (--limit)
    const colours = await cod.locator('canvas').evaluate((canvas) => {
      const c = canvas as unknown as { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
      const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
      let line = 0;
      let limit = 0;
      for (let i = 0; i < data.length; i += 4) {
        const [r, g, b, a] = [data[i] as number, data[i + 1] as number, data[i + 2] as number, data[i + 3] as number];
        if (a < 128) continue;
        if (g > r + 50 && g > b + 20) line++;
        if (r > g + 80 && r > b + 80) limit++;
      }
      return { line, limit };
    });
    expect(colours.line).toBeGreaterThan(50);
    expect(colours.limit).toBeGreaterThan(50);
    await operator.locator('[data-key="outfall-1-cod/cod"]').screenshot({ path: path.join(ARTIFACTS, 'operator-chart-cod.png') });
    expect(cspViolations).toEqual([]);
    // the chart follows its tile's width: one column of tiles on the phone, four on a desktop
    const canvasWidth = () => cod.locator('canvas').evaluate((canvas) => (canvas as unknown as { clientWidth: number }).clientWidth);
    const boxWidth = () => cod.evaluate((el) => (el as unknown as { clientWidth: number }).clientWidth);
    const phoneWidth = await canvasWidth();
    expect(Math.abs(phoneWidth - (await boxWidth()))).toBeLessThanOrEqual(1);
    await operator.setViewportSize(DESKTOP);
    await expect.poll(canvasWidth, { timeout: 5_000 }).not.toBe(phoneWidth);
    await expect.poll(async () => Math.abs((await canvasWidth()) - (await boxWidth())), { timeout: 5_000 }).toBeLessThanOrEqual(1);
    await shot(operator, 'operator-desktop');
    await operator.setViewportSize(PHONE);
    await expect.poll(canvasWidth, { timeout: 5_000 }).toBe(phoneWidth);
  });

  it('shows the alert from the scripted COD excursion on the operator page', async () => {
    const item = operator.locator('#plant-alerts .alert-item[data-severity="major"]');
    await item.waitFor({ timeout: Math.max(10_000, pipeline.faultAt - Date.now() + 15_000) });
    expect(await item.getAttribute('data-state')).toBe('raised');
    expect(await item.textContent()).toContain('严重');
    await expect.poll(() => operator.locator('[data-key="outfall-1-cod/cod"]').getAttribute('class'), { timeout: 10_000 }).toContain('over');
    await shot(operator, 'operator-alert');
  });

  it('acknowledges the alert with a comment', async () => {
    await operator.locator('#plant-alerts .alert-item a').first().click();
    await operator.waitForURL(/#\/alert\//);
    await operator.locator('#ack-form').waitFor();
    // no comment: nothing is sent
    await operator.locator('#ack-submit').click();
    expect(await operator.locator('#alert-detail').getAttribute('data-state')).toBe('raised');
    await operator.fill('#ack-comment', '已安排排查二沉池，加大曝气');
    await operator.locator('#ack-submit').click();
    await operator.locator('#alert-detail[data-state="acknowledged"]').waitFor({ timeout: 10_000 });
    const detail = await operator.locator('#alert-detail').textContent();
    expect(detail).toContain('paper-ops');
    expect(detail).toContain('已安排排查二沉池，加大曝气');
    expect(await operator.locator('#ack-form').isHidden()).toBe(true);
    await expect.poll(() => operator.locator('#alert-history li').count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    // the lifecycle from the history: raised, then acknowledged by whom, with the comment and how long after
    const acked = operator.locator('#alert-lifecycle li[data-step="acknowledged"]');
    await expect.poll(() => acked.textContent(), { timeout: 10_000 }).toContain('paper-ops');
    expect(await acked.textContent()).toMatch(/确认.*paper-ops · 发生后 \d+(秒|分)/);
    expect(await acked.locator('q').textContent()).toBe('已安排排查二沉池，加大曝气');
    expect(await operator.locator('#alert-lifecycle li[data-step="cleared"]').textContent()).toMatch(/尚未 · 已持续/);
    const row = operator.locator('#alert-history li[data-transition="acknowledged"]');
    expect(await row.textContent()).toContain('确认人 paper-ops');
    expect(await row.textContent()).toContain('已安排排查二沉池，加大曝气');
    await shot(operator, 'alert-acknowledged');
  });

  it('does not let a regulator see another region\'s plant', async () => {
    const page = await openPage(pipeline.tokens.zhejiangRegulator, '#/plant/paper-01', 'en-US');
    await expect.poll(() => page.textContent('#message'), { timeout: 10_000 }).toContain('may not see');
    expect(await page.locator('#plant option').evaluateAll((options) => options.map((o) => o.getAttribute('value')))).toEqual(['dyeing-01']);
    expect(await page.locator('#groups .tile').count()).toBe(0);
    // nor through the API with the token the page holds
    const status = await page.evaluate(async (token) => (await fetch('/api/plants/paper-01/latest', { headers: { authorization: `Bearer ${token}` } })).status, pipeline.tokens.zhejiangRegulator);
    expect(status).toBe(403);
    // its overview lists its own region's plant only, and none of paper-01's alerts
    await page.goto(`${pipeline.dashboard.url}/#/overview`);
    await page.locator('.plant-card').first().waitFor();
    expect(await page.locator('.plant-card').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-plant')))).toEqual(['dyeing-01']);
    expect(await page.locator('#overview-alerts .alert-item').count()).toBe(0);
    await shot(page, 'regulator-other-region');
  });

  it('gives the region\'s regulator the overview with the plant\'s status and alert, and switches language', async () => {
    const page = await openPage(pipeline.tokens.hebeiRegulator, '');
    await page.waitForURL(/#\/overview$/);
    const card = page.locator('.plant-card[data-plant="paper-01"]');
    await card.waitFor();
    expect(await card.getAttribute('data-status')).toMatch(/^(ok|degraded)$/);
    await page.locator('#overview-alerts .alert-item[data-state="acknowledged"]').waitFor({ timeout: 10_000 });
    // compliance apart from data health: the open major COD exceedance makes the card orange, never green, whatever
    // the meters say; the meters online are a line of their own
    expect(await card.getAttribute('data-compliance')).toBe('major');
    expect(await card.locator('.compliance-badge').textContent()).toBe('严重超标');
    expect(await card.locator('.open-count').textContent()).toBe('未关闭超标: 严重 1');
    const border = await card.evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { borderLeftColor: string } }).getComputedStyle(el).borderLeftColor);
    expect(border).toBe('rgb(211, 84, 0)');
    expect(await card.locator('.data-health').textContent()).toMatch(/^数据: (正常|部分异常) · 仪表在线 \d\/8 · 最新数据/);
    await shot(page, 'regulator-overview-compliance');
    expect(await page.textContent('#overview-title')).toBe('区域总览');
    await page.click('#lang');
    expect(await page.textContent('#overview-title')).toBe('Region overview');
    expect(await page.getAttribute('html', 'lang')).toBe('en');
    await shot(page, 'regulator-overview-en');
  });

  it('shows the regulator this month\'s reductions against each plant\'s baseline and the national progress as progress bars', async () => {
    const page = await openPage(pipeline.tokens.hebeiRegulator, '#/overview');
    const card = page.locator('.plant-card[data-plant="paper-01"]');
    await card.waitFor();
    // the rules stage's figures, counted against paper-01's own baselines (rules/baselines/demo.yaml: COD 120 mg/L)
    const cod = card.locator('.reduction[data-pollutant="cod"]');
    await cod.waitFor({ timeout: 10_000 });
    expect(await cod.getAttribute('data-source')).toBe('rules');
    const bar = cod.locator('progress');
    expect(await bar.getAttribute('max')).toBe('1');
    const label = (await cod.textContent()) ?? '';
    expect(label).toMatch(/本月COD减排/);
    expect(label).toMatch(/基准 [\d.,]+ t/);
    // the bar shows the share the label states (or is empty, flagged, above the baseline)
    const share = await bar.evaluate((el) => (el as unknown as { value: number }).value);
    if ((await cod.getAttribute('data-above')) === 'true') expect(share).toBe(0);
    else expect(share).toBeGreaterThan(0);
    expect(await card.locator('.reduction[data-pollutant="nh3n"] progress').count()).toBe(1);
    // national progress against the plan's targets: a bar per pollutant
    await page.locator('#national:not([hidden])').waitFor({ timeout: 10_000 });
    expect(await page.locator('#national .national-bar').evaluateAll((bars) => bars.map((b) => b.getAttribute('data-pollutant')))).toEqual(['cod', 'nh3n']);
    expect(await page.textContent('#national')).toContain('80,000');
    await shot(page, 'regulator-reductions');
    await page.click('#lang');
    expect(await cod.textContent()).toMatch(/COD reduction this month: (reduced|above baseline by)/);
    expect(await page.textContent('#national-title')).toBe('National reductions against the year\'s targets');
    await shot(page, 'regulator-reductions-en');
  });

  it('marks the operator page interrupted and every tile stale within 10 s when the pipeline stops under it', async () => {
    await operator.goto(`${pipeline.dashboard.url}/#/plant/paper-01`);
    const flow = operator.locator('[data-key="outfall-1-flow/wastewater_flow"]');
    // live, and the flow meter's cadence learned from the stream (one reading a second)
    await expect.poll(() => flow.getAttribute('data-interval-ms'), { timeout: 15_000 }).toBe('1000');
    expect(await operator.getAttribute('#status', 'data-state')).toBe('live');
    expect(await flow.getAttribute('data-stale')).toBe('false');
    const lastMessageAt = await pipeline.stopDataPath();
    // off, since the last message (2 × the 1 s cadence without one), within 10 s of the pipeline stopping
    await expect.poll(() => operator.getAttribute('#status', 'data-state'), { timeout: 10_000 }).toBe('down');
    const downAfter = Date.now() - lastMessageAt;
    expect(downAfter).toBeLessThan(10_000);
    expect(await operator.textContent('#status')).toMatch(/^已中断 自 \d\d:\d\d:\d\d$/);
    const since = Number(await operator.getAttribute('#status', 'data-since'));
    expect(Math.abs(since - lastMessageAt)).toBeLessThan(1500);
    // each tile that showed a reading is marked stale, with its age, after three of its meter's intervals
    await expect.poll(() => flow.getAttribute('data-stale'), { timeout: 10_000 - downAfter }).toBe('true');
    expect(Date.now() - lastMessageAt).toBeLessThan(10_000);
    expect(await flow.locator('.age').textContent()).toMatch(/^\d+秒未更新$/);
    const shown = await operator.locator('.tile[data-ts]').count();
    expect(shown).toBeGreaterThan(10);
    await expect.poll(() => operator.locator('.tile[data-ts][data-stale="true"]').count(), { timeout: 5_000 }).toBe(shown);
    // the open alert stays listed: it is the dashboard's last word from rules
    expect(await operator.locator('#plant-alerts .alert-item').count()).toBeGreaterThan(0);
    await shot(operator, 'operator-pipeline-down');
  });

  it('says a list could not be loaded, in its place, and never "none" when InfluxDB does not answer', async () => {
    const page = await openPage(pipeline.tokens.hebeiRegulator, '#/overview');
    const plantsState = page.locator('#overview-plants-state');
    await expect.poll(() => plantsState.getAttribute('data-load'), { timeout: 10_000 }).toBe('failed');
    const text = (await plantsState.textContent()) ?? '';
    expect(text).toMatch(/^加载失败：数据服务暂时无法响应/);
    // nothing internal reaches the page: no address, no database name
    expect(text).not.toMatch(/127\.0\.0\.1|localhost|https?:|cleanstream/i);
    expect(await page.locator('.plant-card').count()).toBe(0);
    // the open alerts come from the dashboard's own subscription: still listed, and "none" is not shown
    await page.locator('#overview-alerts .alert-item').first().waitFor({ timeout: 10_000 });
    expect(await page.locator('#overview-alerts-none').isHidden()).toBe(true);
    expect(await page.innerText('#view-overview')).not.toContain('暂无未关闭报警');
    const answer = await page.evaluate(async (token) => {
      const res = await fetch('/api/overview', { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, text: await res.text() };
    }, pipeline.tokens.hebeiRegulator);
    expect(answer.status).toBe(502);
    expect(answer.text).not.toMatch(/127\.0\.0\.1|http:/);
    await shot(page, 'regulator-overview-influx-down');
    // the operator's page, reloaded: readings could not be loaded (not "no data"), the open alert is still listed
    const plant = await openPage(pipeline.tokens.paperOperator, '#/plant/paper-01');
    await expect.poll(() => plant.textContent('#message'), { timeout: 10_000 }).toMatch(/^加载失败：数据服务暂时无法响应/);
    const qualities = await plant.locator('.tile .quality').allTextContents();
    expect(qualities.length).toBeGreaterThan(10);
    expect(new Set(qualities)).toEqual(new Set(['读数未能加载']));
    await plant.locator('#plant-alerts .alert-item').first().waitFor({ timeout: 10_000 });
    expect(await plant.locator('#plant-alerts-none').isHidden()).toBe(true);
    // its page: the alert (from the broker subscription) is shown, its history says it could not be loaded
    await plant.locator('#plant-alerts .alert-item a').first().click();
    await plant.locator('#alert-detail[data-state="acknowledged"]').waitFor({ timeout: 10_000 });
    await expect.poll(() => plant.textContent('#alert-history'), { timeout: 10_000 }).toMatch(/^加载失败：数据服务暂时无法响应/);
  });
});
