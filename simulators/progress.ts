/**
 * Progress on a stream (stderr): a bar redrawn in place when the stream is a terminal, otherwise a plain line every
 * few seconds, so that CI logs and piped output stay readable.
 */
export interface ProgressOptions {
  /** Where to draw; default process.stderr. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** 'auto': bar on a TTY, lines otherwise. */
  mode?: 'auto' | 'bar' | 'lines' | 'none';
  /** Interval between plain lines (default 5 s). */
  lineEveryMs?: number;
  now?: () => number;
}

export interface Progress {
  /** fraction in [0, 1]; `detail` is shown after the percentage. */
  update(fraction: number, detail: string): void;
  /** Clears the bar (a terminal) so that the summary starts on a clean line. */
  done(): void;
}

const BAR_WIDTH = 30;
const REDRAW_MS = 100;

export function renderBar(fraction: number, width = BAR_WIDTH): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const filled = Math.round(f * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(f * 100).toFixed(0).padStart(3)}%`;
}

export function createProgress(opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  const now = opts.now ?? Date.now;
  const mode = opts.mode === undefined || opts.mode === 'auto' ? (stream.isTTY ? 'bar' : 'lines') : opts.mode;
  const every = opts.lineEveryMs ?? 5_000;
  let last = Number.NEGATIVE_INFINITY;
  let drawn = false;
  return {
    update(fraction, detail) {
      if (mode === 'none') return;
      const t = now();
      if (t - last < (mode === 'bar' ? REDRAW_MS : every)) return;
      last = t;
      if (mode === 'bar') {
        stream.write(`\r${renderBar(fraction)} ${detail}\u001b[K`);
        drawn = true;
      } else {
        stream.write(`${renderBar(fraction)} ${detail}\n`);
      }
    },
    done() {
      if (drawn) stream.write('\r\u001b[K');
      drawn = false;
    },
  };
}
