/**
 * A Server-Sent Events client over fetch for tests and the API benchmark: parses events as they arrive (WHATWG HTML
 * "Server-sent events": a blank line ends an event, `:` lines are comments) and records when each arrived.
 */
export interface ParsedEvent {
  id?: string;
  event?: string;
  data: string;
  /** performance.now() when the event's last byte arrived. */
  receivedAt: number;
}

export class SseReader {
  readonly events: ParsedEvent[] = [];
  comments = 0;
  status = 0;
  contentType = '';
  /** Called for every event as it is parsed. */
  onEvent: ((event: ParsedEvent) => void) | undefined;
  private readonly controller = new AbortController();
  private buffer = '';
  private waiters: { test: (e: ParsedEvent) => boolean; resolve: (e: ParsedEvent) => void }[] = [];

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
    const reader = new SseReader();
    const res = await fetch(url, { headers, signal: reader.controller.signal });
    reader.status = res.status;
    reader.contentType = res.headers.get('content-type') ?? '';
    if (res.body) void reader.pump(res.body);
    return reader;
  }

  private async pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body) {
        this.buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = this.buffer.indexOf('\n\n')) >= 0) {
          const block = this.buffer.slice(0, end);
          this.buffer = this.buffer.slice(end + 2);
          this.parse(block);
        }
      }
    } catch {
      // aborted by close()
    }
  }

  private parse(block: string): void {
    const event: ParsedEvent = { data: '', receivedAt: performance.now() };
    const data: string[] = [];
    let isComment = true;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      isComment = false;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') data.push(value);
      else if (field === 'id') event.id = value;
      else if (field === 'event') event.event = value;
    }
    if (isComment) {
      this.comments++;
      return;
    }
    if (!data.length) return;
    event.data = data.join('\n');
    this.events.push(event);
    this.onEvent?.(event);
    this.waiters = this.waiters.filter((w) => {
      if (!w.test(event)) return true;
      w.resolve(event);
      return false;
    });
  }

  /** The parsed data of events of one type. */
  data<T>(type: string): T[] {
    return this.events.filter((e) => e.event === type).map((e) => JSON.parse(e.data) as T);
  }

  /** The first event (already received or still to come) that passes `test`; rejects after `ms`. */
  next(test: (e: ParsedEvent) => boolean, ms = 10_000): Promise<ParsedEvent> {
    const seen = this.events.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching event within ${ms} ms`)), ms);
      this.waiters.push({ test, resolve: (e) => (clearTimeout(timer), resolve(e)) });
    });
  }

  close(): void {
    this.controller.abort();
  }
}
