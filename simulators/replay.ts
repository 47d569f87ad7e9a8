/**
 * Replay a recording (recording.ts) into a broker at a speed factor: 1 = as recorded, 60 = an hour a minute, 0 = as
 * fast as the broker accepts. Messages go out in the file's order over one connection, which MQTT delivers in order
 * per topic for a given QoS (MQTT 3.1.1 section 4.6), so per-topic order and the overall order of `t` are kept.
 * At most `maxInflight` QoS 1/2 publishes wait for their acknowledgement at once. Bounded by count and by wall time.
 */
import { statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CleanstreamError, TransportError } from '../core/errors.ts';
import { createProgress, type ProgressOptions } from './progress.ts';
import { connectFeedClient, payloadBytes, readRecording } from './recording.ts';

export interface ReplayOptions {
  url: string;
  /** 1 = real time (default), 60 = sixty times faster, 0 = as fast as possible. */
  speed?: number;
  /** Stop after this many messages. */
  limit?: number;
  /** Stop after this much wall time (ms). */
  maxDurationMs?: number;
  username?: string;
  password?: string;
  protocolVersion?: 4 | 5;
  clientId?: string;
  /** Publishes awaiting acknowledgement at most (default 500). */
  maxInflight?: number;
  progress?: ProgressOptions;
  signal?: AbortSignal;
}

export interface ReplaySummary {
  file: string;
  messages: number;
  /** Readings in the messages that carried a ReadingBatch. */
  readings: number;
  wallMs: number;
  /** From the first to the last published message's recorded `t`. */
  recordedSpanMs: number;
  messagesPerSecond: number;
  readingsPerSecond: number;
  stoppedBy: 'end' | 'limit' | 'time' | 'aborted';
}

export function formatReplaySummary(s: ReplaySummary): string {
  const how = s.stoppedBy === 'end' ? 'end of file' : s.stoppedBy === 'limit' ? 'message limit' : s.stoppedBy === 'time' ? 'time limit' : 'interrupted';
  return (
    `replayed ${s.messages} messages (${s.readings} readings) from ${s.file} in ${(s.wallMs / 1000).toFixed(1)} s: ` +
    `${Math.round(s.messagesPerSecond)} msg/s, ${Math.round(s.readingsPerSecond)} readings/s; ` +
    `${(s.recordedSpanMs / 1000).toFixed(0)} s of recorded time; stopped at ${how}`
  );
}

function readingCount(payload: unknown): number {
  if (typeof payload !== 'object' || payload === null) return 0;
  const readings = (payload as { readings?: unknown }).readings;
  return Array.isArray(readings) ? readings.length : 0;
}

export async function replayFile(file: string, opts: ReplayOptions): Promise<ReplaySummary> {
  const speed = opts.speed ?? 1;
  if (!(speed >= 0) || !Number.isFinite(speed)) throw new CleanstreamError('REPLAY_SPEED', `speed must be 0 (as fast as possible) or a positive factor, got ${speed}`, { speed });
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    throw new CleanstreamError('REPLAY_FILE', `cannot read recording ${file}: ${(err as Error).message}`, { file }, { cause: err });
  }
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  const maxInflight = opts.maxInflight ?? 500;
  const client = await connectFeedClient(opts, 'REPLAY_CONNECT', 0);

  const progress = createProgress(opts.progress);
  const startWall = Date.now();
  const deadline = opts.maxDurationMs === undefined ? Number.POSITIVE_INFINITY : startWall + opts.maxDurationMs;
  const inflight: Promise<unknown>[] = [];
  let failure: Error | undefined;
  let messages = 0;
  let readings = 0;
  let firstT: number | undefined;
  let lastT: number | undefined;
  let stoppedBy: ReplaySummary['stoppedBy'] = 'end';

  try {
    for await (const { message, bytesRead } of readRecording(file)) {
      if (failure) throw failure;
      if (opts.signal?.aborted) {
        stoppedBy = 'aborted';
        break;
      }
      if (messages >= limit) {
        stoppedBy = 'limit';
        break;
      }
      firstT ??= message.t;
      if (speed > 0) {
        const due = startWall + (message.t - firstT) / speed;
        const wait = Math.min(due, deadline) - Date.now();
        if (wait > 0) {
          try {
            await sleep(wait, undefined, opts.signal ? { signal: opts.signal } : undefined);
          } catch (err) {
            if (!opts.signal?.aborted) throw err;
            stoppedBy = 'aborted';
            break;
          }
        }
      }
      if (Date.now() >= deadline) {
        stoppedBy = 'time';
        break;
      }
      const sent = client.publishAsync(message.topic, payloadBytes(message), { qos: message.qos, retain: message.retain }).catch((err: unknown) => {
        failure ??= new TransportError('REPLAY_PUBLISH', `publish to ${message.topic} failed: ${(err as Error).message}`, true, { topic: message.topic }, { cause: err });
      });
      inflight.push(sent);
      if (inflight.length >= maxInflight) await inflight.shift();
      messages++;
      readings += readingCount(message.payload);
      lastT = message.t;
      const elapsed = Math.max(1, Date.now() - startWall);
      progress.update(size ? bytesRead / size : 1, `${messages} msgs, ${Math.round((messages * 1000) / elapsed)} msg/s`);
    }
    await Promise.all(inflight);
    if (failure) throw failure;
  } finally {
    progress.done();
    await client.endAsync(false).catch(() => undefined);
  }

  const wallMs = Math.max(1, Date.now() - startWall);
  return {
    file,
    messages,
    readings,
    wallMs,
    recordedSpanMs: firstT === undefined || lastT === undefined ? 0 : lastT - firstT,
    messagesPerSecond: (messages * 1000) / wallMs,
    readingsPerSecond: (readings * 1000) / wallMs,
    stoppedBy,
  };
}
