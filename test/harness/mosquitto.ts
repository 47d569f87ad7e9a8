/**
 * A real Mosquitto 2 (Debian's, a broker we did not write) for interop tests: temp folder, free loopback port,
 * optional users and ACLs generated from cleanstream's own broker users model.
 */
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './ports.ts';
import type { BrokerUsers } from '../../deploy/broker-auth.ts';

export interface RunningMosquitto {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export const MOSQUITTO = '/usr/sbin/mosquitto';

export async function startMosquitto(opts: { auth?: { users: BrokerUsers; passwords: Record<string, string> } } = {}): Promise<RunningMosquitto> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-mosquitto-'));
  // As root mosquitto drops to the `mosquitto` user: everything it reads must be readable by others.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const conf = [
    `listener ${port} 127.0.0.1`,
    // The default of 1000 silently drops QoS 1 messages queued for a slow or offline subscriber.
    'max_queued_messages 0',
    'max_inflight_messages 0',
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
  ];
  if (opts.auth) {
    const passwordFile = path.join(dir, 'passwd');
    writeFileSync(passwordFile, '');
    for (const [user, password] of Object.entries(opts.auth.passwords)) {
      execFileSync('mosquitto_passwd', ['-b', passwordFile, user, password]);
    }
    const aclFile = path.join(dir, 'acl');
    writeFileSync(aclFile, opts.auth.users.mosquittoAcl());
    chmodSync(passwordFile, 0o644);
    chmodSync(aclFile, 0o644);
    conf.push('allow_anonymous false', `password_file ${passwordFile}`, `acl_file ${aclFile}`);
  } else {
    conf.push('allow_anonymous true');
  }
  const confFile = path.join(dir, 'mosquitto.conf');
  writeFileSync(confFile, conf.join('\n') + '\n');
  chmodSync(confFile, 0o644);
  const child = spawn(MOSQUITTO, ['-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`mosquitto did not start on 127.0.0.1:${port}: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function canConnect(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
