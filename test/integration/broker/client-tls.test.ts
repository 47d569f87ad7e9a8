/**
 * A stage's `mqtt:` TLS settings (caFile, certFile, keyFile) against a broker that requires client certificates
 * (Mosquitto, `require_certificate true`), as a plant deploys it with its own CA: the rules service configured with
 * the CA and its client certificate connects over mqtts:// and does its job; without its certificate the broker
 * refuses it, and without the CA it refuses the broker. The CA and certificates are made by openssl for this test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { encodeBatch } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { startRules } from '../../../rules/service.ts';
import { DEMO_PLANTS } from '../../../rules/test-support.ts';
import { startMosquitto, type RunningMosquitto } from '../../harness/mosquitto.ts';
import { freePort } from '../../harness/ports.ts';
import { until } from '../../harness/wait.ts';

/** A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA. */
function makePki(dir: string): { ca: string; serverCert: string; serverKey: string; clientCert: string; clientKey: string } {
  const file = (name: string): string => path.join(dir, name);
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '1', '-subj', '/CN=cleanstream test CA');
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const [who, cn] of [['server', '127.0.0.1'], ['client', 'rules']] as const) {
    openssl('req', ...ec, '-keyout', file(`${who}.key`), '-out', file(`${who}.csr`), '-subj', `/CN=${cn}`);
    openssl('x509', '-req', '-in', file(`${who}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file(`${who}.pem`), '-days', '1', ...(who === 'server' ? ['-extfile', file('server.ext')] : []));
  }
  // Mosquitto drops to its own user when started as root: it must be able to read them
  chmodSync(dir, 0o755);
  for (const f of ['ca.pem', 'server.pem', 'server.key']) chmodSync(file(f), 0o644);
  return { ca: file('ca.pem'), serverCert: file('server.pem'), serverKey: file('server.key'), clientCert: file('client.pem'), clientKey: file('client.key') };
}

describe('client TLS to a broker that requires client certificates', () => {
  let dir: string;
  let pki: ReturnType<typeof makePki>;
  let mosquitto: RunningMosquitto;
  let tlsUrl: string;
  let plain: MqttClient;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-client-tls-'));
    pki = makePki(dir);
    const tlsPort = await freePort();
    mosquitto = await startMosquitto({ extraConfig: [`listener ${tlsPort} 127.0.0.1`, `cafile ${pki.ca}`, `certfile ${pki.serverCert}`, `keyfile ${pki.serverKey}`, 'require_certificate true', 'tls_version tlsv1.2'] });
    tlsUrl = `mqtts://127.0.0.1:${tlsPort}`;
    // the test's gateway and watcher use the plain loopback listener
    plain = await mqtt.connectAsync(mosquitto.url, { protocolVersion: 4, clientId: 'tls-test-plain' });
  }, 30_000);
  afterAll(async () => {
    await plain?.endAsync();
    await mosquitto?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const rulesConfig = (mqttTls: Record<string, string>) =>
    ({
      mqtt: { url: tlsUrl, protocolVersion: 4, ...mqttTls },
      clientId: 'rules-tls',
      influx: { url: 'http://127.0.0.1:9', database: 'cleanstream', createDatabase: false },
      plants: DEMO_PLANTS,
      eventTime: { allowedLatenessMs: 0 },
      rules: [{ id: 'cod-limit', kind: 'limit', severity: 'major', selector: { quantity: 'cod' }, limit: { max: 100 } }],
    }) as never;

  it('the rules service with caFile, certFile and keyFile connects over TLS and publishes its alert', async () => {
    const alerts: string[] = [];
    plain.on('message', (topic, payload, packet) => {
      if (!packet.retain) alerts.push(`${topic} ${(JSON.parse(payload.toString()) as { state: string }).state}`);
    });
    await plain.subscribeAsync(topics.alertsFilter(), { qos: 1 });
    const rules = await startRules(rulesConfig({ caFile: pki.ca, certFile: pki.clientCert, keyFile: pki.clientKey }), { logger: pino({ level: 'silent' }), connectTimeoutMs: 10_000 });
    try {
      expect(rules.stats().connected).toBe(true);
      const readings = [{ meter: 'outfall-1-cod', quantity: 'cod' as const, value: 150, unit: 'mg/L', ts: Date.now() - 1000, quality: 'good' as const }];
      await plain.publishAsync(topics.readings('paper-01', 'gw-tls'), encodeBatch({ v: 1, gateway: 'gw-tls', plant: 'paper-01', seq: 0, sentAt: Date.now(), readings }), { qos: 1 });
      await until('the alert over TLS', () => alerts.length > 0, 10_000);
      expect(alerts).toEqual([`${topics.alert('paper-01', 'cod-limit', 'outfall-1-cod')} raised`]);
    } finally {
      await rules.stop();
    }
  }, 30_000);

  it('is refused without its client certificate, and refuses a broker whose CA it was not given', async () => {
    /** The MQTT errors the service logs while it tries, and the error it gives up with. */
    const attempt = async (mqttTls: Record<string, string>): Promise<{ errors: string[]; failure: string }> => {
      const errors: string[] = [];
      const logger = pino({ level: 'error' }, { write: (line: string) => void errors.push((JSON.parse(line) as { err?: string }).err ?? line) });
      const failure = await startRules(rulesConfig(mqttTls), { logger, connectTimeoutMs: 3000 }).then(
        async (rules) => {
          await rules.stop();
          return 'connected';
        },
        (err: Error) => err.message,
      );
      return { errors, failure };
    };
    const noClientCert = await attempt({ caFile: pki.ca });
    expect(noClientCert.failure).toMatch(/no connection to the broker/);
    expect(noClientCert.errors[0]).toMatch(/alert certificate required/);
    const noCa = await attempt({ certFile: pki.clientCert, keyFile: pki.clientKey });
    expect(noCa.failure).toMatch(/no connection to the broker/);
    expect(noCa.errors[0]).toMatch(/self-signed certificate in certificate chain/);
  }, 30_000);
});
