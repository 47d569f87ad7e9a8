/**
 * Separating the lines InfluxDB refuses from those it accepts, after a 400.
 *
 * InfluxDB 1.x writes what it can of a batch and answers 400 with one reason, e.g. (1.6.7, checked on this machine):
 *
 *   {"error":"partial write: field type conflict: input field \"cod\" on measurement \"water\" is type float, already exists as type string dropped=2"}
 *   {"error":"partial write: unable to parse 'water,meter=b,plant=x ph=7 bad': bad timestamp dropped=0"}
 *
 * It does not say which lines it dropped (only the first reason, and `dropped` does not count unparsable lines), so the
 * batch is bisected: each half is written again, a half that is accepted is done, a refused half is split further,
 * down to single lines, which are the refused ones, each with the server's reason for it. Writing a line again is
 * harmless (same series, timestamp and fields: InfluxDB overwrites the point). A half whose `dropped` count equals its
 * size is refused whole without further splitting, which keeps a batch full of one conflicting field to a few requests.
 */
export interface RefusedLine {
  /** Index of the line in the batch. */
  index: number;
  line: string;
  /** The server's message for the request that refused it. */
  reason: string;
}

export interface SplitOutcome {
  /** Lines the server accepted. */
  acceptedLines: number;
  refused: RefusedLine[];
  /** Write requests made (not counting the one that failed first). */
  requests: number;
}

/** A refusal of the data itself (HTTP 400), as opposed to a failure to reach the server. */
export interface Refusal {
  /** The server's error message. */
  reason: string;
}

/** `dropped=N` at the end of InfluxDB's partial-write message, if present. */
export function droppedCount(reason: string): number | undefined {
  const match = /dropped=(\d+)\s*$/.exec(reason);
  return match ? Number(match[1]) : undefined;
}

/**
 * Write `lines` (already refused together with `first`) in halves until every line is either accepted or refused.
 * `write` resolves when the server accepted a body; it rejects with what `asRefusal` recognises as a refusal, or with
 * another error (server unreachable…), which aborts the split and is thrown to the caller.
 */
export async function splitRefusedBatch(
  lines: readonly string[],
  first: Refusal,
  write: (body: string) => Promise<void>,
  asRefusal: (error: unknown) => Refusal | undefined,
): Promise<SplitOutcome> {
  const outcome: SplitOutcome = { acceptedLines: 0, refused: [], requests: 0 };

  async function settle(from: number, to: number, refusal: Refusal): Promise<void> {
    const size = to - from;
    if (size === 1 || droppedCount(refusal.reason) === size) {
      for (let i = from; i < to; i++) outcome.refused.push({ index: i, line: lines[i]!, reason: refusal.reason });
      return;
    }
    const middle = from + Math.ceil(size / 2);
    for (const [start, end] of [
      [from, middle],
      [middle, to],
    ] as const) {
      outcome.requests++;
      try {
        await write(lines.slice(start, end).join('\n'));
        outcome.acceptedLines += end - start;
      } catch (err) {
        const again = asRefusal(err);
        if (!again) throw err;
        await settle(start, end, again);
      }
    }
  }

  if (lines.length > 0) await settle(0, lines.length, first);
  outcome.refused.sort((a, b) => a.index - b.index);
  return outcome;
}

/** Lines joined by `\n` into texts of at most `maxBytes` each (a single longer line alone, cut by deadLetterFor). */
export function chunkLines(lines: readonly string[], maxBytes: number): string[] {
  const chunks: string[] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const line of lines) {
    const size = Buffer.byteLength(line) + (current.length > 0 ? 1 : 0);
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current.join('\n'));
      current = [];
      bytes = 0;
    }
    bytes += current.length > 0 ? Buffer.byteLength(line) + 1 : Buffer.byteLength(line);
    current.push(line);
  }
  if (current.length > 0) chunks.push(current.join('\n'));
  return chunks;
}
