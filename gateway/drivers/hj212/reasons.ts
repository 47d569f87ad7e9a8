/**
 * The reasons the HJ 212 receiver counts and logs beyond the codec's (protocols/hj212/errors.ts): refusals of its
 * own, and why it closed or refused a connection. They label the receiver's statistics; docs/errors.md lists them.
 */
export const HJ212_RECEIVER_REASONS = {
  unknown_mn: 'A packet from an MN that is not a configured device (answered QnRtn 4).',
  bad_password: 'A packet with the wrong PW for its MN (answered QnRtn 3).',
  internal_error: 'Handling a frame threw unexpectedly (a bug): the connection is closed rather than left in an unknown state.',
  connection_closed: 'A frame cut from the stream was not handled because its connection had been closed.',
  max_connections: 'A connection refused because the configured maximum number is open.',
  idle: 'A connection closed after nothing was received for `idleTimeoutMs`.',
  junk: 'A connection closed after sending more than one frame\'s worth of bytes outside frames.',
  refused: 'A connection closed after 16 packets in a row were refused (a logger with a wrong PW will not fix itself).',
  not_reading: 'A connection closed because it does not read its answers (`maxReplyBacklogBytes` waiting).',
} as const;

export type Hj212ReceiverReason = keyof typeof HJ212_RECEIVER_REASONS;
