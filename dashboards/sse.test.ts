import { describe, expect, it } from 'vitest';
import { formatSseEvent, SseConnection, type SseSink } from './sse.ts';

/** A sink that never drains, like a client that stopped reading. */
class StuckSink implements SseSink {
  chunks: string[] = [];
  destroyed = false;
  ended = false;
  get writableLength(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return false;
  }
  destroy(): void {
    this.destroyed = true;
  }
  end(): void {
    this.ended = true;
  }
}

describe('Server-Sent Events', () => {
  it('formats id, event and data fields and ends the event with a blank line', () => {
    expect(formatSseEvent({ id: 'a-1', event: 'readings', data: '{"x":1}' })).toBe('id: a-1\nevent: readings\ndata: {"x":1}\n\n');
  });

  it('splits multi-line data into data fields, so that a newline cannot end the event early or inject fields', () => {
    expect(formatSseEvent({ data: 'one\nid: forged\r\ntwo' })).toBe('data: one\ndata: id: forged\ndata: two\n\n');
  });

  it('keeps comments on one line', () => {
    const sink = new StuckSink();
    new SseConnection(sink, { maxBufferedBytes: 1000, onDrop: () => {} }).comment('a\nb');
    expect(sink.chunks).toEqual([': a b\n\n']);
  });

  it('drops a client that does not read once its queue passes the bound, and says so once', () => {
    const sink = new StuckSink();
    const drops: number[] = [];
    const connection = new SseConnection(sink, { maxBufferedBytes: 200, onDrop: (bytes) => drops.push(bytes) });
    let accepted = 0;
    for (let i = 0; i < 100 && connection.send({ data: 'x'.repeat(50) }); i++) accepted++;
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(5);
    expect(sink.destroyed).toBe(true);
    expect(drops).toHaveLength(1);
    expect(drops[0]).toBeGreaterThan(200);
    // Nothing more is queued for it.
    const queued = sink.chunks.length;
    expect(connection.send({ data: 'late' })).toBe(false);
    expect(sink.chunks).toHaveLength(queued);
  });
});
