/**
 * The recording format shared by `record`, `replay` and `simulate --out`: NDJSON, one MQTT message per line,
 * gzip-compressed when the file name ends in `.gz`:
 *
 *   {"t":1717344000000,"topic":"cleanstream/v1/readings/paper-01/sim-opcua","payload":{...},"qos":1,"retain":false}
 *
 * `t` is the publish time (ms since the epoch). A payload that is a JSON object or array is stored as that JSON, so a
 * recording can be read and diffed; anything else is stored base64 with `"encoding":"base64"`.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Transform, type Readable, type Writable } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { CleanstreamError, TransportError, type ErrorCode } from '../core/errors.ts';

export type QoS = 0 | 1 | 2;

export interface RecordedMessage {
  t: number;
  topic: string;
  payload: unknown;
  encoding?: 'base64';
  qos: QoS;
  retain: boolean;
}

export function isGzipPath(file: string): boolean {
  return file.endsWith('.gz');
}

/** One line (without the newline) for a message as received from a broker. */
export function recordLine(t: number, topic: string, payload: Buffer, qos: QoS, retain: boolean): string {
  const first = payload[0];
  // only objects and arrays are kept as JSON: a bare JSON string would be indistinguishable from base64
  if (first === 0x7b || first === 0x5b) {
    try {
      const parsed: unknown = JSON.parse(payload.toString('utf8'));
      return JSON.stringify({ t, topic, payload: parsed, qos, retain });
    } catch {
      // not JSON after all: stored as bytes below
    }
  }
  return JSON.stringify({ t, topic, payload: payload.toString('base64'), encoding: 'base64', qos, retain });
}

/** The bytes to publish for a recorded message. */
export function payloadBytes(message: RecordedMessage): Buffer {
  if (message.encoding === 'base64') return Buffer.from(String(message.payload), 'base64');
  return Buffer.from(JSON.stringify(message.payload));
}

export class RecordingError extends CleanstreamError {
  constructor(file: string, line: number, detail: string) {
    super('RECORDING_INVALID', `${file}:${line}: ${detail}`, { file, line });
  }
}

/** Validate one parsed line. */
export function parseRecordLine(file: string, lineNo: number, text: string): RecordedMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new RecordingError(file, lineNo, `not JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null) throw new RecordingError(file, lineNo, 'expected a JSON object');
  const m = value as Record<string, unknown>;
  if (!Number.isFinite(m.t)) throw new RecordingError(file, lineNo, 't must be the publish time in ms');
  if (typeof m.topic !== 'string' || m.topic === '') throw new RecordingError(file, lineNo, 'topic must be a non-empty string');
  if (!('payload' in m)) throw new RecordingError(file, lineNo, 'payload is missing');
  const qos = m.qos ?? 0;
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new RecordingError(file, lineNo, 'qos must be 0, 1 or 2');
  return { t: m.t as number, topic: m.topic, payload: m.payload, ...(m.encoding === 'base64' ? { encoding: 'base64' as const } : {}), qos, retain: m.retain === true };
}

/** Writes lines to a file (gzip by name), honouring the stream's backpressure. */
export interface LineWriter {
  write(line: string): Promise<void>;
  /** Flushes, closes, and returns the bytes written to the file. */
  close(): Promise<number>;
}

const CHUNK_CHARS = 1 << 20;

export function openLineWriter(file: string): LineWriter {
  const out = createWriteStream(file);
  const sink: Writable = isGzipPath(file) ? createGzip() : out;
  if (sink !== out) sink.pipe(out);
  let failure: Error | undefined;
  const fail = (err: Error): void => {
    failure ??= err;
  };
  out.on('error', fail);
  sink.on('error', fail);
  let buffered = '';
  const flush = async (): Promise<void> => {
    if (failure) throw failure;
    if (!buffered) return;
    const chunk = buffered;
    buffered = '';
    if (!sink.write(chunk)) await once(sink, 'drain');
  };
  return {
    async write(line) {
      buffered += `${line}\n`;
      if (buffered.length >= CHUNK_CHARS) await flush();
    },
    async close() {
      await flush();
      const finished = once(out, 'close');
      sink.end();
      await finished;
      if (failure) throw failure;
      return out.bytesWritten;
    },
  };
}

/** The lines of a recording with how many bytes of the file (compressed bytes for .gz) have been read so far. */
export async function* readRecording(file: string): AsyncGenerator<{ message: RecordedMessage; bytesRead: number }> {
  const raw = createReadStream(file);
  let bytesRead = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytesRead += chunk.length;
      done(null, chunk);
    },
  });
  let source: Readable = raw.pipe(counter);
  if (isGzipPath(file)) source = source.pipe(createGunzip());
  const lines = createInterface({ input: source, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      yield { message: parseRecordLine(file, lineNo, line), bytesRead };
    }
  } finally {
    lines.close();
    raw.destroy();
  }
}

/** Broker settings record and replay share. */
export interface FeedBrokerOptions {
  url: string;
  protocolVersion?: 4 | 5;
  clientId?: string;
  username?: string;
  password?: string;
}

/** Connect record's or replay's MQTT client; `code` names the command in the error. */
export async function connectFeedClient(opts: FeedBrokerOptions, code: ErrorCode, reconnectPeriod: number): Promise<MqttClient> {
  const clientOptions: IClientOptions = {
    protocolVersion: opts.protocolVersion ?? 4,
    reconnectPeriod,
    connectTimeout: 10_000,
    clean: true,
    ...(opts.clientId ? { clientId: opts.clientId } : {}),
    ...(opts.username === undefined ? {} : { username: opts.username }),
    ...(opts.password === undefined ? {} : { password: opts.password }),
  };
  try {
    return await connectAsync(opts.url, clientOptions);
  } catch (err) {
    throw new TransportError(code, `cannot connect to ${opts.url}: ${(err as Error).message}`, true, { url: opts.url }, { cause: err });
  }
}
