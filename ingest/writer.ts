/**
 * Writes line protocol to any server that speaks the InfluxDB v1 HTTP API: InfluxDB 1.x, 2.x (v1 compatibility,
 * DBRP mapping + token) and 3.x (database + token).
 *
 *   POST /write?db=<database>&precision=ms[&rp=<retention policy>]   body: lines   → 204 on success
 *
 * Network errors, 5xx and 429 are retried with exponential backoff and full jitter, waiting at least what a
 * Retry-After header asks. A 404 "database not found" creates the database (when allowed) and retries. A 400 means
 * the server refused the data itself (parse error, field type conflict; InfluxDB 1.x may have written the other
 * points of the batch, "partial write"): retrying cannot help, so it is returned at once as `kind: 'rejected'`.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { InfluxConnection } from '../core/config.ts';
import { TransportError } from '../core/errors.ts';

export type WriteFailureKind =
  /** 400: the server refused the data; retrying the same body cannot succeed. */
  | 'rejected'
  /** 401/403: credentials or permissions; retrying may help once an operator fixes them. */
  | 'unauthorized'
  /** 404 and the database may not be created by us. */
  | 'missing_database'
  /** Network errors, timeouts, 5xx, 429 and other statuses, after the last attempt. */
  | 'unavailable'
  /** The caller aborted. */
  | 'aborted';

/** A failed write or query against InfluxDB, with the URL (credentials removed), status and the server's message. */
export class InfluxWriteError extends TransportError {
  readonly kind: WriteFailureKind;
  readonly status: number | undefined;
  readonly body: string | undefined;

