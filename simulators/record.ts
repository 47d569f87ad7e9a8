/**
 * Record what a broker carries on some topic filters to a recording (recording.ts), each message stamped with the
 * time it arrived. Bounded by message count and by time; `stop()` ends it early. Lines are written in arrival order.
 */
import { topics } from '../bus/topics.ts';
import { TransportError } from '../core/errors.ts';
import { connectFeedClient, openLineWriter, recordLine, type QoS } from './recording.ts';

export interface RecordOptions {
  url: string;
  file: string;
  /** Topic filters (default: every plant's readings). */
  filters?: string[];
  /** Subscription QoS (default 1). */
  qos?: QoS;
  username?: string;
  password?: string;
  protocolVersion?: 4 | 5;
  clientId?: string;
  /** Stop after this many messages. */
  limit?: number;
  /** Stop after this much time (ms). */
  maxDurationMs?: number;
  /** Called after each message with the count so far. */
  onMessage?: (count: number) => void;
  now?: () => number;
}

export interface RecordSummary {
  file: string;
  messages: number;
  readings: number;
  /** Bytes of the file (compressed bytes for .gz). */
  bytes: number;
  durationMs: number;
  stoppedBy: 'limit' | 'time' | 'stopped';
}

export interface Recorder {
  /** Resolves when the recording ends (limit, time, or stop()). */
  readonly done: Promise<RecordSummary>;
  count(): number;
  stop(): Promise<RecordSummary>;
}

export async function startRecorder(opts: RecordOptions): Promise<Recorder> {
  const now = opts.now ?? Date.now;
  const filters = opts.filters?.length ? opts.filters : [topics.readingsFilter()];
  const client = await connectFeedClient(opts, 'RECORD_CONNECT', 1_000);
  const writer = openLineWriter(opts.file);
  const started = now();
  let messages = 0;
  let readings = 0;
  let writes: Promise<void> = Promise.resolve();
  let writeFailure: Error | undefined;
  let finishing: Promise<RecordSummary> | undefined;
  let resolveDone!: (s: RecordSummary) => void;
  let rejectDone!: (err: unknown) => void;
  const done = new Promise<RecordSummary>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  done.catch(() => undefined);

  const finish = (stoppedBy: RecordSummary['stoppedBy']): Promise<RecordSummary> => {
    finishing ??= (async () => {
      clearTimeout(timer);
      client.removeListener('message', onMessage);
      await client.endAsync(false).catch(() => undefined);
      await writes;
      const bytes = await writer.close();
      if (writeFailure) throw writeFailure;
      return { file: opts.file, messages, readings, bytes, durationMs: now() - started, stoppedBy };
    })().then(
      (summary) => {
        resolveDone(summary);
        return summary;
      },
      (err: unknown) => {
        rejectDone(err);
        throw err;
      },
    );
    return finishing;
  };

  const onMessage = (topic: string, payload: Buffer, packet: { qos: QoS; retain: boolean }): void => {
    if (finishing || messages >= (opts.limit ?? Number.POSITIVE_INFINITY)) return;
    const line = recordLine(now(), topic, payload, packet.qos, packet.retain);
    messages++;
    if (topic.includes('/readings/')) readings += countReadings(payload);
    writes = writes.then(() => writer.write(line)).catch((err: unknown) => {
      writeFailure ??= err as Error;
    });
    opts.onMessage?.(messages);
    if (opts.limit !== undefined && messages >= opts.limit) void finish('limit').catch(() => undefined);
  };
  client.on('message', onMessage);
  const timer = opts.maxDurationMs === undefined ? undefined : setTimeout(() => void finish('time').catch(() => undefined), opts.maxDurationMs);
  try {
    await client.subscribeAsync(filters, { qos: opts.qos ?? 1 });
  } catch (err) {
    await finish('stopped').catch(() => undefined);
    throw new TransportError('RECORD_SUBSCRIBE', `cannot subscribe to ${filters.join(', ')}: ${(err as Error).message}`, true, { filters }, { cause: err });
  }

  return { done, count: () => messages, stop: () => finish('stopped') };
}

function countReadings(payload: Buffer): number {
  // a cheap count that does not parse the batch: each reading has exactly one "quantity" key
  const text = payload.toString('utf8');
  let n = 0;
  for (let i = text.indexOf('"quantity"'); i !== -1; i = text.indexOf('"quantity"', i + 10)) n++;
  return n;
}
