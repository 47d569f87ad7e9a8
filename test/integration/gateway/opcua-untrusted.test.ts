/**
 * The OPC UA input refuses a server whose certificate it does not trust (the default: `pki.trustUnknownServerCertificate`
 * false), also when that certificate is given in the config (`pki.serverCertificateFile`): nothing is read from a
 * server that could be an impostor. The log says what to do, the server's certificate waits in the PKI's rejected/
 * folder, and once an operator moves it to trusted/certs (and the server trusts the gateway) the gateway reads,
 * without a restart.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { startBroker } from '../../../bus/broker.ts';
import { decodeBatch, type ReadingBatch } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { parseGatewayConfig } from '../../../gateway/config.ts';
import { startGateway } from '../../../gateway/main.ts';
import { freePort } from '../../harness/ports.ts';
import { until } from '../../harness/wait.ts';
import { startTestOpcuaServer } from './servers.ts';

const INTERVAL_MS = 100;
const workDir = mkdtempSync(path.join(tmpdir(), 'cs-gw-opcua-untrusted-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

type LogLine = { code?: string; msg?: string };

describe('OPC UA server with a certificate the gateway does not trust', () => {
  it('is refused with the way to trust it, read from nothing, and read once an operator trusts it', async () => {
    const server = await startTestOpcuaServer({
      port: await freePort(),
      pkiDir: path.join(workDir, 'server-pki'),
      names: ['cod'],
      intervalMs: INTERVAL_MS,
      valueAt: (_name, tick) => tick / 1000,
      secure: { username: 'gateway', password: 'correct horse' },
    });
    const broker = await startBroker();
    const observer = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    const received: ReadingBatch[] = [];
    observer.on('message', (_t, payload) => received.push(decodeBatch(payload)));
    await observer.subscribeAsync(topics.readingsFilter(), { qos: 1 });

    // The server's certificate is known to the gateway's config (node-opcua's server needs it for GetEndpoints on a
    // secure channel) but it is not in the trust list.
    const pkiDir = path.join(workDir, 'client-pki');
    const serverCertificateFile = path.join(workDir, 'server-certificate.der');
    writeFileSync(serverCertificateFile, server.certificate);
    const lines: LogLine[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
    const gateway = await startGateway(
      parseGatewayConfig('test gw-untrusted', {
        id: 'gw-untrusted',
        mqtt: { url: broker.url },
        dataDir: path.join(workDir, 'gw'),
        health: { intervalMs: 0 },
        inputs: [
          {
            type: 'opcua',
            endpoint: server.endpoint,
            securityMode: 'SignAndEncrypt',
            securityPolicy: 'Basic256Sha256',
            user: { username: 'gateway', password: 'correct horse' },
            pki: { dir: pkiDir, serverCertificateFile },
            publishingIntervalMs: INTERVAL_MS,
            nodes: [{ plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', unit: 'mg/L', nodeId: 'ns=1;s=cod', samplingIntervalMs: INTERVAL_MS }],
          },
        ],
      }),
      { logger },
    );
    try {
      const rejectedDir = path.join(pkiDir, 'rejected');
      const rejectedCertificates = () => (existsSync(rejectedDir) ? readdirSync(rejectedDir).filter((f) => /\.(der|pem)$/.test(f)) : []);
      await until('the refusal', () => lines.some((l) => l.code === 'OPCUA_CONNECT'), 20_000);
      expect(lines.find((l) => l.code === 'OPCUA_CONNECT')!.msg).toContain(`is not trusted: BadCertificateUntrusted`);
      expect(lines.find((l) => l.code === 'OPCUA_CONNECT')!.msg).toContain(`move it from ${rejectedDir} to ${path.join(pkiDir, 'trusted', 'certs')}`);
      expect(rejectedCertificates()).toHaveLength(1);
      // retries go on (with backoff) and keep being refused: give them a few seconds
      await new Promise((r) => setTimeout(r, 3000));
      expect(received).toEqual([]);
      expect(gateway.stats().inputs[0]!.state).not.toBe('connected');

      // the operator trusts the server's certificate, and the server the gateway's (made on its first connection)
      const rejected = rejectedCertificates();
      expect(rejected).toHaveLength(1);
      renameSync(path.join(rejectedDir, rejected[0]!), path.join(pkiDir, 'trusted', 'certs', rejected[0]!));
      const clientCertificate = path.join(pkiDir, 'own', 'certs', 'client_certificate.pem');
      const serverRejected = path.join(workDir, 'server-pki', 'server', 'rejected');
      await until('the server to put the gateway\'s certificate aside', () => existsSync(clientCertificate) && existsSync(serverRejected) && readdirSync(serverRejected).length > 0, 30_000);
      await server.trustClientCertificate(clientCertificate);
      await until('readings once the server is trusted', () => received.some((b) => b.gateway === 'gw-untrusted'), 40_000);
      expect(gateway.stats().inputs[0]!.state).toBe('connected');
    } catch (err) {
      const tree = (d: string): string[] => (existsSync(d) ? readdirSync(d, { recursive: true }).map(String) : []);
      throw new Error(`${(err as Error).message}\nreceived ${received.length}; input ${JSON.stringify(gateway.stats().inputs[0])}; pki ${tree(pkiDir).join(' ')}\nlog:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`, { cause: err });
    } finally {
      await gateway.stop();
      await observer.endAsync();
      await broker.stop();
      await server.stop();
    }
  }, 90_000);
});
