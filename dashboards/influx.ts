/**
 * A read-only InfluxQL client for the v1 HTTP API (`GET /query`, `epoch=ms`), and the quoting that keeps query text
 * built on the server from parameters: identifiers in double quotes, string literals in single quotes, each with
 * backslash escapes (InfluxQL spec, "Identifiers" and "Strings").
 */
import { TransportError } from '../core/errors.ts';

export interface InfluxQueryConnection {
  url: string;
  database: string;
  username?: string;
  password?: string;
  /** InfluxDB 2.x/3.x: sent as `Authorization: Token <token>`. */
  token?: string;
}

export interface InfluxSeries {
  name: string;
  tags: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

interface QueryResponse {
  results?: { statement_id: number; series?: Partial<InfluxSeries>[]; error?: string }[];
  error?: string;
}

export function quoteIdentifier(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function quoteString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** `"tag" = 'a' OR "tag" = 'b'`, parenthesised; InfluxQL has no IN. */
export function tagIn(tag: string, values: readonly string[]): string {
  if (values.length === 0) throw new Error(`tagIn(${tag}) needs at least one value`);
  return `(${values.map((v) => `${quoteIdentifier(tag)} = ${quoteString(v)}`).join(' OR ')})`;
}

/** Rows of a series as objects (column → value), tags merged in. */
export function seriesRows(series: InfluxSeries): Record<string, unknown>[] {
  return series.values.map((values) => {
    const row: Record<string, unknown> = { ...series.tags };
    series.columns.forEach((column, i) => (row[column] = values[i]));
    return row;
  });
}

export class InfluxQueryClient {
  private readonly base: string;

  constructor(
    private readonly connection: InfluxQueryConnection,
    private readonly timeoutMs = 10_000,
  ) {
    this.base = connection.url.replace(/\/+$/, '');
  }

  private headers(): Record<string, string> {
    const { token, username, password } = this.connection;
    if (token) return { authorization: `Token ${token}` };
    if (username !== undefined) return { authorization: `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}` };
    return {};
  }

  /** Run statements in one request; returns each statement's series, in order. A statement's error fails the whole call. */
  async query(statements: readonly string[]): Promise<InfluxSeries[][]> {
    const params = new URLSearchParams({ db: this.connection.database, q: statements.join(';\n'), epoch: 'ms' });
    const where = `${this.base}/query (database ${this.connection.database})`;
    let res: Response;
    try {
      res = await fetch(`${this.base}/query?${params}`, { headers: this.headers(), signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new TransportError('INFLUX_UNREACHABLE', `InfluxDB at ${where} did not answer: ${(err as Error).message}`, true, { url: this.base }, { cause: err });
    }
    const text = await res.text();
    let body: QueryResponse;
    try {
      body = JSON.parse(text) as QueryResponse;
    } catch {
      throw new TransportError('INFLUX_QUERY', `InfluxDB at ${where} answered ${res.status} with non-JSON: ${text.slice(0, 200)}`, res.status >= 500, { url: this.base, status: res.status });
    }
    const error = body.error ?? body.results?.find((r) => r.error)?.error;
    if (!res.ok || error) {
      throw new TransportError('INFLUX_QUERY', `InfluxDB at ${where} refused the query (${res.status}): ${error ?? text.slice(0, 200)}`, res.status >= 500, { url: this.base, status: res.status });
    }
    return statements.map((_, i) => {
      const result = body.results?.find((r) => r.statement_id === i);
      return (result?.series ?? []).map((s) => ({ name: s.name ?? '', tags: s.tags ?? {}, columns: s.columns ?? [], values: s.values ?? [] }));
    });
  }

  /** Whether `/ping` answers 204 (InfluxDB 1.x and 2.x). */
  async ping(timeoutMs = 2000): Promise<boolean> {
    try {
      const res = await fetch(`${this.base}/ping`, { headers: this.headers(), signal: AbortSignal.timeout(timeoutMs) });
      await res.arrayBuffer();
      return res.status === 204 || res.ok;
    } catch {
      return false;
    }
  }
}