  constructor(kind: WriteFailureKind, message: string, context: { url: string; status?: number; body?: string; attempts?: number }, options?: { cause?: unknown }) {
    super(`INFLUX_${kind.toUpperCase() as Uppercase<WriteFailureKind>}`, message, kind !== 'rejected' && kind !== 'aborted', context, options);
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
  /** Per-request timeout (default 30 s). */
  requestTimeoutMs?: number;
}

export interface WriterOptions {
  retry?: RetryOptions;
  /**
   * Compress write bodies (`Content-Encoding: gzip`, which InfluxDB 1.x, 2.x and 3.x accept) at this zlib level
   * (1 fastest … 9 smallest); 0 or undefined sends them as they are. Compression runs on libuv's thread pool.
   */
  gzipLevel?: number;
  /** Injected for tests: the random source for jitter (default Math.random). */
  random?: () => number;
}

export interface InfluxWriter {
  /** The write endpoint with its query string, for logs (no credentials: they travel in headers). */
  readonly writeUrl: string;
  /** Creates the database when `createDatabase` is set; call once before writing. */
  start(signal?: AbortSignal): Promise<void>;
  /**
   * Write lines (joined by `\n`), as a string or as their UTF-8 bytes (a spooled batch is sent as read, without a
   * round trip through a string). Resolves when the server answered 204; rejects with InfluxWriteError.
   */
  write(body: string | Buffer, signal?: AbortSignal): Promise<void>;
  /** Run one InfluxQL statement that changes things (POST /query); rejects with InfluxWriteError carrying the server's message. */
  run(statement: string, signal?: AbortSignal): Promise<void>;
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

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The wait before retry `retry` (1-based): full jitter over an exponential ceiling, never less than Retry-After. */
export function backoffDelay(retry: number, initialDelayMs: number, maxDelayMs: number, retryAfterMs: number | undefined, random: () => number): number {
  const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** (retry - 1));
  const jittered = Math.round(ceiling * random());
  return retryAfterMs === undefined ? jittered : Math.min(maxDelayMs, Math.max(jittered, retryAfterMs));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
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

/** InfluxQL identifier quoting: double quotes with `"` and `\` escaped. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/["\\]/g, '\\$&')}"`;
}

export function createInfluxWriter(connection: InfluxConnection, options: WriterOptions = {}): InfluxWriter {
  const maxAttempts = options.retry?.maxAttempts ?? 6;
  const initialDelayMs = options.retry?.initialDelayMs ?? 100;
  const maxDelayMs = options.retry?.maxDelayMs ?? 30_000;
  const requestTimeoutMs = options.retry?.requestTimeoutMs ?? 30_000;
  const random = options.random ?? Math.random;

  const base = connection.url.replace(/\/+$/, '');
  const params = new URLSearchParams({ db: connection.database, precision: 'ms' });
  if (connection.retentionPolicy) params.set('rp', connection.retentionPolicy);
  const writeUrl = `${base}/write?${params}`;
  const queryUrl = `${base}/query`;

  const headers: Record<string, string> = { 'Content-Type': 'text/plain; charset=utf-8' };
  if (connection.token) headers.Authorization = `Token ${connection.token}`;
  else if (connection.username !== undefined) {
    headers.Authorization = `Basic ${Buffer.from(`${connection.username}:${connection.password ?? ''}`).toString('base64')}`;
  }

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
      if (signal?.aborted) throw new InfluxWriteError('aborted', `${q} was aborted`, { url: queryUrl }, { cause: err });
      throw new InfluxWriteError('unavailable', `cannot reach ${queryUrl} for ${q}: ${(err as Error).message}`, { url: queryUrl }, { cause: err });
    }
    if (answer.status >= 200 && answer.status < 300) {
      // InfluxDB answers 200 with {"results":[{"error":...}]} when the statement fails.
      if (!/"error"/.test(answer.body)) return;
      const inner = /"error"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(answer.body)?.[1];
      throw new InfluxWriteError('rejected', `${q} failed: ${inner ?? answer.body}`, { url: queryUrl, status: answer.status, body: answer.body });
    }
    const kind: WriteFailureKind = answer.status === 401 || answer.status === 403 ? 'unauthorized' : answer.status === 400 ? 'rejected' : 'unavailable';
    throw new InfluxWriteError(kind, `${q} answered ${answer.status}: ${serverMessage(answer.body)}`, { url: queryUrl, status: answer.status, body: answer.body });
  }

  const createDatabase = (signal?: AbortSignal): Promise<void> => run(`CREATE DATABASE ${quoteIdentifier(connection.database)}`, signal);

  /** One POST: resolves undefined on success, a retryable failure to try again, or throws a final one. */
  async function attemptWrite(body: WireBody, attempt: number, signal?: AbortSignal): Promise<{ error: InfluxWriteError; retryAfterMs?: number; databaseMissing?: boolean } | undefined> {
    let answer: HttpAnswer;
    try {
      answer = await request(writeUrl, body, signal);
    } catch (err) {
      if (signal?.aborted) throw new InfluxWriteError('aborted', `write to ${writeUrl} was aborted`, { url: writeUrl }, { cause: err });
      const cause = (err as Error & { cause?: Error }).cause;
      return { error: new InfluxWriteError('unavailable', `cannot reach ${writeUrl}: ${cause?.message ?? (err as Error).message}`, { url: writeUrl, attempts: attempt }, { cause: err }) };
    }
    if (answer.status === 204 || answer.status === 200) return undefined;
    const message = serverMessage(answer.body);
    const context = { url: writeUrl, status: answer.status, body: answer.body, attempts: attempt };
    if (answer.status === 400) throw new InfluxWriteError('rejected', `InfluxDB refused the write (400): ${message}`, context);
    if (answer.status === 401 || answer.status === 403) throw new InfluxWriteError('unauthorized', `InfluxDB refused the credentials (${answer.status}): ${message}`, context);
    if (answer.status === 404 && /database not found/i.test(message)) {
      const error = new InfluxWriteError('missing_database', `database ${connection.database} does not exist: ${message}`, context);
      if (!connection.createDatabase) throw error;
      return { error, databaseMissing: true };
    }
    return { error: new InfluxWriteError('unavailable', `InfluxDB answered ${answer.status}: ${message}`, context), retryAfterMs: answer.retryAfterMs };
  }

  async function write(lines: string | Buffer, signal?: AbortSignal): Promise<void> {
    // Compressed once for all attempts.
    const body: WireBody = gzipLevel > 0 ? { bytes: await gzipAsync(lines, { level: gzipLevel }), gzipped: true } : { bytes: lines, gzipped: false };
    let lastError: InfluxWriteError | undefined;
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
          if (!(err instanceof InfluxWriteError) || err.kind !== 'unavailable') throw err;
          lastError = err;
        }
      }
      if (attempt >= maxAttempts) break;
      try {
        await sleep(backoffDelay(attempt, initialDelayMs, maxDelayMs, failure.retryAfterMs, random), signal);
      } catch (err) {
        throw new InfluxWriteError('aborted', `write to ${writeUrl} was aborted`, { url: writeUrl }, { cause: err });
      }
    }
    throw lastError ?? new InfluxWriteError('unavailable', `write to ${writeUrl} failed`, { url: writeUrl });
  }

  return {
    writeUrl,
    async start(signal?: AbortSignal) {
      if (connection.createDatabase) await createDatabase(signal);
    },
    write,
    run,
  };
}
