/**
 * API tokens as an administrator manages them under a running dashboard: `dashboard-token` adds one, `list` shows
 * names and scopes (never a token), `revoke` removes one, and the running dashboard follows the file without a
 * restart. A token file broken by a typo keeps the tokens in force.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startCli } from '../../harness/cli.ts';
import { freePort } from '../../harness/ports.ts';
import { until } from '../../harness/wait.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'cs-tokens-'));
const file = path.join(dir, 'tokens.yaml');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[]): Promise<{ code: number | null; lines: string[] }> {
  const run = startCli(args);
  const code = await run.exited;
  await new Promise((r) => setTimeout(r, 50));
  return { code, lines: run.log };
}

describe('dashboard tokens', () => {
  it('are added, listed and revoked with the CLI, and a running dashboard follows the file', async () => {
    const create = async (name: string, ...scope: string[]) => {
      const { code, lines } = await cli(['dashboard-token', '--tokens', file, '--name', name, ...scope]);
      expect(code, lines.join('\n')).toBe(0);
      return lines.at(-1)!;
    };
    const first = await create('night-shift', '--role', 'admin');
    const port = await freePort();
    const dashboard = startCli(['dashboard', '--tokens', file, '--port', String(port), '--no-log', '--influx-url', 'http://127.0.0.1:9', '--mqtt-url', 'mqtt://127.0.0.1:9']);
    try {
      const status = async (token: string) => (await fetch(`http://127.0.0.1:${port}/api/plants`, { headers: { authorization: `Bearer ${token}` } })).status;
      await until('the dashboard to answer', async () => (await status(first).catch(() => 0)) === 200, 30_000, 100);

      const second = await create('hebei-epb', '--role', 'regulator', '--regions', 'hebei');
      await until('the added token to be accepted', async () => (await status(second)) === 200, 10_000, 100);

      const listed = await cli(['dashboard-token', 'list', '--tokens', file]);
      expect(listed.code).toBe(0);
      expect(listed.lines.join('\n')).toMatch(/night-shift\tadmin\tevery plant/);
      expect(listed.lines.join('\n')).toMatch(/hebei-epb\tregulator\tregions hebei/);
      expect(listed.lines.join('\n')).not.toContain(first);

      const revoked = await cli(['dashboard-token', 'revoke', '--tokens', file, 'night-shift']);
      expect(revoked.code).toBe(0);
      await until('the revoked token to be refused', async () => (await status(first)) === 401, 10_000, 100);
      expect(await status(second)).toBe(200);

      const again = await cli(['dashboard-token', 'revoke', '--tokens', file, 'night-shift']);
      expect(again.code).toBe(1);
      expect(again.lines.join('\n')).toContain('a token named night-shift (there is none');

      writeFileSync(file, 'tokens: [ { name: broken');
      await until('the broken file to be reported', () => dashboard.log.some((l) => l.includes('is not valid, the tokens in force stay')), 10_000, 100);
      expect(await status(second)).toBe(200);
      expect(await status(first)).toBe(401);
    } finally {
      dashboard.proc.kill('SIGTERM');
      await dashboard.exited;
    }
  }, 120_000);
});
