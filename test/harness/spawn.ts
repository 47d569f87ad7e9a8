/**
 * Servers we did not write (pymodbus, socat, ...) as child processes of a test: started, waited for until they say
 * they are ready, and stopped; a start that fails names the server and carries what it wrote to stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface SpawnedServer {
  readonly child: ChildProcess;
  /** SIGTERM, then resolves once the process has exited (at once if it already has). */
  stop(): Promise<void>;
}

/** Spawns `command` and polls `ready` (given its stdout so far) until it holds; kills it and throws if it exits first or `timeoutMs` passes. */
export async function spawnServer(
  what: string,
  command: string,
  args: readonly string[],
  ready: (stdout: string) => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<SpawnedServer> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + timeoutMs;
  while (!(await ready(stdout))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${what} did not start: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
