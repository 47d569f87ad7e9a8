/**
 * The dashboard in a real browser (Debian's chromium, headless, driven by playwright-core) against a running pipeline:
 * simulated plants → broker → ingest → InfluxDB, rules → alerts, dashboard. What people rely on: the operator page
 * shows live values that change; the alert from a scripted COD excursion appears; acknowledging it with a comment
 * works; a regulator cannot see another region's plant; the regulator's overview shows this month's reductions
 * against each plant's baseline and the national progress against the plan's targets as progress bars; the operator's
 * charts draw the live hour with the limit lines and follow the page's width, over the range picked (15 min to 7 days,
 * or custom), read out the value and time under the cursor, zoom by dragging, and draw counters as amounts per interval;
 * the region overview shows each plant's compliance (open exceedances) apart from its data health; the alert page shows raise → acknowledgement (who,
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

  it('charts the last hour of each meter live, with its limit lines, at the page\'s width', async () => {
    const cod = operator.locator('[data-key="outfall-1-cod/cod"] .chart');
    expect(await cod.locator('canvas').count()).toBe(1);
    // history from /series, then the stream's readings: a new 10 s bucket (the hour's) at least every dozen seconds
    await expect.poll(async () => Number(await cod.getAttribute('data-points')), { timeout: 10_000 }).toBeGreaterThan(0);
    const before = Number(await cod.getAttribute('data-points'));
    await expect.poll(async () => Number(await cod.getAttribute('data-points')), { timeout: 12_000 }).toBeGreaterThan(before);
    // the limits the tile states are the lines drawn: COD's maximum, both pH bounds
    expect(await cod.getAttribute('data-limits')).toBe('90');
    expect((await operator.locator('[data-key="outfall-1-ph/ph"] .chart').getAttribute('data-limits'))?.split(' ').map(Number).sort()).toEqual([6, 9]);
    // every tile that states a limit draws it, the stack's too (GB 13271-2014, Hebei special limits: SO2 200, NOx 200, particulate 30)
    expect(await operator.locator('[data-key="stack-1-cems/so2"] .chart').getAttribute('data-limits')).toBe('200');
    expect(await operator.locator('[data-key="stack-1-cems/nox"] .chart').getAttribute('data-limits')).toBe('200');
    expect(await operator.locator('[data-key="stack-1-cems/particulate"] .chart').getAttribute('data-limits')).toBe('30');
    const tilesWithLimits = await operator.locator('.tile').evaluateAll((tiles) =>
      tiles.map((tile) => ({ key: tile.getAttribute('data-key'), stated: tile.querySelector('.limit')?.textContent ?? '', drawn: tile.querySelector('.chart')?.getAttribute('data-limits') ?? '' })),
    );
    for (const tile of tilesWithLimits) expect({ key: tile.key, drawn: tile.stated ? tile.drawn !== '' : tile.drawn === '' }).toEqual({ key: tile.key, drawn: true });
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

  it('charts the range the operator picks, reads out the value and time under the cursor, zooms by dragging, and draws counters as the amount per interval', async () => {
    const cod = operator.locator('[data-key="outfall-1-cod/cod"] .chart');
    const span = async (chart = cod) => Number(await chart.getAttribute('data-x-max')) - Number(await chart.getAttribute('data-x-min'));
    // the picker, in Chinese; the page starts on the last hour in 10 s buckets, following the stream
    expect(await operator.locator('#range-picker button.range').allTextContents()).toEqual(['15 分钟', '1 小时', '6 小时', '24 小时', '7 天', '自定义']);
    expect(await operator.locator('#range-picker [aria-pressed="true"]').getAttribute('data-range')).toBe('1h');
    expect([await cod.getAttribute('data-window-ms'), await cod.getAttribute('data-every-ms'), await cod.getAttribute('data-live')]).toEqual(['3600000', '10000', 'true']);
    // 24 hours: 5-minute buckets asked of /series, the axis a day wide
    const dayRequest = operator.waitForRequest((r) => r.url().includes('/series?quantity=cod') && r.url().includes('every=5m'));
    await operator.click('#range-picker [data-range="24h"]');
    await dayRequest;
    await expect.poll(() => cod.getAttribute('data-every-ms'), { timeout: 5_000 }).toBe('300000');
    await expect.poll(() => span(), { timeout: 5_000 }).toBe(86_400_000);
    await expect.poll(async () => Number(await cod.getAttribute('data-points')), { timeout: 10_000 }).toBeGreaterThan(0);
    await operator.click('#range-picker [data-range="15m"]');
    await expect.poll(() => cod.getAttribute('data-every-ms'), { timeout: 5_000 }).toBe('5000');
    await expect.poll(async () => Number(await cod.getAttribute('data-points')), { timeout: 10_000 }).toBeGreaterThan(10);
    expect(await operator.locator('#range-picker [aria-pressed="true"]').textContent()).toBe('15 分钟');

    // hover: the bucket's time (plant time) and its value with the unit
    // positions within the plot, measured as each action happens: an alert arriving moves the tiles down the page
    const plot = cod.locator('.u-over');
    const box = (await plot.boundingBox())!;
    const at = (share: number) => ({ position: { x: box.width * share, y: box.height / 2 }, force: true });
    const readout = cod.locator('.chart-readout-text');
    // hovered again at each poll, a little further left each time: on a loaded machine a redraw can swallow one
    // hover, and the newest buckets may not hold a reading yet
    let tries = 0;
    await expect
      .poll(
        async () => {
          const now = (await plot.boundingBox())!;
          await plot.hover({ position: { x: now.width * (0.9 - 0.05 * (tries++ % 4)), y: now.height / 2 }, force: true });
          return readout.textContent();
        },
        { timeout: 10_000 },
      )
      .toMatch(/^\d\d:\d\d:\d\d {2}\d[\d,]*(\.\d+)? mg\/L$/);
    const hovered = Number(await cod.getAttribute('data-hover'));
    const cst = new Intl.DateTimeFormat('zh-CN', { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZone: 'Asia/Shanghai' }).format(hovered);
    expect((await readout.textContent())?.startsWith(cst)).toBe(true);
    await cod.screenshot({ path: path.join(ARTIFACTS, 'operator-chart-hover.png') });

    // zoom: drag across the plot; the reset returns to the whole window
    await plot.hover(at(0.5));
    await operator.mouse.down();
    await plot.hover(at(0.65));
    await plot.hover(at(0.8));
    await operator.mouse.up();
    await expect.poll(() => cod.getAttribute('data-zoomed'), { timeout: 5_000 }).toBe('true');
    await expect.poll(() => span(), { timeout: 5_000 }).toBeLessThan(15 * 60_000 * 0.4);
    expect(await span()).toBeGreaterThan(15 * 60_000 * 0.2);
    await cod.locator('.chart-reset').click();
    await expect.poll(() => span(), { timeout: 5_000 }).toBe(15 * 60_000);
    expect(await cod.locator('.chart-reset').isHidden()).toBe(true);

    // a counter: bars of what it counted per bucket, never its ever-rising reading
    const energy = operator.locator('[data-key="main-power/active_energy"]');
    const energyChart = energy.locator('.chart');
    expect(await energyChart.getAttribute('data-mode')).toBe('increase');
    expect(await energyChart.locator('.chart-readout-text').textContent()).toBe('kWh / 15 秒');
    await expect.poll(async () => Number(await energyChart.getAttribute('data-points')), { timeout: 10_000 }).toBeGreaterThan(5);
    const reading = Number((await energy.locator('.num').textContent())?.replaceAll(',', ''));
    const counted = await operator.evaluate(async (token) => {
      const to = Date.now();
      const res = await fetch(`/api/plants/paper-01/series?quantity=active_energy&meter=main-power&from=${to - 900_000}&to=${to}&every=5s&mode=increase`, { headers: { authorization: `Bearer ${token}` } });
      return ((await res.json()) as { series: { points: [number, number][] }[] }).series[0]!.points.map((p) => p[1]);
    }, pipeline.tokens.paperOperator);
    expect(counted.length).toBeGreaterThan(5);
    expect(Math.min(...counted)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...counted)).toBeLessThan(reading / 100);
    const energyPlot = energyChart.locator('.u-over');
    const energyBox = (await energyPlot.boundingBox())!;
    await energyPlot.hover({ position: { x: energyBox.width * 0.9, y: energyBox.height / 2 }, force: true });
    await expect.poll(() => energyChart.locator('.chart-readout-text').textContent(), { timeout: 5_000 }).toMatch(/^\d\d:\d\d:\d\d–\d\d:\d\d:\d\d {2}(\d[\d,]*(\.\d+)? kWh|暂无数据)$/);
    // one number format on tiles, axes and read-outs: thousands grouped with commas, never 万/亿
    expect(await energy.locator('.num').textContent()).toMatch(/^\d{1,3}(,\d{3})*(\.\d+)?$/);
    expect(await operator.innerText('#groups')).not.toMatch(/[万亿]/);
    await energy.screenshot({ path: path.join(ARTIFACTS, 'operator-chart-energy.png') });

    // custom: from and to in plant time; a window in the past does not follow the stream
    await operator.click('#range-picker [data-range="custom"]');
    const end = Date.now() - 60_000;
    const plantInput = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 16);
    await operator.fill('.range-custom input[name="from"]', plantInput(end - 5 * 60_000));
    await operator.fill('.range-custom input[name="to"]', plantInput(end));
    await operator.click('.range-custom .range-apply');
    await expect.poll(() => cod.getAttribute('data-live'), { timeout: 5_000 }).toBe('false');
    expect(await span()).toBe(5 * 60_000);
    expect(Number(await cod.getAttribute('data-x-max')) % 60_000).toBe(0);
    await expect.poll(async () => Number(await cod.getAttribute('data-points')), { timeout: 10_000 }).toBeGreaterThan(0);
    await shot(operator, 'operator-range-custom');
    await energy.screenshot({ path: path.join(ARTIFACTS, 'operator-chart-energy-custom.png') });

    // titles in the reader's language; one too long for its tile ends in an ellipsis, the whole of it on hover
    await operator.click('#lang');
    const titles = await operator.locator('.tile h3').evaluateAll((els) => els.map((el) => ({ text: el.textContent, title: el.getAttribute('title'), cut: el.scrollHeight > el.clientHeight + 1 })));
    expect(titles.map((x) => x.title)).toEqual(titles.map((x) => x.text));
    expect(titles.map((x) => x.text)).toContain('Active energy (counter)');
    await shot(operator, 'operator-en');
    await operator.click('#lang');

    // other pages (an alert's) draw a meter's quantity over a window with the same chart
    // (a string: the test's own transform would rewrite a dynamic import inside a function)
    const drawn = (await operator.evaluate(`(async () => {
      const { drawSeries } = await import('/chart.js');
      const box = document.createElement('div');
      box.className = 'chart';
      document.body.append(box);
      const to = Date.now();
      await drawSeries(box, { plant: 'paper-01', meter: 'main-power', quantity: { id: 'active_energy', unit: 'kWh', kind: 'counter' }, from: to - 15 * 60000, to });
      await new Promise((resolve) => setTimeout(resolve, 100));
      return { ...box.dataset };
    })()`)) as Record<string, string>;
    expect(drawn).toMatchObject({ mode: 'increase', everyMs: '15000', live: 'false' });
    expect(Number(drawn.points)).toBeGreaterThan(5);
    await operator.click('#range-picker [data-range="1h"]');
    await expect.poll(() => cod.getAttribute('data-live'), { timeout: 5_000 }).toBe('true');
    expect(cspViolations).toEqual([]);
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

  it('shows an alert for people: names in Chinese by default, value and limit with units once, "低于下限" for a low pH, and a chart around the alert time', async () => {
    const page = await openPage(pipeline.tokens.admin, '');
    const openAlert = async (plant: string, rule: string): Promise<{ id: string; raisedAt: number } | undefined> =>
      page.evaluate(
        async ({ token, plant, rule }) => {
          const res = await fetch(`/api/alerts?plant=${plant}`, { headers: { authorization: `Bearer ${token}` } });
          const body = (await res.json()) as { alerts: { id: string; rule: string; raisedAt: number }[] };
          return body.alerts.find((a) => a.rule === rule);
        },
        { token: pipeline.tokens.admin, plant, rule },
      );
    await expect.poll(() => openAlert('dyeing-01', 'ph-range'), { timeout: 20_000 }).toBeDefined();
    const ph = (await openAlert('dyeing-01', 'ph-range'))!;
    await page.goto(`${pipeline.dashboard.url}/#/alert/${encodeURIComponent(ph.id)}`);
    const detail = page.locator('#alert-detail');
    await page.locator('#alert-detail[data-state="raised"]').waitFor({ timeout: 10_000 });
    const title = (await detail.locator('h2').textContent()) ?? '';
    // the plant's and the meter's names, not their ids; "below the floor" for a pH under 6; no "pH" after the value
    expect(title).toMatch(/绍兴印染厂 总排口pH计 pH值 4\.\d+，低于下限 6（范围 6–9；GB 4287-2012）/);
    expect(title).not.toMatch(/dyeing-01|outfall-1-ph|over limit|[A-Za-z]{3,} [a-z]{3,}/);
    expect(title).not.toMatch(/\d pH/);
    const facts = async (): Promise<Record<string, string>> =>
      detail.locator('dl.facts').evaluate((dl) => {
        const out: Record<string, string> = {};
        const items = (dl as unknown as { children: ArrayLike<{ tagName: string; textContent: string | null }> }).children;
        for (let i = 0; i + 1 < items.length; i += 2) out[items[i]!.textContent ?? ''] = items[i + 1]!.textContent ?? '';
        return out;
      });
    await expect.poll(async () => (await facts())['下限'], { timeout: 10_000 }).toBe('6');
    const zh = await facts();
    expect(zh).toMatchObject({ 企业: '绍兴印染厂', 仪表: '总排口pH计', 监测项目: 'pH值' });
    expect(zh['数值']).toMatch(/^4\.\d+ · 低于下限$/);
    // the chart: the meter's readings from before the raise to after it, with both pH bounds drawn
    const section = page.locator('#alert-chart-section');
    await section.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await page.textContent('#alert-chart-title')).toBe('报警前后趋势');
    const chart = page.locator('#alert-chart');
    await expect.poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 10_000 }).toBeGreaterThan(10);
    expect((await chart.getAttribute('data-limits'))?.split(' ').map(Number).sort()).toEqual([6, 9]);
    expect(Number(await section.getAttribute('data-from'))).toBeLessThan(ph.raisedAt);
    expect(Number(await section.getAttribute('data-to'))).toBeGreaterThan(ph.raisedAt);
    expect(await chart.locator('canvas').count()).toBe(1);
    await shot(page, 'alert-ph-below-floor');
    // in English: the same alert in the reader's language
    await page.click('#lang');
    const en = await facts();
    expect(en).toMatchObject({ Plant: 'Shaoxing Dyeing Works', Meter: 'Main outfall pH meter', Floor: '6' });
    expect(en['Value']).toMatch(/^4\.\d+ · below floor$/);
    expect(await detail.locator('h2').textContent()).toMatch(/pH 4\.\d+ at Shaoxing Dyeing Works, Main outfall pH meter is below the floor 6 \(range 6–9; GB 4287-2012\)/);
    await shot(page, 'alert-ph-below-floor-en');
    // an upper limit in mg/L: the value and the limit with their unit, once
    await page.click('#lang');
    const cod = await openAlert('paper-01', 'cod-limit');
    expect(cod).toBeDefined();
    await page.goto(`${pipeline.dashboard.url}/#/alert/${encodeURIComponent(cod!.id)}`);
    await expect.poll(async () => (await facts())['限值'], { timeout: 10_000 }).toBe('90 mg/L');
    expect((await facts())['数值']).toMatch(/^[\d.]+ mg\/L · 超过限值$/);
    expect(await detail.locator('h2').textContent()).toMatch(/保定造纸厂 总排口COD在线监测仪 化学需氧量 [\d.]+ mg\/L，超过限值 90 mg\/L（GB 3544-2008）/);
  });

  it('does not let a regulator see another region\'s plant', async () => {
    const page = await openPage(pipeline.tokens.zhejiangRegulator, '#/plant/paper-01', 'en-US');
    await expect.poll(() => page.textContent('#message'), { timeout: 10_000 }).toContain('may not see');
    expect(await page.locator('#plant option').evaluateAll((options) => options.map((o) => o.getAttribute('value')))).toEqual(['dyeing-01']);
    expect(await page.locator('#groups .tile').count()).toBe(0);
    // nor through the API with the token the page holds
    const status = await page.evaluate(async (token) => (await fetch('/api/plants/paper-01/latest', { headers: { authorization: `Bearer ${token}` } })).status, pipeline.tokens.zhejiangRegulator);
    expect(status).toBe(403);
    // its overview lists its own region's plant only, and none of paper-01's alerts (dyeing-01's pH alert is its own)
    await page.goto(`${pipeline.dashboard.url}/#/overview`);
    await page.locator('.plant-card').first().waitFor();
    expect(await page.locator('.plant-card').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-plant')))).toEqual(['dyeing-01']);
    await page.locator('#overview-alerts .alert-item[data-alert-id*=".dyeing-01."]').first().waitFor({ timeout: 10_000 });
    expect(await page.locator('#overview-alerts .alert-item[data-alert-id*=".paper-01."]').count()).toBe(0);
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
    // the figures summed from ingest's loads, counted against paper-01's own baselines (rules/baselines/demo.yaml: COD 120 mg/L)
    const cod = card.locator('.reduction[data-pollutant="cod"]');
    await cod.waitFor({ timeout: 10_000 });
    // minutes of data in a month: marked partial, with its coverage
    expect(await cod.getAttribute('data-partial')).toBe('true');
    expect(await cod.locator('.partial').textContent()).toMatch(/部分数据 · 数据覆盖率/);
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
    // InfluxDB not answering at all is 503 (unavailable); one that answers with an error would be 502
    expect(answer.status).toBe(503);
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
