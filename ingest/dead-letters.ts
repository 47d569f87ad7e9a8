/**
 * Ingest's dead letters: everything it cannot store goes to `cleanstream/v1/deadletter/ingest` with its reason, and
 * is counted. A dead-lettered message is acknowledged only once the broker confirmed its dead letter: unconfirmed,
 * the original stays unacknowledged, so the broker delivers it (and ingest dead-letters it) again.
 */
import type { EventEmitter } from 'node:events';
import { deadLetterFor, topics, type DeadLetter } from '../bus/topics.ts';
import type { BusPublisher } from '../bus/subscriber.ts';
import { chunkLines } from './partial-write.ts';
import { countRejected, type IngestCounters } from './stats.ts';
import type { IngestEvents } from './events.ts';

export const DEAD_LETTER_STAGE = 'ingest';

/** Lines InfluxDB refused, grouped by the topic they came from, with InfluxDB's reason for the first of them. */
export type RefusedByTopic = Map<string, { lines: string[]; reason: string }>;

export class DeadLetters {
  private readonly topic = topics.deadLetter(DEAD_LETTER_STAGE);
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly publisher: BusPublisher,
    private readonly events: EventEmitter<IngestEvents>,
    private readonly counters: IngestCounters,
    /** `deadLetter.maxPayloadBytes`: the most of a payload one letter keeps. */
    private readonly maxPayloadBytes: number,
    /** A rejected message's letter settled (confirmed or not): backpressure may ease. */
    private readonly onSettled: () => void,
  ) {}

  publish(letter: DeadLetter): Promise<void> {
    this.events.emit('deadLetter', letter);
    return this.publisher.publish(this.topic, JSON.stringify(letter));
  }

  /** A message ingest refuses whole: counted, published; `ack` once confirmed, `abandon` if not. */
  reject(topic: string, payload: Buffer, reason: string, detail: string, ack: () => void, abandon: () => void): void {
    countRejected(this.counters, reason);
    const published = this.publish(deadLetterFor(DEAD_LETTER_STAGE, topic, payload, reason, detail, this.maxPayloadBytes)).then(ack, (err: Error) => {
      abandon();
      this.events.emit('mqttError', err);
    });
    this.inFlight.add(published);
    void published.then(() => {
      this.inFlight.delete(published);
      this.onSettled();
    });
  }

  /** Refused lines are the only copy of readings that were valid: in as many letters as the cap needs, none cut. */
  async refusedLines(byTopic: RefusedByTopic): Promise<void> {
    await Promise.all(
      [...byTopic].flatMap(([topic, { lines, reason }]) =>
        chunkLines(lines, this.maxPayloadBytes).map((chunk) => this.publish(deadLetterFor(DEAD_LETTER_STAGE, topic, Buffer.from(chunk), 'write_rejected', reason, this.maxPayloadBytes))),
      ),
    );
    for (const [, { lines }] of byTopic) {
      countRejected(this.counters, 'write_rejected');
      this.counters.refusedLines += lines.length;
    }
  }

  /** A spool record that cannot be decoded: its bytes, under topic `spool`. */
  async spoolUnreadable(record: Buffer, error: Error): Promise<void> {
    await this.publish(deadLetterFor(DEAD_LETTER_STAGE, 'spool', record, 'spool_unreadable', error.message, this.maxPayloadBytes));
    countRejected(this.counters, 'spool_unreadable');
  }

  /** Resolves once every rejected message's letter has settled. */
  async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** settle(), waiting at most `ms`. */
  async settleWithin(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.settle(), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }
}
