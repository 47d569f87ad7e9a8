/**
 * Alert transitions to InfluxDB's v1 `/write` (line protocol, precision ms): measurement `alerts`, tags plant, rule,
 * meter, severity; fields state, transition, value, limit, id, count, peak, and on acknowledgement rows who (`by`) and
 * their comment (`comment`). Rows written before `peak`, `by` and `comment` existed simply lack them. Small volume (transitions, not readings): each
 * flush writes what is pending in requests of at most MAX_LINES_PER_WRITE lines; a failed write keeps its lines for
 * a later flush, up to a bound past which the oldest are dropped, counted and reported (never silently). After a
 * failure the periodic flushes back off (1 s doubling to 30 s), so that an InfluxDB that is down is not sent the
 * whole backlog every second.
 */
import { TransportError } from '../core/errors.ts';
import type { InfluxConnection } from '../core/config.ts';
import type { AlertTransition } from './alerts.ts';

const escapeTag = (s: string): string => s.replace(/[,= \\]/g, (c) => `\\${c}`);
const escapeString = (s: string): string => s.replace(/["\\]/g, (c) => `\\${c}`);

export function transitionLine(t: AlertTransition): string {
  const a = t.alert;
  const at = t.transition === 'cleared' ? (a.clearedAt ?? a.updatedAt) : t.transition === 'acknowledged' ? (a.ackedAt ?? a.updatedAt) : t.transition === 'raised' ? a.raisedAt : a.updatedAt;
  const fields = [`state="${a.state}"`, `transition="${t.transition}"`, `id="${escapeString(a.id)}"`, `count=${a.count}i`];
  if (a.value !== null) fields.push(`value=${a.value}`);
  if (a.limit !== null) fields.push(`limit=${a.limit}`);
  if (a.peak !== undefined && a.peak !== null) fields.push(`peak=${a.peak}`);
  if (t.transition === 'acknowledged') {
    if (a.ackedBy !== undefined) fields.push(`by="${escapeString(a.ackedBy)}"`);
    if (a.comment !== undefined) fields.push(`comment="${escapeString(a.comment)}"`);
  }
  return `alerts,plant=${escapeTag(a.plant)},rule=${escapeTag(a.rule)},meter=${escapeTag(a.meter)},severity=${a.severity} ${fields.join(',')} ${Math.round(at)}`;
}

export interface AlertWriterStats {
  written: number;
  pending: number;
  dropped: number;
  errors: number;
}

const MAX_LINES_PER_WRITE = 5_000;
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;

export class AlertWriter {
  private pending: string[] = [];
  private writing: Promise<void> | undefined;
  /** After failures: no periodic write before this (processing time), and the wait after the next failure. */
  private retryAt = 0;
  private retryMs = RETRY_FIRST_MS;
  readonly stats: AlertWriterStats = { written: 0, pending: 0, dropped: 0, errors: 0 };

  constructor(
    private readonly conn: InfluxConnection,
    private readonly onError: (err: TransportError) => void,
    private readonly maxPending = 100_000,
  ) {}

  private headers(): Record<string, string> {
    const h: Record<string, string> = {};
    if (this.conn.token) h.authorization = `Token ${this.conn.token}`;
    else if (this.conn.username !== undefined) h.authorization = `Basic ${Buffer.from(`${this.conn.username}:${this.conn.password ?? ''}`).toString('base64')}`;
    return h;
  }

  async createDatabase(): Promise<void> {
    if (!this.conn.createDatabase) return;
    const body = new URLSearchParams({ q: `CREATE DATABASE "${this.conn.database.replace(/"/g, '\\"')}"` });
    const res = await fetch(new URL('/query', this.conn.url), { method: 'POST', body, headers: this.headers(), signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new TransportError('INFLUX_CREATE_DB', `CREATE DATABASE ${this.conn.database} failed: HTTP ${res.status} ${await res.text()}`, res.status >= 500, { url: this.conn.url });
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
      const url = new URL('/write', this.conn.url);
      url.searchParams.set('db', this.conn.database);
      url.searchParams.set('precision', 'ms');
      if (this.conn.retentionPolicy) url.searchParams.set('rp', this.conn.retentionPolicy);
      try {
        const res = await fetch(url, { method: 'POST', body: lines.join('\n'), headers: this.headers(), signal: AbortSignal.timeout(10_000) });
        if (!res.ok) {
          const text = await res.text();
          // 4xx other than a missing database will not get better by retrying: drop and say so.
          if (res.status >= 400 && res.status < 500 && res.status !== 404) {
            this.pending.splice(0, lines.length);
            this.stats.dropped += lines.length;
          }
          throw new TransportError('INFLUX_WRITE', `writing ${lines.length} alert rows failed: HTTP ${res.status} ${text.trim()}`, res.status >= 500 || res.status === 404, { url: url.toString() });
        }
        this.pending.splice(0, lines.length);
        this.stats.written += lines.length;
        this.retryAt = 0;
        this.retryMs = RETRY_FIRST_MS;
      } catch (err) {
        this.stats.errors++;
        this.retryAt = Date.now() + this.retryMs;
        this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
        this.onError(err instanceof TransportError ? err : new TransportError('INFLUX_WRITE', `writing alert rows failed: ${(err as Error).message}`, true, { url: url.toString() }, { cause: err }));
        break;
      } finally {
        this.stats.pending = this.pending.length;
      }
    }
  }
}

export interface InfluxSeries {
  name?: string;
  tags?: Record<string, string>;
  columns: string[];
  values?: unknown[][];
}

/** A small InfluxDB v1 client for the periodic jobs (baselines, reductions): InfluxQL reads, line-protocol writes. */
export class InfluxClient {
  constructor(private readonly conn: InfluxConnection) {}

  private headers(): Record<string, string> {
    const h: Record<string, string> = {};
    if (this.conn.token) h.authorization = `Token ${this.conn.token}`;
    else if (this.conn.username !== undefined) h.authorization = `Basic ${Buffer.from(`${this.conn.username}:${this.conn.password ?? ''}`).toString('base64')}`;
    return h;
  }

  /** The series of the first statement's result (epoch ms). */
  async query(q: string): Promise<InfluxSeries[]> {
    const url = new URL('/query', this.conn.url);
    url.searchParams.set('db', this.conn.database);
    url.searchParams.set('epoch', 'ms');
    url.searchParams.set('q', q);
    if (this.conn.retentionPolicy) url.searchParams.set('rp', this.conn.retentionPolicy);
    const res = await fetch(url, { headers: this.headers(), signal: AbortSignal.timeout(30_000) });
    const body = (await res.json().catch(() => ({}))) as { results?: { series?: InfluxSeries[]; error?: string }[]; error?: string };
    const err = body.error ?? body.results?.[0]?.error;
    if (!res.ok || err) throw new TransportError('INFLUX_QUERY', `InfluxQL failed (HTTP ${res.status}): ${err ?? 'no result'}`, res.status >= 500, { url: this.conn.url, q });
    return body.results?.[0]?.series ?? [];
  }

  async write(lines: readonly string[]): Promise<void> {
    if (!lines.length) return;
    const url = new URL('/write', this.conn.url);
    url.searchParams.set('db', this.conn.database);
    url.searchParams.set('precision', 'ms');
    if (this.conn.retentionPolicy) url.searchParams.set('rp', this.conn.retentionPolicy);
    const res = await fetch(url, { method: 'POST', body: lines.join('\n'), headers: this.headers(), signal: AbortSignal.timeout(30_000) });
    if (!res.ok) throw new TransportError('INFLUX_WRITE', `writing ${lines.length} rows failed: HTTP ${res.status} ${(await res.text()).trim()}`, res.status >= 500, { url: this.conn.url });
  }
}
