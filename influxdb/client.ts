/**
 * The one HTTP client of the project for any server that speaks the InfluxDB v1 API: InfluxDB 1.x, 2.x (v1
 * compatibility, DBRP mapping + token) and 3.x (database + token). Ingest, the rules service (alert rows, history
 * jobs), the dashboards and the tests all talk to InfluxDB through it.
 *
 *   POST /write?db=<database>&precision=ms[&rp=<retention policy>]   body: lines (optionally gzipped) → 204
 *   GET  /query?db=<database>&q=<statements>&epoch=ms[&rp=…]          reads                           → 200 JSON
 *   POST /query  q=<statement>                                        changes (CREATE DATABASE, CQs…) → 200 JSON
 *   GET  /ping                                                                                         → 204
 *
 * Writes: network errors, 5xx, 429 and other unexpected statuses are retried with core/backoff.ts's backoff (full
 * jitter), waiting at least what a Retry-After header asks. A 404 "database not found" creates the database (when
 * `createDatabase` allows it) and writes again. A 400 means the server refused the data itself (parse error, field
 * type conflict; InfluxDB 1.x may have written the other points of the batch, "partial write"): retrying cannot
 * help, so it is returned at once as `kind: 'rejected'`. Queries are not retried: their callers (an API request, a
 * periodic job) decide.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { backoffDelay, parseRetryAfter, sleep, type BackoffPolicy } from '../core/backoff.ts';
import { TransportError, type ErrorCode } from '../core/errors.ts';
import { quoteIdentifier } from './schema.ts';

/** Where InfluxDB is (core/config.ts's `influx:` section, or the dashboard's flags, which have no write settings). */
export interface InfluxEndpoint {
  /** Base URL of the v1 API. */
  url: string;
  database: string;
  retentionPolicy?: string;
  username?: string;
  password?: string;
  /** InfluxDB 2.x/3.x: sent as `Authorization: Token <token>`. */
  token?: string;
  /** Create the database at start() and when a write finds it missing (InfluxDB 1.x). */
  createDatabase?: boolean;
}

export type InfluxFailureKind =
  /** 400, or a query the server answered with an error: retrying the same request cannot succeed. */
  | 'rejected'
  /** 401/403: credentials or permissions; retrying may help once an operator fixes them. */
  | 'unauthorized'
  /** 404 and the database may not be created by us. */
  | 'missing_database'
  /** Network errors, timeouts, 5xx, 429 and other statuses, after the last attempt. */
  | 'unavailable'
  /** The caller aborted. */
  | 'aborted';

/**
 * A failed write or query against InfluxDB, with the URL (credentials removed), status and the server's message.
 * Its code is `INFLUX_<KIND>`, except for queries: `INFLUX_UNREACHABLE` (no answer) and `INFLUX_QUERY` (the server
 * refused the query or answered something that is not InfluxDB's JSON), which the API maps to 503 and 502.
 */
export class InfluxError extends TransportError {
  readonly kind: InfluxFailureKind;
  readonly status: number | undefined;
  readonly body: string | undefined;

  constructor(kind: InfluxFailureKind, message: string, context: { url: string; status?: number; body?: string; attempts?: number }, options?: { cause?: unknown; code?: ErrorCode }) {
    super(options?.code ?? `INFLUX_${kind.toUpperCase() as Uppercase<InfluxFailureKind>}`, message, kind !== 'rejected' && kind !== 'aborted', context, options);
    this.kind = kind;
    this.status = context.status;
    this.body = context.body;
  }
}

export interface RetryOptions {
  /** Attempts per write, the first included (default 6). Infinity retries until it succeeds or is aborted. */
  maxAttempts?: number;
  /** Backoff ceiling before the first retry, doubled per retry (default 100 ms). */
  initialDelayMs?: number;
  /** Largest wait between attempts, also the cap on Retry-After (default 30 s). */
  maxDelayMs?: number;
  /** Per-request timeout of writes (default 30 s). */
  requestTimeoutMs?: number;
}

