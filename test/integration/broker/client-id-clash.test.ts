/**
 * Two processes started with the same client id (a copied config, a second ingest by mistake) keep taking the session
 * from each other. Each says so in its log, on a 3.1.1 broker (which only closes the older connection) and on an
 * MQTT 5 broker.
 */
import { afterAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker } from '../../../bus/broker.ts';
import { watchClientIdClash } from '../../../bus/client-id-clash.ts';
import { startMosquitto } from '../../harness/mosquitto.ts';
import { until } from '../../harness/wait.ts';

const clients: MqttClient[] = [];
afterAll(() => {
  for (const c of clients) c.end(true);
});

async function twins(url: string, protocolVersion: 4 | 5): Promise<string[][]> {
  const reports: string[][] = [[], []];
  for (const i of [0, 1]) {
    const client = mqtt.connect(url, { clientId: 'cleanstream-ingest', protocolVersion, clean: false, reconnectPeriod: 300, ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}) });
    clients.push(client);
    watchClientIdClash(client, 'cleanstream-ingest', (message) => reports[i]!.push(message));
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  }
  return reports;
}

describe('a client id used by two processes', () => {
  it('is reported by both on the embedded broker (MQTT 3.1.1)', async () => {
    const broker = await startBroker();
    try {
      const reports = await twins(broker.url, 4);
      await until('both clients to report the clash', () => reports.every((r) => r.length > 0), 20_000, 50);
      for (const r of reports) expect(r[0]).toMatch(/another client may be connecting with our client id cleanstream-ingest/);
    } finally {
      for (const c of clients.splice(0)) c.end(true);
      await broker.stop();
    }
  });

  // Mosquitto 2.0.11 closes the older connection without a DISCONNECT 0x8E (seen here), so both see quick closes
  it('is reported by both on Mosquitto (MQTT 5)', async () => {
    const mosquitto = await startMosquitto();
    try {
      const reports = await twins(mosquitto.url, 5);
      await until('both clients to report the clash', () => reports.every((r) => r.length > 0), 20_000, 50);
      for (const r of reports) expect(r[0]).toMatch(/client id cleanstream-ingest/);
    } finally {
      for (const c of clients.splice(0)) c.end(true);
      await mosquitto.stop();
    }
  });
});
