/**
 * A real Mosquitto 2 (Debian's, a broker we did not write) for interop tests: temp folder, free loopback port,
 * optional users and ACLs generated from cleanstream's own broker users model.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { canConnect, freePort } from './ports.ts';
import type { BrokerUsers } from '../../bus/broker-auth.ts';

export interface RunningMosquitto {
  url: string;
  port: number;
  /** The running mosquitto process (for its RSS). */
  readonly pid: number | undefined;
  /** What it has logged so far (errors and warnings, unless `extraConf` adds log types). */
  readonly log: string;
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
  /**
   * Load cleanstream's guard plugin (deploy/mosquitto/plugin/, built once by guardPlugin()) with these options
   * (`plugin_opt_<key> <value>`; none: its defaults, the shipped ones). `after: 'dynsec'` lists it after dynamic
   * security instead of before, as deploy/mosquitto/mosquitto.conf must not. Mosquitto denies every publish and
   * subscription its plugins all defer, so it needs `auth` too.
   */
  guard?: { options?: Record<string, string>; after?: 'dynsec' };
}

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';

const ROOT = path.resolve(import.meta.dirname, '../..');
const GUARD_SOURCE = path.join(ROOT, 'deploy/mosquitto/plugin');

/**
 * The guard plugin built from deploy/mosquitto/plugin/ with its Makefile into var/mosquitto-plugin/, once per version
 * of its source (the file is named by the source's hash; a parallel build renames over the same bytes).
 */
export function guardPlugin(): string {
  const hash = createHash('sha256');
  for (const file of ['cleanstream_guard.c', 'Makefile']) hash.update(readFileSync(path.join(GUARD_SOURCE, file)));
  const outDir = path.join(ROOT, 'var/mosquitto-plugin');
  const out = path.join(outDir, `cleanstream_guard-${hash.digest('hex').slice(0, 16)}.so`);
  if (existsSync(out)) return out;
  mkdirSync(outDir, { recursive: true });
  const building = `${out}.${process.pid}.tmp`;
  try {
    execFileSync('make', ['-s', '-B', '-C', GUARD_SOURCE, `OUT=${building}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err);
    throw new Error(`building the Mosquitto guard plugin failed (deploy/bootstrap.sh --test installs mosquitto-dev, libmosquitto-dev, gcc, make): ${stderr}`, { cause: err });
  }
  renameSync(building, out);
  return out;
}

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
  const guardLines: string[] = [];
  if (opts.guard) {
    // Mosquitto runs as `mosquitto` when started as root: a copy in the world-readable temp folder, whatever the
    // permissions of the checkout's var/.
    const plugin = path.join(dir, 'cleanstream_guard.so');
    copyFileSync(guardPlugin(), plugin);
    chmodSync(plugin, 0o644);
    guardLines.push(`plugin ${plugin}`, ...Object.entries(opts.guard.options ?? {}).map(([k, v]) => `plugin_opt_${k} ${v}`));
  }
  // Mosquitto asks plugins in the order of their `plugin` lines, and stops at the first that does not defer.
  if (opts.guard?.after !== 'dynsec') conf.push(...guardLines);
  if (opts.auth?.mode === 'dynsec') {
    const dynsecFile = path.join(dir, 'dynamic-security.json');
    writeFileSync(dynsecFile, JSON.stringify(opts.auth.users.mosquittoDynsec(opts.auth.passwords), null, 2));
    // The plugin rewrites its file on changes: as root Mosquitto runs as `mosquitto`, which must be able to.
    chmodSync(dynsecFile, 0o666);
    conf.push('allow_anonymous false', `plugin ${DYNSEC_PLUGIN}`, `plugin_opt_config_file ${dynsecFile}`);
    if (opts.guard?.after === 'dynsec') conf.push(...guardLines);
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
  let log = '';
  const launch = async (): Promise<void> => {
    const proc = spawn(MOSQUITTO, ['-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    let stderr = '';
    // MOSQ_DEBUG=1 copies mosquitto's log to the test's stderr (with `extraConf: ['log_type all']`, every packet)
    proc.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      log += d.toString();
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
    get log() {
      return log;
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
