/**
 * Runs Debian's InfluxDB 1.x (`influxd`) as a child process with a generated config, bound to loopback on free
 * ports, with all data under one folder. `cleanstream up` and the test harness use it; neither relies on a system
 * service.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync, createWriteStream } from 'node:fs';
import path from 'node:path';
import { createServer } from 'node:net';
import { CleanstreamError } from '../core/errors.ts';

export interface InfluxdOptions {
  /** Folder for meta, data, wal, the generated config and the log. Created if missing; kept after stop. */
  dataDir: string;
  host?: string;
  /** HTTP port; 0 or undefined picks a free one. */
  port?: number;
  /** The influxd binary; defaults to `influxd` on PATH. */
  binary?: string;
  startTimeoutMs?: number;
}

export interface RunningInfluxd {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly logFile: string;
  readonly process: ChildProcess;
  /** SIGTERM and wait for exit (influxd takes about 1.6 s). */
  stop(): Promise<void>;
  /** SIGKILL: for fault tests that need the database gone abruptly. */
  kill(): Promise<void>;
}

export class InfluxdError extends CleanstreamError {}

function pickPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Where `influxd` is, or undefined: checks PATH and Debian's location. */
export function findInfluxd(): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter), '/usr/bin', '/usr/sbin']) {
    if (!dir) continue;
    const candidate = path.join(dir, 'influxd');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function configText(dataDir: string, host: string, httpPort: number, rpcPort: number): string {
  const q = (p: string): string => JSON.stringify(path.resolve(dataDir, p));
  return [
    'reporting-enabled = false',
    `bind-address = "${host}:${rpcPort}"`,
    '[meta]',
    `  dir = ${q('meta')}`,
    '[data]',
    `  dir = ${q('data')}`,
    `  wal-dir = ${q('wal')}`,
    '  index-version = "tsi1"',
    '  query-log-enabled = false',
    '[monitor]',
    '  store-enabled = false',
    '[http]',
    `  bind-address = "${host}:${httpPort}"`,
    '  log-enabled = false',
    '  max-body-size = 0',
    '[continuous_queries]',
    '  log-enabled = false',
    '',
  ].join('\n');
}

async function waitForPing(url: string, child: ChildProcess, timeoutMs: number, logFile: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new InfluxdError('INFLUXD_EXITED', `influxd exited with code ${child.exitCode} during start-up; see ${logFile}`, { url, logFile });
    }
    try {
      const res = await fetch(`${url}/ping`);
      if (res.status === 204) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new InfluxdError('INFLUXD_TIMEOUT', `influxd did not answer /ping within ${timeoutMs} ms; see ${logFile}`, { url, logFile });
}

export async function startInfluxd(options: InfluxdOptions): Promise<RunningInfluxd> {
  const host = options.host ?? '127.0.0.1';
  const binary = options.binary ?? findInfluxd();
  if (!binary) {
    throw new InfluxdError(
      'INFLUXD_MISSING',
      'influxd was not found on PATH. Install Debian\'s InfluxDB 1.x with: apt-get install -y influxdb (or pass --influx-url for an existing server)',
      {},
    );
  }
  const dataDir = path.resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const port = options.port || (await pickPort(host));
  let rpcPort = await pickPort(host);
  while (rpcPort === port) rpcPort = await pickPort(host);
  const configFile = path.join(dataDir, 'influxdb.conf');
  writeFileSync(configFile, configText(dataDir, host, port, rpcPort));
  const logFile = path.join(dataDir, 'influxd.log');
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(binary, ['run', '-config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://${host}:${port}`;
  try {
    await waitForPing(url, child, options.startTimeoutMs ?? 20_000, logFile);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    log.end();
    throw err;
  }
  const waitExit = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
    log.end();
  };
  return {
    url,
    port,
    dataDir,
    logFile,
    process: child,
    stop: () => waitExit('SIGTERM'),
    kill: () => waitExit('SIGKILL'),
  };
}
