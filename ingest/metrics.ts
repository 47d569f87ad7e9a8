/**
 * Ingest's Prometheus metrics and its small HTTP endpoint: `/metrics` (text exposition format 0.0.4), `/healthz`
 * (the process answers) and `/readyz` (connected to the broker and able to make data durable: 503 with the reasons
 * otherwise). Its own registry, so that several ingest instances in one process (tests) do not collide.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { TransportError } from '../core/errors.ts';
import type { IngestStats, SpoolStats } from './stats.ts';

/** What the metrics read at scrape time (counters are totals since start): the part of ingest's stats they expose. */
export type MetricsSource = Pick<
  IngestStats,
  | 'receivedMessages'
  | 'receivedReadings'
  | 'writtenReadings'
  | 'writtenLines'
  | 'spooledReadings'
  | 'replayedReadings'
  | 'refusedLines'
  | 'rejected'
  | 'flaggedReadings'
  | 'writeErrors'
  | 'pendingLines'
  | 'unackedMessages'
  | 'connected'
  | 'paused'
> & {
  spool?: Pick<SpoolStats, 'bytes' | 'batches' | 'maxBytes' | 'warning' | 'replayWritesInFlight' | 'replayPeakWritesInFlight' | 'lostBatches'> | undefined;
};

export interface IngestMetrics {
  readonly registry: Registry;
  /** One write request to InfluxDB answered (success or refusal), in seconds. */
  observeWrite(seconds: number, lines: number): void;
}

export function createIngestMetrics(read: () => MetricsSource): IngestMetrics {
  const registry = new Registry();
  const registers = [registry];
  const total = (name: string, help: string, value: (s: MetricsSource) => number): void => {
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(value(read()));
      },
    });
  };
  const gauge = (name: string, help: string, value: (s: MetricsSource) => number): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(value(read()));
      },
    });
  };
  total('cleanstream_ingest_received_messages_total', 'MQTT messages received', (s) => s.receivedMessages);
  total('cleanstream_ingest_received_readings_total', 'Readings in valid messages received', (s) => s.receivedReadings);
  total('cleanstream_ingest_written_readings_total', 'Readings written to InfluxDB directly (not via the spool)', (s) => s.writtenReadings);
  total('cleanstream_ingest_written_lines_total', 'Lines InfluxDB accepted, directly or from the spool', (s) => s.writtenLines);
  total('cleanstream_ingest_spooled_readings_total', 'Readings put in the durable spool', (s) => s.spooledReadings);
  total('cleanstream_ingest_replayed_readings_total', 'Spooled readings written to InfluxDB', (s) => s.replayedReadings);
  total('cleanstream_ingest_refused_lines_total', 'Lines InfluxDB refused (400) and that were dead-lettered', (s) => s.refusedLines);
  total('cleanstream_ingest_spool_lost_batches_total', 'Spooled batches lost to disk damage, found when the spool was opened (the log names file, bytes, ids)', (s) => s.spool?.lostBatches ?? 0);
  total('cleanstream_ingest_write_errors_total', 'Failed write attempts (InfluxDB unreachable, 5xx, 429, refusals)', (s) => s.writeErrors);
  new Counter({
    name: 'cleanstream_ingest_rejected_messages_total',
    help: 'Messages dead-lettered, by reason',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [reason, count] of Object.entries(read().rejected)) this.inc({ reason }, count);
    },
  });
  new Counter({
    name: 'cleanstream_ingest_flagged_readings_total',
    help: 'Readings accepted with a reason for their quality (out_of_range: set by ingest; others: by the gateway), by reason',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const [reason, count] of Object.entries(read().flaggedReadings)) this.inc({ reason }, count);
    },
  });
  gauge('cleanstream_ingest_pending_lines', 'Lines accepted and not yet written or spooled', (s) => s.pendingLines);
  gauge('cleanstream_ingest_unacked_messages', 'Messages received and not yet acknowledged to the broker', (s) => s.unackedMessages);
  gauge('cleanstream_ingest_connected', '1 while connected to the broker', (s) => Number(s.connected));
  gauge('cleanstream_ingest_paused', '1 while ingest holds back from reading the broker (backpressure)', (s) => Number(s.paused));
  gauge('cleanstream_ingest_spool_bytes', 'Bytes the spool holds on disk', (s) => s.spool?.bytes ?? 0);
  gauge('cleanstream_ingest_spool_batches', 'Batches waiting in the spool', (s) => s.spool?.batches ?? 0);
  gauge('cleanstream_ingest_spool_max_bytes', 'The spool bound (0: no spool)', (s) => s.spool?.maxBytes ?? 0);
  gauge('cleanstream_ingest_spool_warning', '1 while the spool is above its warning ratio', (s) => Number(s.spool?.warning ?? false));
  gauge('cleanstream_ingest_replay_writes_in_flight', 'Spooled batches being written to InfluxDB now', (s) => s.spool?.replayWritesInFlight ?? 0);
  gauge('cleanstream_ingest_replay_writes_in_flight_peak', 'The most spooled batches written at once since start', (s) => s.spool?.replayPeakWritesInFlight ?? 0);

  new Gauge({
    name: 'cleanstream_ingest_memory_bytes',
    help: 'Process memory by kind (process.memoryUsage): rss, heap_used, heap_total, external (Buffers and other C++ objects), array_buffers',
    labelNames: ['kind'],
    registers,
    collect() {
      const m = process.memoryUsage();
      this.set({ kind: 'rss' }, m.rss);
      this.set({ kind: 'heap_used' }, m.heapUsed);
      this.set({ kind: 'heap_total' }, m.heapTotal);
      this.set({ kind: 'external' }, m.external);
      this.set({ kind: 'array_buffers' }, m.arrayBuffers);
    },
  });

  const latency = new Histogram({
    name: 'cleanstream_ingest_write_duration_seconds',
    help: 'InfluxDB write request duration',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const batchSize = new Histogram({
    name: 'cleanstream_ingest_batch_lines',
    help: 'Lines per InfluxDB write request',
    buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000],
    registers,
  });
  return {
    registry,
    observeWrite(seconds, lines) {
      latency.observe(seconds);
      batchSize.observe(lines);
    },
  };
}

export interface HealthServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Starts the HTTP endpoint. `ready()` returns the reasons ingest is not ready (empty: ready). */
export async function startHealthServer(options: { host: string; port: number; registry: Registry; ready: () => string[] }): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (url === '/metrics') {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': options.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(err.message),
      );
    } else if (url === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"ok"}\n');
    } else if (url === '/readyz') {
      const problems = options.ready();
      res
        .writeHead(problems.length ? 503 : 200, { 'Content-Type': 'application/json' })
        .end(JSON.stringify(problems.length ? { status: 'not ready', problems } : { status: 'ready' }) + '\n');
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: try /metrics, /healthz, /readyz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new TransportError('INGEST_HTTP_LISTEN', `cannot listen on ${options.host}:${options.port}: ${err.message}`, false, { host: options.host, port: options.port }, { cause: err })),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
