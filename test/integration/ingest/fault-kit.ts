/**
 * What the ingest fault tests share: a Mosquitto that keeps its state across restarts, ingest as a child process
 * (so that it can be SIGKILLed), a steady publisher of gateway-style batches, and the exact check of what InfluxDB holds.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectAsync, type MqttClient } from 'mqtt';
import { encodeBatch, type ReadingBatch } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { startMosquitto, type RunningMosquitto } from '../../harness/mosquitto.ts';
import type { IngestConfigInput } from '../../../ingest/config.ts';
import type { RunningInflux } from '../../harness/influxd.ts';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const T0 = 1_700_000_000_000;
export const PLANTS_FILE = path.join(REPO, 'deploy/demo/plants.yaml');

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

import { until } from '../../harness/wait.ts';

export { until };

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `cleanstream-${prefix}-`));
}

export type PersistentMosquitto = RunningMosquitto;

/** Debian's Mosquitto 2 with persistence on, unlimited queues and in-flight windows, on a free loopback port. */
export function startPersistentMosquitto(): Promise<PersistentMosquitto> {
  return startMosquitto({ persistence: true });
}

export interface IngestProcess {
  readonly httpUrl: string;
  readonly log: () => string;
  /** Counters from /metrics (name without the `cleanstream_ingest_` prefix → value; labelled series summed). */
  metrics(): Promise<Record<string, number>>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `ingest/main.ts --config <file>` as a child and waits until /readyz says ready. */
export async function spawnIngest(config: IngestConfigInput & { http: { port: number } }, configDir: string, name = 'ingest'): Promise<IngestProcess> {
  const file = path.join(configDir, `${name}.yaml`);
  writeFileSync(file, JSON.stringify(config, null, 2)); // JSON is YAML
  const child = spawn(process.execPath, [path.join(REPO, 'bin/run-ts.js'), path.join(REPO, 'ingest/main.ts'), '--config', file, '--stats-interval', '0'], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const httpUrl = `http://127.0.0.1:${config.http.port}`;
  try {
    await until(
      `${name} to be ready`,
      async () => {
        if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${output}`);
        return (await fetch(`${httpUrl}/readyz`).catch(() => undefined))?.status === 200;
      },
      15_000,
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    httpUrl,
    log: () => output,
    async metrics() {
      const text = await (await fetch(`${httpUrl}/metrics`)).text();
      const out: Record<string, number> = {};
      for (const line of text.split('\n')) {
        const match = /^cleanstream_ingest_([a-z_]+)(?:\{[^}]*\})? (\S+)$/.exec(line);
        if (match) out[match[1]!] = (out[match[1]!] ?? 0) + Number(match[2]);
      }
      return out;
    },
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export function ingestConfig(opts: { mqttUrl: string; influxUrl: string; database: string; clientId: string; httpPort: number; spoolDir?: string; protocolVersion?: 4 | 5; subscription?: string }): IngestConfigInput & { http: { port: number } } {
  return {
    mqtt: { url: opts.mqttUrl, protocolVersion: opts.protocolVersion ?? 4 },
    clientId: opts.clientId,
    ...(opts.subscription ? { subscription: opts.subscription } : {}),
    influx: { url: opts.influxUrl, database: opts.database },
    batch: { maxLines: 2000, maxDelayMs: 50 },
    // the feed is stamped from T0 (2023): history
    timestamps: { backfill: true },
    retry: { maxAttempts: 2, initialDelayMs: 20, maxDelayMs: 200, pauseMs: 300, requestTimeoutMs: 2000 },
    ...(opts.spoolDir ? { spool: { dir: opts.spoolDir, maxBytes: 200_000_000, segmentBytes: 256 * 1024 } } : {}),
    http: { port: opts.httpPort },
    plants: PLANTS_FILE,
  };
}

export const READINGS_PER_MESSAGE = 50;

/** The i-th reading of the feed: one pH series, a distinct timestamp per reading, a value derived from it. */
export const expectedValue = (i: number): number => 6 + (i % 800) / 100;

export function feedMessage(seq: number): { topic: string; payload: Buffer } {
  const readings = Array.from({ length: READINGS_PER_MESSAGE }, (_, j) => {
    const i = seq * READINGS_PER_MESSAGE + j;
    return { meter: 'outfall-1-ph', quantity: 'ph' as const, value: expectedValue(i), unit: 'pH', ts: T0 + i, quality: 'good' as const };
  });
  const batch: ReadingBatch = { v: 1, plant: 'paper-01', gateway: 'gw-fault', seq, sentAt: T0, readings };
  return { topic: topics.readings('paper-01', 'gw-fault'), payload: encodeBatch(batch) };
}

export interface Feed {
  /** Messages the broker acknowledged so far. */
  readonly confirmed: number;
  /** Resolves once every message was acknowledged by the broker. */
  readonly done: Promise<void>;
  client: MqttClient;
}

/** Publishes `messages` feed messages at `perSecond`, QoS 1, through broker restarts (MQTT.js resends what was not acknowledged). */
export async function startFeed(url: string, messages: number, perSecond: number, protocolVersion: 4 | 5 = 4): Promise<Feed> {
  const client = await connectAsync(url, { clientId: `feed-${Math.random().toString(16).slice(2)}`, protocolVersion, clean: false, reconnectPeriod: 200 });
  let confirmed = 0;
  const done = (async () => {
    const pending: Promise<unknown>[] = [];
    const started = Date.now();
    for (let seq = 0; seq < messages; seq++) {
      const due = started + (seq * 1000) / perSecond;
      if (due > Date.now()) await sleep(due - Date.now());
      const { topic, payload } = feedMessage(seq);
      pending.push(client.publishAsync(topic, payload, { qos: 1 }).then(() => confirmed++));
    }
    await Promise.all(pending);
  })();
  return {
    get confirmed() {
      return confirmed;
    },
    done,
    client,
  };
}

/** InfluxDB holds exactly the feed's readings: the count, and every timestamp with its value. */
export async function expectExactly(influx: RunningInflux, database: string, messages: number): Promise<{ ok: boolean; problem?: string }> {
  const rows = await influx.query<{ time: number; ph: number }>('SELECT ph FROM water', database);
  const total = messages * READINGS_PER_MESSAGE;
  if (rows.length !== total) return { ok: false, problem: `expected ${total} points, InfluxDB holds ${rows.length}` };
  for (let i = 0; i < total; i++) {
    const row = rows[i]!;
    if (row.time !== T0 + i || row.ph !== expectedValue(i)) return { ok: false, problem: `point ${i}: expected ${T0 + i}=${expectedValue(i)}, got ${row.time}=${row.ph}` };
  }
  return { ok: true };
}
