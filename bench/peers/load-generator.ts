/**
 * One load generator process of the bench: publishes its share of the feed (messages g, g+G, g+2G, …) at
 * `rate / G` readings/s, QoS 1, for at most `seconds`, to a loopback broker, and reports its progress to the parent
 * over IPC every 50 ms. Run by bench/ingest.ts; not meant to be started by hand.
 *
 *   node bin/run-ts.js bench/peers/load-generator.ts '<json GeneratorTask>'
 */
import { connectAsync } from 'mqtt';
import { payloadOf, topicOf, type FeedShape } from './feed.ts';

export interface GeneratorTask extends FeedShape {
  url: string;
  /** This generator's index and the number of generators. */
  index: number;
  of: number;
  /** Readings/s for all generators together. */
  rate: number;
  seconds: number;
  /** QoS 1 messages awaiting the broker's PUBACK at most. */
  window: number;
}

/** Parent ← generator messages. `t` is epoch ms with sub-ms precision (performance.timeOrigin + now). */
export type GeneratorReport =
  | { kind: 'ready' }
  | { kind: 'progress'; t: number; publishedReadings: number }
  | { kind: 'done'; t: number; messages: number; publishedReadings: number; lastMessage: number };

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const send = (report: GeneratorReport): void => void process.send?.(report);

const task = JSON.parse(process.argv[2] ?? '{}') as GeneratorTask;
if (!task.url?.startsWith('mqtt://127.0.0.1:')) {
  console.error('load-generator: a loopback mqtt:// URL is required');
  process.exit(2);
}

const client = await connectAsync(task.url, { clientId: `bench-gen-${task.index}-${process.pid}`, protocolVersion: 4, reconnectPeriod: 500 });
send({ kind: 'ready' });
// Start together: the parent says when.
await new Promise<void>((resolve) => process.once('message', () => resolve()));

const messagesPerSecond = task.rate / task.perMessage / task.of;
const started = now();
const deadline = started + task.seconds * 1000;
let k = 0;
let inFlight = 0;
let published = 0;
let wake: (() => void) | undefined;
const reporter = setInterval(() => send({ kind: 'progress', t: now(), publishedReadings: published }), 50);

while (now() < deadline) {
  if (k > ((now() - started) / 1000) * messagesPerSecond) {
    await sleep(1);
    continue;
  }
  if (inFlight >= task.window) {
    await new Promise<void>((resolve) => (wake = resolve));
    continue;
  }
  const m = task.index + k * task.of;
  inFlight++;
  client.publish(topicOf(task, m), payloadOf(task, m), { qos: 1 }, () => {
    inFlight--;
    const w = wake;
    wake = undefined;
    w?.();
  });
  published += task.perMessage;
  k++;
  // Let PUBACKs and timers in every few messages.
  if (k % 20 === 0) await new Promise((resolve) => setImmediate(resolve));
}
// Everything handed to the broker and acknowledged by it (bounded: 30 s).
const drainDeadline = now() + 30_000;
while (inFlight > 0 && now() < drainDeadline) await sleep(10);
clearInterval(reporter);
send({ kind: 'done', t: now(), messages: k, publishedReadings: published, lastMessage: task.index + (k - 1) * task.of });
await client.endAsync();
process.disconnect?.();
