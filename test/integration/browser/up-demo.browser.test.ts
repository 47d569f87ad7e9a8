/**
 * `npm start` shows the product working: `cleanstream up` with its defaults plays the live demo scenario, and within
 * three minutes of the start the COD excursion it announces is an alert on the dashboard page it printed (opened in
 * Debian's chromium), on the alert topic and in the API. The clearing, the stuck analyser and the silent meter that
 * follow are proven on the demo's feed by simulators/demo-live.test.ts; waiting for them here would cost minutes.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { chromium, type Browser } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { startCli } from '../../harness/cli.ts';
import { freePort } from '../../harness/ports.ts';
import { until } from '../../harness/wait.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const ROOT = path.resolve(import.meta.dirname, '../../..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'browser');
const THREE_MINUTES = 180_000;

describe.skipIf(!hasChromium)('the demo that cleanstream up runs by default', () => {
  it('raises the COD excursion it announces within three minutes, on the page it printed, on MQTT and in the API', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'cleanstream-up-demo-'));
    const [mqttPort, opcua, modbus, http] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const startedAt = Date.now();
    const up = startCli(['up', '--data-dir', dataDir, '--mqtt-port', String(mqttPort), '--opcua-port', String(opcua), '--modbus-port', String(modbus), '--http-port', String(http)]);
    const output = () => up.log.join('\n');
    let browser: Browser | undefined;
    let alerts: MqttClient | undefined;
    try {
      await until('up to print its dashboard', () => output().includes('Ctrl-C stops') || up.proc.exitCode !== null, 60_000, 100);
      // one line says what the demo will show and when
      const demo = /demo \(demo-live\): \d\d:\d\d:\d\d \(\+40s\) COD excursion at paper-01\/outfall-1-cod \(to \S+\), \d\d:\d\d:\d\d \(\+1m\) stuck COD analyser at dyeing-01\/outfall-1-cod \(to \S+\), \d\d:\d\d:\d\d \(\+1m20s\) comm loss at steel-01\/main-power \(to \S+\); again every 10m; open the dashboard to see the alerts/.exec(output());
      expect(demo, output()).not.toBeNull();
      const [, base, token] = /dashboard\s+(http:\/\/\S+)\/\?token=(\S+)/.exec(output()) as RegExpExecArray;

      alerts = await connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { reconnectPeriod: 0 });
      const raised: string[] = [];
      alerts.on('message', (topic, payload) => {
        if ((JSON.parse(payload.toString()) as { state: string }).state === 'raised') raised.push(topic);
      });
      await alerts.subscribeAsync('cleanstream/v1/alerts/#', { qos: 1 });

      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
      const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'zh-CN' })).newPage();
      await page.goto(`${base}/?token=${token}`);
      // the admin token starts on the overview: the open alerts of every plant
      // by its id (rule.plant.meter.raisedAt): the text names the plant and meter in the reader's language
      const alert = page.locator('#overview-alerts .alert-item[data-severity="major"][data-state="raised"][data-alert-id^="cod-limit.paper-01.outfall-1-cod."]');
      await alert.waitFor({ timeout: Math.max(1_000, startedAt + THREE_MINUTES - Date.now()) });
      expect(await alert.textContent()).toContain('超过限值');
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'up-demo-alert.png'), fullPage: true });

      await until('the alert on its topic', () => raised.includes('cleanstream/v1/alerts/paper-01/cod-limit/outfall-1-cod'), 10_000, 100);
      const api = (await (await fetch(`${base}/api/alerts?plant=paper-01`, { headers: { authorization: `Bearer ${token}` } })).json()) as { alerts: { rule: string; meter: string; state: string; value: number; limit: number }[] };
      const cod = api.alerts.find((a) => a.rule === 'cod-limit' && a.meter === 'outfall-1-cod');
      expect(cod, JSON.stringify(api)).toMatchObject({ state: 'raised', limit: 90 });
      expect(cod?.value).toBeGreaterThan(90);

      up.proc.kill('SIGINT');
      expect(await up.exited, output()).toBe(0);
    } finally {
      await browser?.close();
      await alerts?.endAsync(true);
      if (up.proc.exitCode === null) {
        up.proc.kill('SIGKILL');
        await up.exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 240_000);
});
