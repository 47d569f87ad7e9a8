/**
 * The gateway's figures for Prometheus on /metrics, with a /healthz for probes, served by a small node:http server
 * (loopback by default: it has no authentication). A module of its own, imported only when the config asks for the
 * endpoint: prom-client costs a gateway that does not use it about 10 MB of memory.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import { TransportError } from '../core/errors.ts';
import type { GatewayStats, InputStats } from './health.ts';
import type { PublisherStats } from './publisher.ts';

/** Prometheus metrics read from the gateway's counters at scrape time (no bookkeeping on the hot path). */
export function gatewayMetrics(stats: () => GatewayStats): Registry {
  const registry = new Registry();
  const inputCounter = (name: string, help: string, pick: (i: InputStats) => number): void => {
    new Counter({
      name,
      help,
      labelNames: ['gateway', 'input', 'type'],
      registers: [registry],
      collect() {
        this.reset();
        const s = stats();
        for (const i of s.inputs) this.inc({ gateway: s.gateway, input: i.name, type: i.type }, pick(i));
      },
    });
  };
  inputCounter('cleanstream_gateway_readings_total', 'Readings produced by each input.', (i) => i.readings);
  inputCounter('cleanstream_gateway_bad_readings_total', 'Readings with quality bad (no value) by input.', (i) => i.badReadings);
  inputCounter('cleanstream_gateway_input_errors_total', 'Errors reported by each input (connection, request, decode).', (i) => i.errors);
  new Gauge({
    name: 'cleanstream_gateway_input_connected',
    help: '1 when the input is connected to its device or server.',
    labelNames: ['gateway', 'input', 'type'],
    registers: [registry],
    collect() {
      const s = stats();
      for (const i of s.inputs) this.set({ gateway: s.gateway, input: i.name, type: i.type }, i.state === 'connected' ? 1 : 0);
    },
  });
  const publisherGauge = (name: string, help: string, pick: (p: PublisherStats) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['gateway'],
      registers: [registry],
      collect() {
        const s = stats();
        this.set({ gateway: s.gateway }, pick(s.publisher));
      },
    });
  };
  const publisherCounter = (name: string, help: string, pick: (p: PublisherStats) => number): void => {
    new Counter({
      name,
      help,
      labelNames: ['gateway'],
      registers: [registry],
      collect() {
        this.reset();
        const s = stats();
        this.inc({ gateway: s.gateway }, pick(s.publisher));
      },
    });
  };
  publisherGauge('cleanstream_gateway_broker_connected', '1 while connected to the MQTT broker.', (p) => (p.connected ? 1 : 0));
  publisherGauge('cleanstream_gateway_queue_batches', 'Batches in the store-and-forward queue (not yet acknowledged by the broker).', (p) => p.queuedBatches);
  publisherGauge('cleanstream_gateway_queue_bytes', 'Bytes on disk held by the store-and-forward queue.', (p) => p.queueBytes);
  publisherGauge('cleanstream_gateway_queue_max_bytes', 'Bound of the store-and-forward queue.', (p) => p.queueMaxBytes);
  publisherCounter('cleanstream_gateway_batches_published_total', 'Batches acknowledged by the broker.', (p) => p.batchesPublished);
  publisherCounter('cleanstream_gateway_readings_published_total', 'Readings in batches acknowledged by the broker.', (p) => p.readingsPublished);
  publisherCounter('cleanstream_gateway_batches_dropped_total', 'Batches refused because the queue was full or unwritable.', (p) => p.droppedBatches);
  publisherCounter('cleanstream_gateway_batches_rejected_total', 'Batches the broker refused (moved to the rejected file).', (p) => p.rejectedBatches);
  publisherCounter('cleanstream_gateway_batches_lost_total', 'Batches lost to disk damage in the store-and-forward queue, found when it was opened.', (p) => p.lostBatches);
  return registry;
}

export interface MetricsServer {
  url: string;
  stop(): Promise<void>;
}

/**
 * GET /metrics (Prometheus text) and GET /healthz: 200 while the gateway runs and its queue still accepts data
 * (a broker outage is not unhealthy: the gateway is doing its job by queueing), 503 once it drops data (batches refused
 * by a full queue) and for a minute after a probe last saw a drop.
 */
export async function startMetricsServer(opts: { host: string; port: number; registry: Registry; health: () => { healthy: boolean; detail: unknown } }): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (url === '/metrics') {
      opts.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
      return;
    }
    if (url === '/healthz') {
      const { healthy, detail } = opts.health();
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(detail));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new TransportError('METRICS_LISTEN', `cannot listen for /metrics on ${opts.host}:${opts.port}: ${err.message}`, false, { host: opts.host, port: opts.port }, { cause: err })));
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
