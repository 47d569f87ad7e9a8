/**
 * The broker's commands run once each as an operator runs them, one feeding the next: `cleanstream passwd` hashes a
 * password read from standard input, that hash goes in a users file, `cleanstream broker-acl` writes the file's rules
 * for Mosquitto, and `cleanstream broker --users` enforces them: the user signs in with the password, not with another,
 * and may do what its role allows only.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { topics } from '../../../bus/topics.ts';
import { verifyPassword } from '../../../bus/broker-auth.ts';
import { startCli } from '../../harness/cli.ts';
import { canConnect, freePort } from '../../harness/ports.ts';
import { until } from '../../harness/wait.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-broker-commands-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A command with `input` on its standard input: exit code and standard output. */
function run(args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [path.join(ROOT, 'bin/cleanstream.js'), ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.once('exit', (code) => resolve({ code, stdout, stderr }));
    proc.stdin.end(input);
  });
}

describe('passwd, broker-acl and broker as processes', () => {
  it('a hash from passwd lets its user in to the broker, with the rights broker-acl prints', async () => {
    const hashed = await run(['passwd'], 'gw-secret');
    expect(hashed.code, hashed.stderr).toBe(0);
    const hash = hashed.stdout.trim();
    expect(hash).toMatch(/^scrypt\$/);
    expect(verifyPassword('gw-secret', hash)).toBe(true);
    expect(verifyPassword('gw-secreT', hash)).toBe(false);

    const users = path.join(dir, 'users.yaml');
    writeFileSync(users, stringify({ users: [{ username: 'gw-paper', role: 'gateway', plants: ['paper-01'], passwordHash: hash }] }));

    const acl = await run(['broker-acl', '--users', users]);
    expect(acl.code, acl.stderr).toBe(0);
    expect(acl.stdout).toMatch(/^user gw-paper$/m);
    expect(acl.stdout).toMatch(new RegExp(`^topic write ${topics.readings('paper-01', 'gw-paper')}$`, 'm'));
    expect(acl.stdout).not.toMatch(/^topic (read|readwrite) /m);

    const port = await freePort();
    const broker = startCli(['broker', '--port', String(port), '--users', users]);
    try {
      await until('the broker listening', () => canConnect(port), 20_000);
      const url = `mqtt://127.0.0.1:${port}`;
      await expect(mqtt.connectAsync(url, { protocolVersion: 4, username: 'gw-paper', password: 'wrong', reconnectPeriod: 0 })).rejects.toMatchObject({ code: 4 });
      const gateway = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'gw-paper', username: 'gw-paper', password: 'gw-secret', reconnectPeriod: 0 });
      try {
        await gateway.publishAsync(topics.readings('paper-01', 'gw-paper'), '{}', { qos: 1 });
        await expect(gateway.subscribeAsync(topics.readingsFilter(), { qos: 1 })).rejects.toThrow(/Subscribe error/);
      } finally {
        gateway.end(true);
      }
    } finally {
      broker.proc.kill('SIGTERM');
      expect(await broker.exited, broker.log.join('\n')).toBe(0);
    }
  }, 60_000);
});
