import type { CleanstreamError } from '../core/errors.ts';
import type { DeadLetter } from '../bus/topics.ts';

/** What ingest tells its owner (the CLI logs them; tests watch them). */
export interface IngestEvents {
  /** A write failed; the data is kept and written again (or dead-lettered when the server refused it). */
  writeError: [error: CleanstreamError];
  /** A message was dead-lettered. */
  deadLetter: [letter: DeadLetter];
  /** Broker connection problems (refused credentials, lost connection, failed dead-letter publish). */
  mqttError: [error: Error];
  connected: [];
  disconnected: [];
  /** The spool grew above its warning ratio (it may fill: ingest will then stop reading). */
  spoolWarning: [info: { dir: string; bytes: number; maxBytes: number }];
  /** The spool failed (disk full) or a spooled batch could not be replayed yet (damage found on opening is in `stats().spool.damage`). */
  spoolError: [error: Error];
}
