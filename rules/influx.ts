/**
 * Alert transitions to InfluxDB (influxdb/schema.ts's measurement `alerts`, influxdb/README.md): tags plant, rule,
 * meter, severity; fields state, transition, value, limit, id, count, peak, and on acknowledgement rows who (`by`) and
 * their comment (`comment`). Rows written before `peak`, `by` and `comment` existed simply lack them. Small volume (transitions, not readings): each
 * flush writes what is pending in requests of at most MAX_LINES_PER_WRITE lines; a failed write keeps its lines for
 * a later flush, up to a bound past which the oldest are dropped, counted and reported (never silently). After a
 * failure the periodic flushes back off (1 s doubling to 30 s), so that an InfluxDB that is down is not sent the
 * whole backlog every second.
 */
import { Backoff, type BackoffPolicy } from '../core/backoff.ts';
import type { InfluxConnection } from '../core/config.ts';
import { TransportError } from '../core/errors.ts';
import { createInfluxClient, InfluxError, type InfluxClient } from '../influxdb/client.ts';
import { ALERTS_MEASUREMENT, escapeKey, escapeMeasurement, quoteFieldString } from '../influxdb/schema.ts';
import type { AlertTransition } from './alerts.ts';

export function transitionLine(t: AlertTransition): string {
  const a = t.alert;
  const at = t.transition === 'cleared' ? (a.clearedAt ?? a.updatedAt) : t.transition === 'acknowledged' ? (a.ackedAt ?? a.updatedAt) : t.transition === 'raised' ? a.raisedAt : a.updatedAt;
  const fields = [`state=${quoteFieldString(a.state)}`, `transition=${quoteFieldString(t.transition)}`, `id=${quoteFieldString(a.id)}`, `count=${a.count}i`];
  if (a.value !== null) fields.push(`value=${a.value}`);
  if (a.limit !== null) fields.push(`limit=${a.limit}`);
  if (a.peak !== undefined && a.peak !== null) fields.push(`peak=${a.peak}`);
  if (t.transition === 'acknowledged') {
    if (a.ackedBy !== undefined) fields.push(`by=${quoteFieldString(a.ackedBy)}`);
    if (a.comment !== undefined) fields.push(`comment=${quoteFieldString(a.comment)}`);
  }
  // Tag keys sorted, as the line protocol reference's performance tips ask (the stored series is the same either way).
  return `${escapeMeasurement(ALERTS_MEASUREMENT)},meter=${escapeKey(a.meter)},plant=${escapeKey(a.plant)},rule=${escapeKey(a.rule)},severity=${escapeKey(a.severity)} ${fields.join(',')} ${Math.round(at)}`;
}

export interface AlertWriterStats {
  written: number;
  pending: number;
  dropped: number;
  errors: number;
}

const MAX_LINES_PER_WRITE = 5_000;
/** The periodic flushes' backoff after a failure (no jitter: one writer per rules service, not a fleet). */
const FLUSH_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: 30_000, jitter: 0 };

export class AlertWriter {
  private pending: string[] = [];
  private writing: Promise<void> | undefined;
  /** After failures: no periodic write before this (processing time). */
  private retryAt = 0;
  private readonly influx: InfluxClient;
  private readonly backoff: Backoff;
  readonly stats: AlertWriterStats = { written: 0, pending: 0, dropped: 0, errors: 0 };

  constructor(
    private readonly conn: InfluxConnection,
    private readonly onError: (err: TransportError) => void,
    private readonly maxPending = 100_000,
    flushBackoff: BackoffPolicy = FLUSH_BACKOFF,
  ) {
    this.backoff = new Backoff(flushBackoff);
    // One attempt per flush: the periodic flushes are the retries, backing off.
    this.influx = createInfluxClient(conn, { retry: { maxAttempts: 1, requestTimeoutMs: 10_000 } });
  }

  /** Creates the database when the connection's `createDatabase` is set. */
  async createDatabase(): Promise<void> {
    await this.influx.start();
  }

  push(t: AlertTransition): void {
    this.pending.push(transitionLine(t));
    if (this.pending.length > this.maxPending) {
      const drop = this.pending.length - this.maxPending;
      this.pending.splice(0, drop);
      this.stats.dropped += drop;
      this.onError(new TransportError('INFLUX_ALERTS_DROPPED', `dropped the ${drop} oldest alert rows: InfluxDB has been failing and ${this.maxPending} are waiting`, true, { url: this.conn.url }));
    }
    this.stats.pending = this.pending.length;
  }

  /**
   * Write what is pending (one request at a time). Failures keep the lines and are reported to onError. While
   * backing off after a failure only a `force`d flush (at stop) writes.
   */
  flush(force = false): Promise<void> {
    if (!force && !this.writing && Date.now() < this.retryAt) return Promise.resolve();
    this.writing ??= this.writeNow().finally(() => (this.writing = undefined));
    return this.writing;
  }

  private async writeNow(): Promise<void> {
    while (this.pending.length) {
      const lines = this.pending.slice(0, MAX_LINES_PER_WRITE);
      try {
        await this.influx.write(lines.join('\n'));
        this.pending.splice(0, lines.length);
        this.stats.written += lines.length;
        this.retryAt = 0;
        this.backoff.reset();
      } catch (err) {
        // 4xx other than a missing database will not get better by retrying: drop and say so.
        const status = err instanceof InfluxError ? err.status : undefined;
        if (status !== undefined && status >= 400 && status < 500 && status !== 404) {
          this.pending.splice(0, lines.length);
          this.stats.dropped += lines.length;
        }
        this.stats.errors++;
        this.retryAt = Date.now() + this.backoff.next();
        this.onError(err instanceof TransportError ? err : new TransportError('INFLUX_WRITE', `writing ${lines.length} alert rows failed: ${(err as Error).message}`, true, { url: this.influx.writeUrl }, { cause: err }));
        break;
      } finally {
        this.stats.pending = this.pending.length;
      }
    }
  }
}
