/**
 * The OPC UA input against a server that offers only Basic256Sha256 + SignAndEncrypt and accepts one user name
 * (a node-opcua OPCUAServer with a userManager), trusting only client certificates it was told to trust.
 * What users rely on: the gateway does not trust an unknown server by default (the server's certificate is put in
 * the client's trusted folder here, as an operator would); until the server trusts the gateway's certificate the
 * gateway says so and keeps retrying, then reads without being restarted; a wrong password is a clear error; nodes
 * given by browse path are found; absolute and percent (of EURange) deadbands filter small changes at the server;
 * after the server restarts, the secure session and its monitored items are restored without restarting the gateway.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
import { startTestOpcuaServer } from './servers.ts';
import { until } from '../../harness/wait.ts';

const INTERVAL_MS = 100;
const workDir = mkdtempSync(path.join(tmpdir(), 'cs-gw-opcua-sec-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));


/** Small steps: 0.25 per tick on a sawtooth 0..50, so deadbands of 1 unit or 2 % (of 0..100) drop most changes. */
const valueAt = (_name: string, tick: number): number => ((tick / INTERVAL_MS) % 200) * 0.25;

type LogLine = { code?: string; msg?: string };

describe('OPC UA with Basic256Sha256 SignAndEncrypt and a user name', () => {
  it('connects once trusted, reads nodes by NodeId and browse path, applies deadbands, names a wrong password, and resumes after a server restart', async () => {
    const serverOptions = {
      port: await freePort(),
      pkiDir: path.join(workDir, 'server-pki'),
      names: ['cod', 'ph', 'flow', 'level'],
      analog: ['level'],
      intervalMs: INTERVAL_MS,
      valueAt,
      secure: { username: 'gateway', password: 'correct horse' },
    };
    let server = await startTestOpcuaServer(serverOptions);
    const broker = await startBroker();
    const observer = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    const received: ReadingBatch[] = [];
    observer.on('message', (_t, payload) => received.push(decodeBatch(payload)));
    await observer.subscribeAsync(topics.readingsFilter(), { qos: 1 });

    // An operator installs the server's certificate in the gateway's trust list; unknown servers are refused by default.
    const pkiDir = path.join(workDir, 'client-pki');
    mkdirSync(path.join(pkiDir, 'trusted', 'certs'), { recursive: true });
    writeFileSync(path.join(pkiDir, 'trusted', 'certs', 'test-server.der'), server.certificate);

    const node = { plant: 'paper-01', quantity: 'cod', unit: 'mg/L' };
    const config = (id: string, password: string) =>
      parseGatewayConfig(`test ${id}`, {
        id,
        mqtt: { url: broker.url },
        dataDir: path.join(workDir, id),
        health: { intervalMs: 0 },
        inputs: [
          {
            type: 'opcua',
            endpoint: server.endpoint,
            securityMode: 'SignAndEncrypt',
            securityPolicy: 'Basic256Sha256',
            user: { username: 'gateway', password },
            // node-opcua's server refuses even GetEndpoints on an unsecured channel, so its certificate is given.
            pki: { dir: pkiDir, serverCertificateFile: path.join(pkiDir, 'trusted', 'certs', 'test-server.der') },
            publishingIntervalMs: INTERVAL_MS,
            nodes: [
              { ...node, meter: 'by-node-id', nodeId: 'ns=1;s=cod', samplingIntervalMs: INTERVAL_MS },
              { ...node, meter: 'by-browse-path', browsePath: '/Objects/1:ph', samplingIntervalMs: INTERVAL_MS },
              { ...node, meter: 'absolute-deadband', nodeId: 'ns=1;s=flow', samplingIntervalMs: INTERVAL_MS, deadband: { type: 'absolute', value: 1 } },
              { ...node, meter: 'percent-deadband', nodeId: 'ns=1;s=level', samplingIntervalMs: INTERVAL_MS, deadband: { type: 'percent', value: 2 } },
            ],
          },
        ],
      });
    const lines: LogLine[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
    const gateway = await startGateway(config('gw-sec', 'correct horse'), { logger });
    let intruder: Awaited<ReturnType<typeof startGateway>> | undefined;
    try {
      // The server does not know the gateway's certificate yet: a clear, retried error.
      await until('the refused first connection', () => lines.some((l) => l.code === 'OPCUA_CONNECT'), 20_000);
      expect(received).toHaveLength(0);
      await server.trustClientCertificate(path.join(pkiDir, 'own', 'certs', 'client_certificate.pem'));

      const mine = (meter: string) => received.flatMap((b) => b.readings.filter((r) => r.meter === meter));
      await until('readings of every node', () => ['by-node-id', 'by-browse-path', 'absolute-deadband', 'percent-deadband'].every((m) => mine(m).length >= 3) && mine('by-node-id').length >= 40, 40_000);
      expect(gateway.stats().inputs[0]!.state).toBe('connected');
      for (const meter of ['by-node-id', 'by-browse-path']) {
        for (const r of mine(meter)) expect(r.value).toBe(valueAt(meter, r.ts));
      }
      // Without a deadband every 0.25 step is reported; with one, consecutive reported values differ by more
      // than the deadband (1 unit; 2 % of the 0..100 EURange = 2), except where the sawtooth wraps around.
      const steps = (meter: string) => {
        const values = mine(meter).map((r) => r.value!);
        return values.slice(1).map((v, i) => Math.abs(v - values[i]!));
      };
      expect(Math.min(...steps('by-node-id'))).toBeLessThanOrEqual(0.25);
      expect(steps('absolute-deadband').every((d) => d > 1)).toBe(true);
      expect(steps('percent-deadband').every((d) => d > 2)).toBe(true);
      expect(mine('absolute-deadband').length).toBeLessThan(mine('by-node-id').length / 2);

      // The same certificate with a wrong password: refused with a message that says what to check.
      intruder = await startGateway(config('gw-wrong-password', 'wrong'), { logger });
      await until('the refused session', () => lines.some((l) => l.code === 'OPCUA_CONNECT' && /user|Identity|Access/i.test(l.msg ?? '') && /gateway/.test(l.msg ?? '')), 20_000);
      expect(received.filter((b) => b.gateway === 'gw-wrong-password')).toHaveLength(0);
      await intruder.stop();
      intruder = undefined;

      // The server restarts (same port, same PKI: its certificate and its trust in ours survive). The gateway, not
      // restarted, opens a new secure channel, signs in again and restores its monitored items: data resumes.
      await server.stop();
      const restartedAt = Date.now();
      server = await startTestOpcuaServer(serverOptions);
      await until(
        'readings of every node from the restarted server',
        () => ['by-node-id', 'by-browse-path', 'absolute-deadband', 'percent-deadband'].every((m) => mine(m).some((r) => r.ts > restartedAt)) && mine('by-node-id').filter((r) => r.ts > restartedAt).length >= 10,
        40_000,
      );
      expect(gateway.stats().inputs[0]!.state).toBe('connected');
      for (const meter of ['by-node-id', 'by-browse-path']) {
        for (const r of mine(meter).filter((x) => x.ts > restartedAt)) expect(r.value).toBe(valueAt(meter, r.ts));
      }
    } catch (err) {
      throw new Error(`${(err as Error).message}\nlog:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`, { cause: err });
    } finally {
      await intruder?.stop();
      await gateway.stop();
      await observer.endAsync();
      await broker.stop();
      await server.stop();
    }
  });
});
