/**
 * Session takeover, the same scenarios on every broker: a gateway user connecting with ingest's client id must be
 * refused, must get none of ingest's queued readings, and ingest must keep its session and its live connection.
 */
import { expect } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { topics } from '../../../bus/topics.ts';
import { until } from '../../harness/wait.ts';

export const INGEST_ID = 'cleanstream-ingest';
export const takeoverUsers = { gateway: { username: 'gw-paper', password: 'gw-secret' }, ingest: { username: 'ingest', password: 'ingest-secret' } };

export interface TakeoverBroker {
  url: string;
  protocolVersion: 4 | 5;
  /** CONNACK return/reason codes that mean "refused" for a foreign client id on this broker. */
  refusedCodes: number[];
}

function connect(broker: TakeoverBroker, who: keyof typeof takeoverUsers, extra: IClientOptions): Promise<MqttClient> {
  return mqtt.connectAsync(broker.url, { protocolVersion: broker.protocolVersion, ...takeoverUsers[who], reconnectPeriod: 0, ...extra });
}

/** Listens before it connects: a resumed session's queued messages follow the CONNACK at once. */
async function connectIngest(broker: TakeoverBroker, received: string[]): Promise<MqttClient> {
  const ingest = mqtt.connect(broker.url, {
    protocolVersion: broker.protocolVersion,
    ...takeoverUsers.ingest,
    reconnectPeriod: 0,
    clientId: INGEST_ID,
    clean: false,
    ...(broker.protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
  });
  ingest.on('message', (_topic, payload) => received.push(payload.toString()));
  await new Promise<void>((resolve, reject) => {
    ingest.once('connect', () => resolve());
    ingest.once('error', reject);
  });
  return ingest;
}

/** A gateway user that tries ingest's id with a persistent session: refused, and it gets nothing. */
async function attemptTakeover(broker: TakeoverBroker): Promise<string[]> {
  const stolen: string[] = [];
  const refused = await connect(broker, 'gateway', { clientId: INGEST_ID, clean: false, ...(broker.protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}) }).then(
    async (thief) => {
      thief.on('message', (_topic, payload) => stolen.push(payload.toString()));
      await new Promise((r) => setTimeout(r, 300));
      thief.end(true);
      return undefined;
    },
    (err: Error & { code?: number }) => err.code,
  );
  expect(stolen).toEqual([]);
  expect(broker.refusedCodes).toContain(refused);
  return stolen;
}

export async function offlineQueueIsNotStolen(broker: TakeoverBroker): Promise<void> {
  const received: string[] = [];
  const first = await connectIngest(broker, received);
  await first.subscribeAsync(topics.readingsFilter(), { qos: 1 });
  await first.endAsync();

  const gw = await connect(broker, 'gateway', { clientId: 'cleanstream-gw-paper' });
  for (const n of ['r1', 'r2', 'r3']) await gw.publishAsync(topics.readings('paper-01', 'gw-paper'), n, { qos: 1 });
  await gw.endAsync();

  await attemptTakeover(broker);

  const back = await connectIngest(broker, received);
  await until('ingest to receive the readings queued while it was away', () => received.length >= 3, 5_000);
  expect(received).toEqual(['r1', 'r2', 'r3']);
  await back.endAsync();
}

export async function liveSessionIsNotTakenOver(broker: TakeoverBroker): Promise<void> {
  const received: string[] = [];
  const ingest = await connectIngest(broker, received);
  await ingest.subscribeAsync(topics.readingsFilter(), { qos: 1 });
  let closed = false;
  ingest.on('close', () => (closed = true));

  await attemptTakeover(broker);

  const gw = await connect(broker, 'gateway', { clientId: 'cleanstream-gw-paper' });
  await gw.publishAsync(topics.readings('paper-01', 'gw-paper'), 'after', { qos: 1 });
  await gw.endAsync();
  await until('ingest to receive a reading published after the attempt', () => received.includes('after'), 5_000);
  expect(closed).toBe(false);
  await ingest.endAsync();
}
