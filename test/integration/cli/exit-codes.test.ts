/**
 * The `cleanstream` command as scripts and systemd units see it: a mistake in the command line exits non-zero and
 * names what was wrong; asking for help exits 0.
 */
import { describe, expect, it } from 'vitest';
import { startCli } from '../../harness/cli.ts';

async function run(args: string[]): Promise<{ code: number | null; output: string }> {
  const cli = startCli(args);
  const code = await cli.exited;
  // 'exit' can come before the pipes' last data: give them a turn to drain
  await new Promise((resolve) => setTimeout(resolve, 50));
  return { code, output: cli.log.join('\n') };
}

const COMMANDS = ['up', 'simulate', 'record', 'replay', 'gateway', 'ingest', 'rules', 'uplink', 'dashboard', 'dashboard-token', 'broker', 'passwd', 'broker-acl'];

describe('cleanstream exit codes', () => {
  it('an unknown command exits 1 naming it, with or without --help', async () => {
    for (const args of [['report'], ['report', '--help']]) {
      const { code, output } = await run(args);
      expect(code, args.join(' ')).toBe(1);
      expect(output).toContain("unknown command 'report'");
    }
  });

  it('an unknown flag exits 1 naming it, before any complaint about a missing required flag and even beside --help', async () => {
    for (const args of [['gateway', '--bogus'], ['ingest', '--config', 'x.yaml', '--bogus=1', '--help']]) {
      const { code, output } = await run(args);
      expect(code, args.join(' ')).toBe(1);
      expect(output).toContain("unknown option '--bogus'");
      expect(output).not.toContain('required option');
    }
  });

  it('every command answers --help with exit 0 and its own usage', async () => {
    // three at a time: thirteen Node processes at once starve a 2-core machine
    const results: { command: string; code: number | null; output: string }[] = [];
    for (let i = 0; i < COMMANDS.length; i += 3) {
      results.push(...(await Promise.all(COMMANDS.slice(i, i + 3).map(async (command) => ({ command, ...(await run([command, '--help'])) })))));
    }
    for (const { command, code, output } of results) {
      expect(code, command).toBe(0);
      expect(output, command).toContain(`Usage: cleanstream ${command}`);
    }
  });

  it('the main help lists every command', async () => {
    const { code, output } = await run(['--help']);
    expect(code).toBe(0);
    for (const command of COMMANDS) expect(output).toMatch(new RegExp(`^  ${command} `, 'm'));
  });
});
