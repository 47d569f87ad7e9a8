/**
 * Server-Sent Events on a raw HTTP response (WHATWG HTML "Server-sent events": `id:`, `event:`, `data:` lines, a
 * blank line ends an event, lines starting with `:` are comments), with a bound on what one slow client may hold.
 */

export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** The part of http.ServerResponse this needs, so that tests can use a fake. */
export interface SseSink {
  write(chunk: string): boolean;
  destroy(): void;
  end(): void;
  readonly writableLength: number;
  readonly destroyed: boolean;
}

export function formatSseEvent(event: SseEvent): string {
  let out = '';
  if (event.id !== undefined) out += `id: ${event.id}\n`;
  if (event.event !== undefined) out += `event: ${event.event}\n`;
  // A newline inside data would end the field: each line becomes its own data field, rejoined by the browser.
  for (const line of event.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return `${out}\n`;
}

export interface SseConnectionOptions {
  /** Bytes the socket may have queued for this client before it is dropped rather than buffered further. */
  maxBufferedBytes: number;
  /** Told once when the client is dropped for being too slow, with the bytes it had queued. */
  onDrop: (bufferedBytes: number) => void;
}

export class SseConnection {
  private open = true;

  constructor(
    private readonly sink: SseSink,
    private readonly options: SseConnectionOptions,
  ) {}

  get isOpen(): boolean {
    return this.open && !this.sink.destroyed;
  }

  /** Queue an event; false when the client is gone or was just dropped for being too slow. */
  send(event: SseEvent): boolean {
    return this.write(formatSseEvent(event));
  }

  /** Queue an event already formatted with formatSseEvent (shared by many connections). */
  sendFormatted(text: string): boolean {
    return this.write(text);
  }

  comment(text: string): boolean {
    return this.write(`: ${text.replace(/[\r\n]+/g, ' ')}\n\n`);
  }

  /** `retry:` sets how long the browser waits before reconnecting. */
  retry(ms: number): boolean {
    return this.write(`retry: ${Math.round(ms)}\n\n`);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.sink.end();
  }

  private write(chunk: string): boolean {
    if (!this.isOpen) return false;
    this.sink.write(chunk);
    const buffered = this.sink.writableLength;
    if (buffered > this.options.maxBufferedBytes) {
      this.open = false;
      this.sink.destroy();
      this.options.onDrop(buffered);
      return false;
    }
    return true;
  }
}
