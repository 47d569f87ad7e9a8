import { CleanstreamError, type ErrorContext } from '../../core/errors.ts';

/**
 * Stable reasons: they label counters and log lines, and map onto the QnRtn a platform answers with (replies.ts).
 *   bad_header           the frame does not start with `##` + 4 decimal digits, or is shorter than an empty frame
 *   bad_tail             the frame does not end with CR LF
 *   too_long             the data segment (or a buffered frame, or a split message) exceeds the configured maximum
 *   length_mismatch      the declared data segment length differs from the bytes received
 *   crc_mismatch         the CRC field differs from the CRC computed over the data segment (or is not 4 hex digits)
 *   missing_field        a mandatory field (ST, CN, PW, MN, CP; PNUM/PNO when the Flag says split; DataTime for data) is absent
 *   bad_field            a field or CP item is malformed (names the field, the value and what was expected)
 *   unsupported_version  the Flag declares version bits no standard has assigned, or a version newer than the parser accepts
 *   garbage              bytes on a stream that are not part of any frame were discarded
 *   split_inconsistent   parts of one split message disagree (PNUM, header fields)
 *   split_timeout        a split message did not complete in time; its parts were dropped
 *   split_evicted        a split message was dropped to keep pending parts within their limit
 */
export type Hj212ErrorReason =
  | 'bad_header'
  | 'bad_tail'
  | 'too_long'
  | 'length_mismatch'
  | 'crc_mismatch'
  | 'missing_field'
  | 'bad_field'
  | 'unsupported_version'
  | 'garbage'
  | 'split_inconsistent'
  | 'split_timeout'
  | 'split_evicted';

export const HJ212_ERROR_REASONS: readonly Hj212ErrorReason[] = [
  'bad_header',
  'bad_tail',
  'too_long',
  'length_mismatch',
  'crc_mismatch',
  'missing_field',
  'bad_field',
  'unsupported_version',
  'garbage',
  'split_inconsistent',
  'split_timeout',
  'split_evicted',
];

/** A frame or message that breaks HJ 212. The message says exactly what is wrong; `reason` is short and stable. */
export class Hj212Error extends CleanstreamError {
  readonly reason: Hj212ErrorReason;

  constructor(reason: Hj212ErrorReason, detail: string, context: ErrorContext = {}) {
    super('HJ212_INVALID', `${reason}: ${detail}`, { reason, ...context });
    this.reason = reason;
  }
}
