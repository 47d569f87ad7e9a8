/**
 * While ingest is stopped, the embedded broker holds at most maxSessionQueueBytes for its persistent session, then
 * refuses further readings (closing the publisher's connection, so a gateway keeps them in its store-and-forward
 * queue); when ingest returns it receives everything that was accepted, and publishing works again.
 * bench/broker-queue.ts runs the same for minutes at a real rate, with broker RSS and InfluxDB counts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker, type RunningBroker } from '../../../deploy/broker.ts';
import { topics } from '../../../core/topics.ts';
import { until } from '../../harness/wait.ts';

const BOUND = 256 * 1024;
const MESSAGE = 16 * 1024;

describe('embedded broker: the queue of an offline persistent session is bounded', () => {
  let broker: RunningBroker;
  const denied: string[] = [];
  beforeAll(async () => {
    broker = await startBroker({ limits: { maxSessionQueueBytes: BOUND }, onDenied: (w) => denied.push(w) });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  function connectIngest(received: string[]): Promise<MqttClient> {
    const client = mqtt.connect(broker.url, { protocolVersion: 4, clientId: 'cleanstream-ingest', clean: false, reconnectPeriod: 0 });
    client.on('message', (_topic, payload) => received.push(payload.subarray(0, 8).toString()));
    return new Promise((resolve, reject) => client.once('connect', () => resolve(client)).once('error', reject));
  }

  /** Publishes numbered QoS 1 messages one by one until the broker closes the connection (at most `max`). */
  async function publishUntilRefused(from: number, max: number): Promise<{ accepted: number; closed: boolean }> {
    const gw = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: 'cleanstream-gw', reconnectPeriod: 0 });
    let closed = false;
    gw.once('close', () => (closed = true));
    let accepted = 0;
    for (let n = from; n < from + max && !closed; n++) {
      const body = Buffer.alloc(MESSAGE, 0x20);
      body.write(String(n).padStart(8, '0'));
      const acked = await new Promise<boolean>((resolve) => {
        gw.publish(topics.readings('paper-01', 'gw'), body, { qos: 1 }, (err) => resolve(!err));
        gw.once('close', () => resolve(false));
      });
      if (acked) accepted++;
    }
    gw.end(true);
    return { accepted, closed };
  }

  it('refuses readings past the bound while ingest is away, then delivers every accepted one and accepts again', async () => {
    const received: string[] = [];
    const first = await connectIngest(received);
    await first.subscribeAsync(topics.readingsFilter(), { qos: 1 });
    await first.endAsync();

    const { accepted, closed } = await publishUntilRefused(0, 100);
    expect(closed).toBe(true);
    // 16 KiB messages into a 256 KiB bound: refused once the session holds the bound
    expect(accepted).toBeGreaterThanOrEqual(BOUND / MESSAGE - 1);
    expect(accepted).toBeLessThanOrEqual(BOUND / MESSAGE + 1);
    expect(broker.queues.queued('cleanstream-ingest')).toBeLessThan(BOUND + MESSAGE + 1024);
    expect(denied).toContainEqual(expect.stringContaining(`cleanstream-ingest already holds ${BOUND} bytes queued`));
    // until ingest has drained its queue, the gateway is told to come back later rather than let in and cut again
    await expect(mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: 'cleanstream-gw', reconnectPeriod: 0 })).rejects.toMatchObject({ code: 3 });

    const back = await connectIngest(received);
    await until('ingest to receive every accepted reading', () => received.length >= accepted, 10_000);
    expect(received).toEqual(Array.from({ length: accepted }, (_, n) => String(n).padStart(8, '0')));
    await until('the session queue to drain', () => broker.queues.queued('cleanstream-ingest') === 0, 5_000);

    const again = await publishUntilRefused(accepted, 3);
    expect(again).toEqual({ accepted: 3, closed: false });
    await until('ingest to receive the readings sent after it returned', () => received.length === accepted + 3, 5_000);
    await back.endAsync();
  });
});
