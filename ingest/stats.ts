/**
 * What ingest counts: the shape of `stats()` (read by tests, `/metrics` and `/readyz`) and the counters its modules
 * add to. Counters are totals since start; the gauges (pending lines, unacknowledged messages, connection, spool) are
 * read when a snapshot is taken.
 */
import type { DiskQueueDamage } from '../core/disk-queue.ts';

export interface SpoolStats {
  /** Bytes on disk (whole segment files). */
  bytes: number;
  /** Batches waiting to be replayed. */
  batches: number;
  maxBytes: number;
  /** Above the warning ratio of maxBytes. */
  warning: boolean;
  /** The last append found the spool full: ingest is holding back (backpressure). */
  full: boolean;
  /** Spooled batches being written to InfluxDB now (at most `write.concurrency`). */
  replayWritesInFlight: number;
  /** The most spooled batches written at once since start. */
  replayPeakWritesInFlight: number;
  /** Batches lost to disk damage found when the spool was opened. */
  lostBatches: number;
  /** What the spool's recovery found damaged and skipped on opening (file, byte range, ids; empty when nothing). */
  damage: readonly DiskQueueDamage[];
}

export interface IngestStats {
  receivedMessages: number;
  receivedReadings: number;
  /** Readings of messages written straight to InfluxDB (accepted or refused line by line). */
  writtenReadings: number;
  /** Lines InfluxDB accepted, directly or from the spool. */
  writtenLines: number;
  /** Readings of messages made durable in the spool (and then acknowledged). */
  spooledReadings: number;
  /** Spooled lines replayed to InfluxDB (accepted or dead-lettered). */
  replayedReadings: number;
  /** Lines InfluxDB refused (400) and that were dead-lettered with its reason. */
  refusedLines: number;
  /** Load lines (measurement `loads`) handed to the writer. */
  loadLines: number;
  /** Readings that came after their load interval was computed (left out of the loads). */
  lateLoadReadings: number;
  /** Dead-lettered messages by reason (validation reasons, `write_rejected`, `internal_error`). */
  rejected: Record<string, number>;
  /**
   * Readings accepted with a reason for their quality, by reason: `out_of_range` (outside the quantity's physical
   * range: stored as bad without a value, core/reading.ts) and whatever gateways give (`no_value`, ...).
   */
  flaggedReadings: Record<string, number>;
  /** Sum of `rejected`. */
  rejectedMessages: number;
  /** Writes that failed (each failed batch attempt the writer gave up on, and each refused batch). */
  writeErrors: number;
  lastWriteLatencyMs: number | undefined;
  /** Lines accepted and not yet written. */
  pendingLines: number;
  /** Messages received on the current connection and not acknowledged yet. */
  unackedMessages: number;
  /** Messages handed to the sink and not yet acknowledged nor given up (a dead letter the broker did not confirm). */
  pendingMessages: number;
  connected: boolean;
  /** Whether ingest is holding back from reading the broker (backpressure). */
  paused: boolean;
  /** Undefined when no spool is configured. */
  spool: SpoolStats | undefined;
}

/** The totals ingest's modules count into; the rest of IngestStats is read at snapshot time. */
export type IngestCounters = Omit<IngestStats, 'pendingLines' | 'unackedMessages' | 'pendingMessages' | 'connected' | 'paused' | 'spool'>;

export function newCounters(): IngestCounters {
  return {
    receivedMessages: 0,
    receivedReadings: 0,
    writtenReadings: 0,
    writtenLines: 0,
    spooledReadings: 0,
    replayedReadings: 0,
    refusedLines: 0,
    loadLines: 0,
    lateLoadReadings: 0,
    rejected: {},
    flaggedReadings: {},
    rejectedMessages: 0,
    writeErrors: 0,
    lastWriteLatencyMs: undefined,
  };
}

/** A copy whose records the caller may keep. */
export function copyCounters(c: IngestCounters): IngestCounters {
  return { ...c, rejected: { ...c.rejected }, flaggedReadings: { ...c.flaggedReadings } };
}

/** One dead-lettered message (or topic run of refused lines) under `reason`. */
export function countRejected(c: IngestCounters, reason: string): void {
  c.rejected[reason] = (c.rejected[reason] ?? 0) + 1;
  c.rejectedMessages++;
}

/** Distinct reasons counted in `flaggedReadings` before the rest are counted as `other`. */
const MAX_FLAG_REASONS = 32;

export function countFlagged(c: IngestCounters, reason: string): void {
  const flagged = c.flaggedReadings;
  // Gateways name their own reasons: bound the metric's label values.
  const key = Object.hasOwn(flagged, reason) || Object.keys(flagged).length < MAX_FLAG_REASONS ? reason : 'other';
  flagged[key] = (flagged[key] ?? 0) + 1;
}
