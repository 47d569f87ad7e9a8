/**
 * Typed errors shared by every stage. Each carries a stable `code` from the catalogue (core/error-codes.ts: a code
 * missing there does not compile; docs/errors.md says what each means) and a `context` object so that the message a
 * user sees names what was being done and with what.
 */
import type { ErrorCode, RejectReason } from './error-codes.ts';

export type { ErrorCode, RejectReason } from './error-codes.ts';

export type ErrorContext = Record<string, unknown>;

export class CleanstreamError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.context = context;
  }
}

/** One problem in a config file: where (dotted/bracketed field path) and what was expected there. */
export interface ConfigIssue {
  path: string;
  expected: string;
}

/** A config file that cannot be used. The message names the file, each field path and what was expected. */
export class ConfigError extends CleanstreamError {
  readonly file: string;
  readonly issues: ConfigIssue[];

  constructor(file: string, issues: ConfigIssue[], options?: { cause?: unknown }) {
    const lines = issues.map((i) => `  ${i.path || '(root)'}: ${i.expected}`);
    super('CONFIG_INVALID', `invalid config file ${file}:\n${lines.join('\n')}`, { file, issues }, options);
    this.file = file;
    this.issues = issues;
  }
}

/** A message that does not match the payload contract. `reason` is short and stable: it labels dead-letter counters. */
export class PayloadError extends CleanstreamError {
  readonly reason: RejectReason;

  constructor(reason: RejectReason, detail: string, context: ErrorContext = {}) {
    super('PAYLOAD_INVALID', `${reason}: ${detail}`, { reason, ...context });
    this.reason = reason;
  }
}

/** A failure talking to another system (broker, database, meter). `retryable` says whether trying again may help. */
export class TransportError extends CleanstreamError {
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, retryable: boolean, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(code, message, context, options);
    this.retryable = retryable;
  }
}

/** Some libraries (modbus-serial among them) reject with plain objects; give them a message and a stack. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (value && typeof value === 'object') {
    const rec = value as Record<string, unknown>;
    const message = typeof rec.message === 'string' ? rec.message : JSON.stringify(value);
    const err = new Error(message);
    if (typeof rec.errno === 'string' || typeof rec.code === 'string') {
      (err as Error & { code?: unknown }).code = rec.errno ?? rec.code;
    }
    return err;
  }
  return new Error(String(value));
}