export interface InfluxClientOptions {
  retry?: RetryOptions;
  /**
   * Compress write bodies (`Content-Encoding: gzip`, which InfluxDB 1.x, 2.x and 3.x accept) at this zlib level
   * (1 fastest … 9 smallest); 0 or undefined sends them as they are. Compression runs on libuv's thread pool.
   */
  gzipLevel?: number;
  /** Per-request timeout of queries (default 10 s). */
  queryTimeoutMs?: number;
  /** Injected for tests: the random source for jitter (default Math.random). */
  random?: () => number;
}

/** One series of a query's result; tags are those of GROUP BY. */
export interface InfluxSeries {
  name: string;
  tags: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

export interface InfluxClient {
  /** The write endpoint with its query string, for logs (no credentials: they travel in headers). */
  readonly writeUrl: string;
  /** Creates the database when `createDatabase` is set; call once before writing. */
  start(signal?: AbortSignal): Promise<void>;
  /**
   * Write lines (joined by `\n`), as a string or as their UTF-8 bytes (a spooled batch is sent as read, without a
   * round trip through a string). Resolves when the server answered 204; rejects with InfluxError.
   */
  write(body: string | Buffer, signal?: AbortSignal): Promise<void>;
  /** Run one InfluxQL statement that changes things (POST /query); rejects with InfluxError carrying the server's message. */
  run(statement: string, signal?: AbortSignal): Promise<void>;
  /** Run statements in one request (epoch ms); each statement's series, in order. A statement's error fails the whole call. */
  query(statements: readonly string[], signal?: AbortSignal): Promise<InfluxSeries[][]>;
  /** The series of one statement. */
  queryOne(statement: string, signal?: AbortSignal): Promise<InfluxSeries[]>;
  /** Whether `/ping` answers (204 on InfluxDB 1.x and 2.x). */
  ping(timeoutMs?: number): Promise<boolean>;
}

const gzipAsync = promisify(gzipCallback);

/** A write body as it goes on the wire. */
interface WireBody {
  bytes: string | Buffer;
  gzipped: boolean;
}

interface HttpAnswer {
  status: number;
  body: string;
  retryAfterMs: number | undefined;
}

interface QueryResponse {
  results?: { statement_id?: number; series?: Partial<InfluxSeries>[]; error?: string }[];
  error?: string;
}

/** The message in an InfluxDB error body (`{"error": "..."}` in 1.x, `{"message": "..."}` in 2.x), else the text. */
export function serverMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown };
    const msg = parsed.error ?? parsed.message;
    if (typeof msg === 'string') return msg.trim();
  } catch {
    // not JSON: use the text as it is
  }
  return body.slice(0, 500).trim();
}

/** Rows of a series as objects (column → value), tags merged in. */
export function seriesRows(series: InfluxSeries): Record<string, unknown>[] {
  return series.values.map((values) => {
    const row: Record<string, unknown> = { ...series.tags };
    series.columns.forEach((column, i) => (row[column] = values[i]));
    return row;
  });
}

