/**
 * A real Mosquitto 2 (Debian's, a broker we did not write) for interop tests: temp folder, free loopback port,
 * optional users and ACLs generated from cleanstream's own broker users model.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { canConnect, freePort } from './ports.ts';
import type { BrokerUsers } from '../../bus/broker-auth.ts';

export interface RunningMosquitto {
  url: string;
  port: number;
  /** The running mosquitto process (for its RSS). */
  readonly pid: number | undefined;
  /** SIGTERM (with persistence, Mosquitto saves its sessions and queued messages), wait, start again on the same port. */
  restart(downMs: number): Promise<void>;
  stop(): Promise<void>;
}

export interface MosquittoOptions {
  /**
   * Users from cleanstream's model: as an acl_file and password_file (`acl`, the default), or as the configuration of
   * the dynamic-security plugin (`dynsec`, which also binds client ids to users), as deploy/mosquitto/ ships it.
   */
  auth?: { users: BrokerUsers; passwords: Record<string, string>; mode?: 'acl' | 'dynsec' };
  /** More mosquitto.conf lines (global options), e.g. the limits deploy/mosquitto/mosquitto.conf sets. */
  extraConf?: string[];
  /** Keep sessions and queued QoS 1 messages across restart() in the temp folder. */
  persistence?: boolean;
  /** Lines appended to mosquitto.conf: another listener (TLS) and its settings; files it names must be world-readable. */
  extraConfig?: string[];
}

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<RunningMosquitto> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-mosquitto-'));
  // As root mosquitto drops to the `mosquitto` user: everything it reads must be readable by others, and with
  // persistence it writes its database here.
  chmodSync(dir, opts.persistence || opts.auth?.mode === 'dynsec' ? 0o777 : 0o755);
  const port = await freePort();
  const conf = [
    `listener ${port} 127.0.0.1`,
    // The default of 1000 silently drops QoS 1 messages queued for a slow or offline subscriber.
    'max_queued_messages 0',
    'max_inflight_messages 0',
    ...(opts.persistence ? ['persistence true', `persistence_location ${dir}/`, 'autosave_interval 0'] : ['persistence false']),
    'log_dest stderr',
    'log_type error',
    'log_type warning',
  ];
  conf.push(...(opts.extraConf ?? []));
  if (opts.auth?.mode === 'dynsec') {
    const dynsecFile = path.join(dir, 'dynamic-security.json');
    writeFileSync(dynsecFile, JSON.stringify(opts.auth.users.mosquittoDynsec(opts.auth.passwords), null, 2));
    // The plugin rewrites its file on changes: as root Mosquitto runs as `mosquitto`, which must be able to.
    chmodSync(dynsecFile, 0o666);
    conf.push('allow_anonymous false', `plugin ${DYNSEC_PLUGIN}`, `plugin_opt_config_file ${dynsecFile}`);
  } else if (opts.auth) {
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
  conf.push(...(opts.extraConfig ?? []));
  const confFile = path.join(dir, 'mosquitto.conf');
  writeFileSync(confFile, conf.join('\n') + '\n');
  chmodSync(confFile, 0o644);
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const proc = spawn(MOSQUITTO, ['-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    let stderr = '';
    // MOSQ_DEBUG=1 copies mosquitto's log to the test's stderr (with `extraConf: ['log_type all']`, every packet)
    proc.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (process.env.MOSQ_DEBUG) process.stderr.write(d);
    });
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(port))) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`mosquitto did not start on 127.0.0.1:${port}: ${stderr.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const terminate = async (): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    await exited;
  };
  try {
    await launch();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    get pid() {
      return child?.pid;
    },
    async restart(downMs: number) {
      await terminate();
      await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    async stop() {
      await terminate();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
