/**
 * The HJ 212 receiver fuzz over real TCP, shared by test/integration/hj212/fuzz.test.ts (a short run) and bench/fuzz.ts
 * (the full 100,000 cases whose figures are in SECURITY.md). Each case (protocols/hj212/fuzz-cases.ts) is sent on
 * a connection of its own, so that one case's bytes cannot change how the next is cut, and the receiver's counters can
 * be checked against what a stream decoder makes of the same bytes: every frame and every discarded run of bytes must
 * be counted once, accepted (`packets`) or refused by reason.
 */
import { fork } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { buildPacket, type Hj212Version } from '../../protocols/hj212/codec.ts';
import { hj212InputSchema } from '../../gateway/drivers/hj212/config.ts';
import { fuzzCase } from '../../protocols/hj212/fuzz-cases.ts';
import { Hj212Receiver, type Hj212ReceiverStats } from '../../gateway/drivers/hj212/receiver.ts';
import { samplePacket, seededRandom } from '../../protocols/hj212/samples.ts';
import { Hj212StreamDecoder } from '../../protocols/hj212/stream.ts';
import { sampleRss } from './rss-sampler.ts';
import { until } from './wait.ts';

export interface Hj212FuzzOptions {
  seed: number;
  cases: number;
  /** Connections open at once. */
  concurrency?: number;
  /** Stop early after this long (the figures say how many cases ran). */
  maxMs?: number;
  /** Send from a child process (the bench): the receiver gets this process to itself, and its RSS is the receiver's alone. */
  clientsInChildProcess?: boolean;
}

export interface Hj212FuzzClientOptions {
  port: number;
  seed: number;
  cases: number;
  concurrency?: number;
  maxMs?: number;
}

export type Hj212FuzzClientSummary = Pick<Hj212FuzzResult, 'cases' | 'seconds' | 'bytesSent' | 'byMutation' | 'expectedUnits'>;

export interface Hj212FuzzResult {
  seed: number;
  cases: number;
  seconds: number;
  bytesSent: number;
  /** Cases by mutation name. */
  byMutation: Record<string, number>;
  /** Frames and discarded runs a stream decoder cuts from the cases' bytes, each case on its own: what the receiver must account for. */
  expectedUnits: number;
  receiver: Hj212ReceiverStats;
  /** Readings handed on in scans. */
  readings: number;
  /** Error events of the receiver by code (one log line each). */
  errorsByCode: Record<string, number>;
  /** What the receiver said when handling a frame failed (a bug, not a bad frame); empty when it never did. */
  internalErrors: string[];
  rssStartMb: number;
  rssPeakMb: number;
  rssEndMb: number;
  /** RSS every 10 s of the run. */
  rssTimelineMb: number[];
}

const DEVICE_MNS = ['FUZZ00000000000000000001', 'FUZZ00000000000000000002', 'FUZZ00000000000000000003', 'FUZZ00000000000000000004'];
const METERS = { w01018: 'outfall-1-cod', w00000: 'outfall-1-flow', a21026: 'stack-1-cems', a19001: 'stack-1-cems' };
const VERSIONS: Hj212Version[] = ['2005', '2017', '2025'];
const MAX_PACKET_BYTES = 10_011;


export async function runHj212Fuzz(options: Hj212FuzzOptions): Promise<Hj212FuzzResult> {
  const config = hj212InputSchema.parse({
    type: 'hj212',
    port: 0,
    idleTimeoutMs: 10_000,
    devices: DEVICE_MNS.map((mn) => ({ mn, pw: '123456', plant: 'paper-01', meters: METERS })),
  });
  const receiver = new Hj212Receiver(config);
  const errorsByCode: Record<string, number> = {};
  const internalErrors: string[] = [];
  let readings = 0;
  receiver.on('error', (err) => {
    errorsByCode[err.code] = (errorsByCode[err.code] ?? 0) + 1;
    if (err.context.reason === 'internal_error' && internalErrors.length < 10) internalErrors.push(err.message);
  });
  receiver.on('scan', (r) => void (readings += r.length));
  await receiver.start();
  const rss = sampleRss();
  try {
    const clientOptions: Hj212FuzzClientOptions = {
      port: receiver.port as number,
      seed: options.seed,
      cases: options.cases,
      ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
      ...(options.maxMs !== undefined ? { maxMs: options.maxMs } : {}),
    };
    const clients = options.clientsInChildProcess ? await inChildProcess(clientOptions) : await runHj212FuzzClients(clientOptions);
    const accounted = (s: Hj212ReceiverStats): number => s.packets + Object.values(s.refused).reduce((a, b) => a + b, 0);
    await until('the receiver to account for every case', () => receiver.stats().connections === 0 && accounted(receiver.stats()) >= clients.expectedUnits, 10_000).catch(() => undefined);
    return { seed: options.seed, ...clients, receiver: receiver.stats(), readings, errorsByCode, internalErrors, ...rss.stop() };
  } finally {
    rss.stop();
    await receiver.stop();
  }
}

/** The senders: in the receiver's process for the test, in a child process of their own for the bench (fuzz-hj212-child.ts). */
export async function runHj212FuzzClients(options: Hj212FuzzClientOptions): Promise<Hj212FuzzClientSummary> {
  const random = seededRandom(options.seed);
  const concurrency = options.concurrency ?? 32;
  const { port } = options;
  // Valid uploads of the configured devices in every version the Flag can declare.
  const pool = Array.from({ length: 300 }, () => {
    const packet = samplePacket(random);
    packet.mn = DEVICE_MNS[Math.floor(random() * DEVICE_MNS.length)] as string;
    return buildPacket(packet, { version: VERSIONS[Math.floor(random() * VERSIONS.length)] as Hj212Version });
  });
  const decoder = new Hj212StreamDecoder({ maxFrameBytes: MAX_PACKET_BYTES });
  const byMutation: Record<string, number> = {};
  let expectedUnits = 0;
  let bytesSent = 0;
  let sent = 0;
  const started = Date.now();
  const deadline = started + (options.maxMs ?? Number.POSITIVE_INFINITY);

  const sendOne = (bytes: Buffer): Promise<void> =>
    new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.on('error', () => undefined); // the receiver resets connections it closes with unread bytes
      socket.resume(); // answers are read and dropped: an unread socket never closes
      socket.on('close', () => resolve());
      socket.on('connect', () => socket.end(bytes));
    });

  const worker = async (): Promise<void> => {
    while (sent < options.cases && Date.now() < deadline) {
      const { name, input } = fuzzCase(pool, random);
      const bytes = Buffer.from(input);
      sent++;
      byMutation[name] = (byMutation[name] ?? 0) + 1;
      bytesSent += bytes.length;
      expectedUnits += decoder.push(bytes).length + decoder.reset().length;
      await sendOne(bytes);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  return { cases: sent, seconds: (Date.now() - started) / 1000, bytesSent, byMutation, expectedUnits };
}

function inChildProcess(options: Hj212FuzzClientOptions): Promise<Hj212FuzzClientSummary> {
  const child = fork(fileURLToPath(new URL('./fuzz-hj212-child.ts', import.meta.url)), [JSON.stringify(options)], { execArgv: ['--import', 'tsx'] });
  return new Promise((resolve, reject) => {
    child.once('message', (summary) => resolve(summary as Hj212FuzzClientSummary));
    child.once('exit', (code) => reject(new Error(`the fuzz senders' process exited (${code}) without a summary`)));
  });
}
