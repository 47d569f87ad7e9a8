/**
 * What a gateway says about itself: a health snapshot (readings/s, errors per input, queue depth, broker link)
 * published periodically on cleanstream/v1/status/{id}/health. The same figures for Prometheus are in metrics.ts,
 * loaded only when a config asks for /metrics.
 */
import type { DriverState } from './driver.ts';
import type { PublisherStats } from './publisher.ts';

export interface InputStats {
  name: string;
  type: string;
  state: DriverState;
  scans: number;
  readings: number;
  /** Readings with quality 'bad' (no value): a dead meter or a failed request. */
  badReadings: number;
  errors: number;
}

export interface GatewayStats {
  gateway: string;
  inputs: InputStats[];
  publisher: PublisherStats;
}

export interface HealthReport {
  gateway: string;
  /** ms since the epoch */
  at: number;
  uptimeS: number;
  /** Over the last interval. */
  readingsPerSecond: number;
  brokerConnected: boolean;
  queue: { batches: number; bytes: number; maxBytes: number };
  published: { batches: number; readings: number };
  droppedBatches: number;
  rejectedBatches: number;
  /** Batches lost to disk damage in the store-and-forward queue, found when it was opened (the log names file, bytes, ids). */
  lostBatches: number;
  inputs: { name: string; type: string; state: DriverState; readings: number; badReadings: number; errors: number }[];
  /** Process figures, so a fleet view shows a leaking or busy gateway. */
  rssBytes: number;
  cpuPercent: number;
}

/** Turns successive stats into reports; rates are over the time since the previous report. */
export class HealthReporter {
  private last: { at: number; readings: number; cpuUs: number };

  constructor(
    private readonly startedAt: number,
    private readonly now: () => number = Date.now,
  ) {
    this.last = { at: startedAt, readings: 0, cpuUs: cpuMicros() };
  }

  report(stats: GatewayStats): HealthReport {
    const at = this.now();
    const readings = stats.inputs.reduce((sum, i) => sum + i.readings, 0);
    const cpuUs = cpuMicros();
    const seconds = Math.max((at - this.last.at) / 1000, 1e-3);
    const report: HealthReport = {
      gateway: stats.gateway,
      at,
      uptimeS: Math.round((at - this.startedAt) / 1000),
      readingsPerSecond: Math.round(((readings - this.last.readings) / seconds) * 10) / 10,
      brokerConnected: stats.publisher.connected,
      queue: { batches: stats.publisher.queuedBatches, bytes: stats.publisher.queueBytes, maxBytes: stats.publisher.queueMaxBytes },
      published: { batches: stats.publisher.batchesPublished, readings: stats.publisher.readingsPublished },
      droppedBatches: stats.publisher.droppedBatches,
      rejectedBatches: stats.publisher.rejectedBatches,
      lostBatches: stats.publisher.lostBatches,
      inputs: stats.inputs.map(({ name, type, state, readings: r, badReadings, errors }) => ({ name, type, state, readings: r, badReadings, errors })),
      rssBytes: process.memoryUsage.rss(),
      cpuPercent: Math.round(((cpuUs - this.last.cpuUs) / 1e6 / seconds) * 1000) / 10,
    };
    this.last = { at, readings, cpuUs };
    return report;
  }
}

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}
