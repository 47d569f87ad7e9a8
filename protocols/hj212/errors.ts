import { CleanstreamError, type ErrorContext } from '../../core/errors.ts';

/**
 * Stable reasons: they label counters and log lines, and map onto the QnRtn a platform answers with (replies.ts).
 * docs/errors.md lists them from here.
 */
export const HJ212_ERROR_REASON_MEANINGS = {
  bad_header: 'The frame does not start with `##` and 4 decimal digits, or is shorter than an empty frame.',
  bad_tail: 'The frame does not end with CR LF.',
  too_long: 'The data segment (or a buffered frame, or a split message) exceeds the configured maximum.',
  length_mismatch: 'The declared data segment length differs from the bytes received.',
  crc_mismatch: 'The CRC field differs from the CRC computed over the data segment (or is not 4 hex digits).',
  missing_field: 'A mandatory field (ST, CN, PW, MN, CP; PNUM/PNO when the Flag says split; DataTime for data) is absent.',
  bad_field: 'A field or CP item is malformed (the detail names the field, the value and what was expected).',
  unsupported_version: 'The Flag declares version bits no standard has assigned, or a version newer than the parser accepts.',
  garbage: 'Bytes on a stream that are not part of any frame were discarded.',
  split_inconsistent: 'Parts of one split message disagree (PNUM, header fields).',
  split_timeout: 'A split message did not complete in time; its parts were dropped.',
  split_evicted: 'A split message was dropped to keep pending parts within their limit.',
  decrypt_failed: "An HJ 212-2025 SM4-encrypted CP cannot be decrypted with the station's key and padding (not hex in whole blocks, bad padding, or not text once decrypted).",
} as const;

export type Hj212ErrorReason = keyof typeof HJ212_ERROR_REASON_MEANINGS;

export const HJ212_ERROR_REASONS = Object.keys(HJ212_ERROR_REASON_MEANINGS) as readonly Hj212ErrorReason[];

/** A frame or message that breaks HJ 212. The message says exactly what is wrong; `reason` is short and stable. */
export class Hj212Error extends CleanstreamError {
  readonly reason: Hj212ErrorReason;

  constructor(reason: Hj212ErrorReason, detail: string, context: ErrorContext = {}) {
    super('HJ212_INVALID', `${reason}: ${detail}`, { reason, ...context });
    this.reason = reason;
  }
}
