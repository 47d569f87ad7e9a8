/**
 * A real InfluxDB 1.x for a test suite: Debian's influxd in a temp folder on a free loopback port, removed on stop.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startInfluxd as spawnInfluxd, type RunningInfluxd } from '../../deploy/influxd.ts';

export interface RunningInflux {
  url: string;
  port: number;
  dataDir: string;
  /** Run InfluxQL; returns the rows of every series of the first statement as objects (column → value), tags merged in. */
  query<T = Record<string, unknown>>(q: string, db?: string): Promise<T[]>;
  /** Run a statement that changes things (CREATE, DROP) with POST. */
  exec(q: string, db?: string): Promise<void>;
  /** SIGTERM, wait, delete the temp folder (unless keepData was given). */
  stop(): Promise<void>;
  /** SIGKILL, keeping the folder so that `restart()` can bring the same data back. */
  kill(): Promise<void>;
  /** Start again on the same port and folder after stop/kill (for outage tests). */
  restart(): Promise<void>;
}

interface QuerySeries {
  name?: string;
  tags?: Record<string, string>;
  columns: string[];
  values?: unknown[][];
}
interface QueryResponse {
  results?: { statement_id: number; series?: QuerySeries[]; error?: string }[];
  error?: string;
}

export async function startInfluxd(opts: { dataDir?: string; keepData?: boolean } = {}): Promise<RunningInflux> {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'cleanstream-influx-'));
  let proc: RunningInfluxd = await spawnInfluxd({ dataDir });
  const port = proc.port;
  const url = proc.url;

  async function call(q: string, db: string | undefined, method: 'GET' | 'POST'): Promise<QueryResponse> {
    const params = new URLSearchParams({ q, epoch: 'ms' });
    if (db) params.set('db', db);
    const res = method === 'GET' ? await fetch(`${url}/query?${params}`) : await fetch(`${url}/query`, { method, body: params });
    const body = (await res.json()) as QueryResponse;
    const err = body.error ?? body.results?.find((r) => r.error)?.error;
    if (!res.ok || err) throw new Error(`InfluxQL failed (${res.status}): ${err ?? 'unknown'} for: ${q}`);
    return body;
  }

  return {
    url,
    port,
    dataDir,
    async query<T>(q: string, db?: string): Promise<T[]> {
      const body = await call(q, db, 'GET');
      const rows: T[] = [];
      for (const series of body.results?.[0]?.series ?? []) {
        for (const values of series.values ?? []) {
          const row: Record<string, unknown> = { ...series.tags };
          series.columns.forEach((c, i) => (row[c] = values[i]));
          rows.push(row as T);
        }
      }
      return rows;
    },
    async exec(q: string, db?: string): Promise<void> {
      await call(q, db, 'POST');
    },
    async stop() {
      await proc.stop();
      if (!opts.keepData && !opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
    async kill() {
      await proc.kill();
    },
    async restart() {
      proc = await spawnInfluxd({ dataDir, port });
    },
  };
}
