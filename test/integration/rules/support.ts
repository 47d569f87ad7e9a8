/**
 * What the rules integration tests share: a webhook receiver that checks signatures and can be told to fail, a
 * waiting helper (the harness's, re-exported), publishing readings, and the rules CLI as a child process.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connectAsync, type MqttClient } from 'mqtt';
import type { Alert } from '../../../rules/alerts.ts';
import { encodeBatch, type BatchReading } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { startCli, type CliProcess } from '../../harness/cli.ts';
import { freePort } from '../../harness/ports.ts';

export { until } from '../../harness/wait.ts';

/** `cleanstream rules` running as a user starts it, with its log lines (stdout and stderr) collected. */
export type RulesProcess = CliProcess;

export function startRulesProcess(config: string, opts: { statsIntervalS?: number; env?: NodeJS.ProcessEnv; args?: string[] } = {}): RulesProcess {
  return startCli(['rules', '--config', config, '--stats-interval', String(opts.statsIntervalS ?? 0), ...(opts.args ?? [])], opts.env);
}

export interface ReceivedNotification {
  path: string;
  key: string;
  at: number;
  body: { idempotencyKey: string; transition: string; region: string | null; alert: { id: string; rule: string; plant: string; severity: string; state: string; message: { en: string; zh: string } } };
}

export interface Receiver {
  url: string;
  /** Every attempt, answered or not: path, key, status given. */
  attempts: { path: string; key: string; status: number; at: number; signatureOk: boolean }[];
  /** Accepted notifications, first delivery of each Idempotency-Key only (as a real receiver deduplicates). */
  accepted: ReceivedNotification[];
  /** Deliveries of a key already accepted (at-least-once shows here). */
  redelivered: number;
  /** How to answer the next attempt at a key (default 200). */
  respond: (key: string, attemptOfKey: number) => { status: number; headers?: Record<string, string> };
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** A regulator's endpoint on 127.0.0.1 that verifies X-Cleanstream-Signature with `secret` and refuses bad ones (401). */
export async function startReceiver(secret: string): Promise<Receiver> {
  const port = await freePort();
  const perKey = new Map<string, number>();
  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}`,
    attempts: [],
    accepted: [],
    redelivered: 0,
    respond: () => ({ status: 200 }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const key = String(req.headers['idempotency-key'] ?? '');
      const given = String(req.headers['x-cleanstream-signature'] ?? '');
      const expected = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
      const signatureOk = given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));
      const n = (perKey.get(key) ?? 0) + 1;
      perKey.set(key, n);
      const answer = signatureOk ? receiver.respond(key, n) : { status: 401 };
      receiver.attempts.push({ path: req.url ?? '', key, status: answer.status, at: Date.now(), signatureOk });
      if (answer.status >= 200 && answer.status < 300) {
        if (receiver.accepted.some((a) => a.key === key)) receiver.redelivered++;
        else receiver.accepted.push({ path: req.url ?? '', key, at: Date.now(), body: JSON.parse(body.toString('utf8')) as ReceivedNotification['body'] });
      }
      res.writeHead(answer.status, answer.headers ?? {}).end();
    });
  });
  server.keepAliveTimeout = 100;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return receiver;
}

/** Every alert transition published on the alert topics from now on (not the retained states a subscriber is sent first), in arrival order. */
export interface AlertWatcher {
  seen: Alert[];
  end(): Promise<void>;
}

export async function watchAlerts(url: string, clientId: string): Promise<AlertWatcher> {
  const client = await connectAsync(url, { protocolVersion: 4, clientId });
  const seen: Alert[] = [];
  client.on('message', (_t, payload, packet) => {
    if (!packet.retain) seen.push(JSON.parse(payload.toString('utf8')) as Alert);
  });
  await client.subscribeAsync(topics.alertsFilter(), { qos: 1 });
  return { seen, end: () => client.endAsync() };
}

let seq = 0;
/** Publish COD readings (one per second from `start`) for a plant's outfall-1-cod meter, QoS 1. */
export async function sendCod(client: MqttClient, plant: string, values: number[], start: number): Promise<void> {
  const readings: BatchReading[] = values.map((value, i) => ({ meter: 'outfall-1-cod', quantity: 'cod', value, unit: 'mg/L', ts: start + i * 1000, quality: 'good' }));
  await client.publishAsync(topics.readings(plant, 'gw-test'), encodeBatch({ v: 1, gateway: 'gw-test', plant, seq: seq++, sentAt: Date.now(), readings }), { qos: 1 });
}
