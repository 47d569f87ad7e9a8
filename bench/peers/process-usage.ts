/** CPU and memory of any process (a peer we did not write, or one of ours), from /proc. */
import { readFileSync } from 'node:fs';

export interface ProcessUsage {
  /** User + system CPU time so far. */
  cpuSeconds: number;
  rssBytes: number;
}

/** CPU (user + system) from /proc/<pid>/stat, RSS from /proc/<pid>/status; undefined once the process is gone. */
export function processUsage(pid: number): ProcessUsage | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of proc(5))
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    return { cpuSeconds: ticks / 100, rssBytes: rssKb * 1024 };
  } catch {
    return undefined;
  }
}
