/**
 * `node bin/cleanstream.js <command> ...` as a user runs it, for tests that need the real process (a SIGKILL, a
 * config file edited under it): its output collected as whole lines, stdout and stderr together.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface CliProcess {
  proc: ChildProcess;
  /** Every line written so far (pino's JSON lines among them), in order. */
  log: string[];
  exited: Promise<number | null>;
}

export function startCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin/cleanstream.js'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  // a line may arrive in two chunks: keep each stream's unfinished one until its end comes
  const collect = (stream: NodeJS.ReadableStream): void => {
    let partial = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop()!;
      log.push(...lines.filter(Boolean));
    });
    stream.on('end', () => void (partial && log.push(partial)));
  };
  collect(proc.stdout!);
  collect(proc.stderr!);
  return { proc, log, exited: new Promise((resolve) => proc.once('exit', (code) => resolve(code))) };
}