export function createInfluxClient(endpoint: InfluxEndpoint, options: InfluxClientOptions = {}): InfluxClient {
  const maxAttempts = options.retry?.maxAttempts ?? 6;
  const backoff: BackoffPolicy = { initialMs: options.retry?.initialDelayMs ?? 100, maxMs: options.retry?.maxDelayMs ?? 30_000, jitter: 1 };
  const requestTimeoutMs = options.retry?.requestTimeoutMs ?? 30_000;
  const queryTimeoutMs = options.queryTimeoutMs ?? 10_000;
  const random = options.random ?? Math.random;

  const base = endpoint.url.replace(/\/+$/, '');
  const params = new URLSearchParams({ db: endpoint.database, precision: 'ms' });
  if (endpoint.retentionPolicy) params.set('rp', endpoint.retentionPolicy);
  const writeUrl = `${base}/write?${params}`;
  const queryUrl = `${base}/query`;

  const auth: Record<string, string> = {};
  if (endpoint.token) auth.Authorization = `Token ${endpoint.token}`;
  else if (endpoint.username !== undefined) {
    auth.Authorization = `Basic ${Buffer.from(`${endpoint.username}:${endpoint.password ?? ''}`).toString('base64')}`;
  }
  const headers: Record<string, string> = { ...auth, 'Content-Type': 'text/plain; charset=utf-8' };

  const gzipLevel = options.gzipLevel ?? 0;
  const gzipHeaders = { ...headers, 'Content-Encoding': 'gzip' };

  async function request(url: string, body: WireBody | URLSearchParams, signal: AbortSignal | undefined): Promise<HttpAnswer> {
    const timeout = AbortSignal.timeout(requestTimeoutMs);
    const form = body instanceof URLSearchParams;
    const res = await fetch(url, {
      method: 'POST',
      headers: form ? { ...headers, 'Content-Type': 'application/x-www-form-urlencoded' } : body.gzipped ? gzipHeaders : headers,
      body: form ? body : body.bytes,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    const text = res.status === 204 ? '' : await res.text();
    return { status: res.status, body: text, retryAfterMs: parseRetryAfter(res.headers.get('retry-after')) };
  }

  async function run(q: string, signal?: AbortSignal): Promise<void> {
    let answer: HttpAnswer;
    try {
      answer = await request(queryUrl, new URLSearchParams({ q }), signal);
    } catch (err) {
      if (signal?.aborted) throw new InfluxError('aborted', `${q} was aborted`, { url: queryUrl }, { cause: err });
      throw new InfluxError('unavailable', `cannot reach ${queryUrl} for ${q}: ${(err as Error).message}`, { url: queryUrl }, { cause: err });
    }
    if (answer.status >= 200 && answer.status < 300) {
      // InfluxDB answers 200 with {"results":[{"error":...}]} when the statement fails.
      if (!/"error"/.test(answer.body)) return;
      const inner = /"error"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(answer.body)?.[1];
      throw new InfluxError('rejected', `${q} failed: ${inner ?? answer.body}`, { url: queryUrl, status: answer.status, body: answer.body });
    }
    const kind: InfluxFailureKind = answer.status === 401 || answer.status === 403 ? 'unauthorized' : answer.status === 400 ? 'rejected' : 'unavailable';
    throw new InfluxError(kind, `${q} answered ${answer.status}: ${serverMessage(answer.body)}`, { url: queryUrl, status: answer.status, body: answer.body });
  }

  const createDatabase = (signal?: AbortSignal): Promise<void> => run(`CREATE DATABASE ${quoteIdentifier(endpoint.database)}`, signal);

  /** One POST: resolves undefined on success, a retryable failure to try again, or throws a final one. */
  async function attemptWrite(body: WireBody, attempt: number, signal?: AbortSignal): Promise<{ error: InfluxError; retryAfterMs?: number; databaseMissing?: boolean } | undefined> {
    let answer: HttpAnswer;
    try {
      answer = await request(writeUrl, body, signal);
    } catch (err) {
      if (signal?.aborted) throw new InfluxError('aborted', `write to ${writeUrl} was aborted`, { url: writeUrl }, { cause: err });
      const cause = (err as Error & { cause?: Error }).cause;
      return { error: new InfluxError('unavailable', `cannot reach ${writeUrl}: ${cause?.message ?? (err as Error).message}`, { url: writeUrl, attempts: attempt }, { cause: err }) };
    }
    if (answer.status === 204 || answer.status === 200) return undefined;
    const message = serverMessage(answer.body);
    const context = { url: writeUrl, status: answer.status, body: answer.body, attempts: attempt };
    if (answer.status === 400) throw new InfluxError('rejected', `InfluxDB refused the write (400): ${message}`, context);
    if (answer.status === 401 || answer.status === 403) throw new InfluxError('unauthorized', `InfluxDB refused the credentials (${answer.status}): ${message}`, context);
    if (answer.status === 404 && /database not found/i.test(message)) {
      const error = new InfluxError('missing_database', `database ${endpoint.database} does not exist: ${message}`, context);
      if (!endpoint.createDatabase) throw error;
      return { error, databaseMissing: true };
    }
    return { error: new InfluxError('unavailable', `InfluxDB answered ${answer.status}: ${message}`, context), retryAfterMs: answer.retryAfterMs };
  }

  async function write(lines: string | Buffer, signal?: AbortSignal): Promise<void> {
    // Compressed once for all attempts.
    const body: WireBody = gzipLevel > 0 ? { bytes: await gzipAsync(lines, { level: gzipLevel }), gzipped: true } : { bytes: lines, gzipped: false };
    let lastError: InfluxError | undefined;
    let triedCreating = false;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const failure = await attemptWrite(body, attempt, signal);
      if (!failure) return;
      lastError = failure.error;
      if (failure.databaseMissing && !triedCreating) {
        // Creating the database and writing again is part of this attempt, not a retry: no wait.
        triedCreating = true;
        try {
          await createDatabase(signal);
          attempt--;
          continue;
        } catch (err) {
          if (!(err instanceof InfluxError) || err.kind !== 'unavailable') throw err;
          lastError = err;
        }
      }
      if (attempt >= maxAttempts) break;
      try {
        await sleep(backoffDelay(backoff, attempt, random, failure.retryAfterMs), signal);
      } catch (err) {
        throw new InfluxError('aborted', `write to ${writeUrl} was aborted`, { url: writeUrl }, { cause: err });
      }
    }
    throw lastError ?? new InfluxError('unavailable', `write to ${writeUrl} failed`, { url: writeUrl });
  }

  async function query(statements: readonly string[], signal?: AbortSignal): Promise<InfluxSeries[][]> {
    const search = new URLSearchParams({ db: endpoint.database, q: statements.join(';\n'), epoch: 'ms' });
    if (endpoint.retentionPolicy) search.set('rp', endpoint.retentionPolicy);
    const where = `${queryUrl} (database ${endpoint.database})`;
    const timeout = AbortSignal.timeout(queryTimeoutMs);
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${queryUrl}?${search}`, { headers: auth, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw new InfluxError('aborted', `query to ${where} was aborted`, { url: base }, { cause: err });
      throw new InfluxError('unavailable', `InfluxDB at ${where} did not answer: ${(err as Error).message}`, { url: base }, { cause: err, code: 'INFLUX_UNREACHABLE' });
    }
    const refused = (detail: string): InfluxError =>
      new InfluxError(res.status >= 500 ? 'unavailable' : res.status === 401 || res.status === 403 ? 'unauthorized' : 'rejected', detail, { url: base, status: res.status }, { code: 'INFLUX_QUERY' });
    let body: QueryResponse;
    try {
      body = JSON.parse(text) as QueryResponse;
    } catch {
      throw refused(`InfluxDB at ${where} answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
    }
    const error = body.error ?? body.results?.find((r) => r.error)?.error;
    if (!res.ok || error) throw refused(`InfluxDB at ${where} refused the query (${res.status}): ${error ?? text.slice(0, 200)}`);
    return statements.map((_, i) => {
      const result = body.results?.find((r) => (r.statement_id ?? 0) === i);
      return (result?.series ?? []).map((s) => ({ name: s.name ?? '', tags: s.tags ?? {}, columns: s.columns ?? [], values: s.values ?? [] }));
    });
  }

  async function ping(timeoutMs = 2000): Promise<boolean> {
    try {
      const res = await fetch(`${base}/ping`, { headers: auth, signal: AbortSignal.timeout(timeoutMs) });
      await res.arrayBuffer();
      return res.status === 204 || res.ok;
    } catch {
      return false;
    }
  }

  return {
    writeUrl,
    async start(signal?: AbortSignal) {
      if (endpoint.createDatabase) await createDatabase(signal);
    },
    write,
    run,
    query,
    async queryOne(statement: string, signal?: AbortSignal) {
      return (await query([statement], signal))[0]!;
    },
    ping,
  };
}
