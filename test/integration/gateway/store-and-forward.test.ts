/**
 * Store-and-forward through a broker outage and a gateway crash, with the real command (`node bin/cleanstream.js
 * gateway --config <file>`) as a child process. Mid-stream the broker goes away for about 10 s (the issue says 30 s;
 * the mechanism does not depend on the length, and the test set must stay short); while it is away and batches are
 * queued, the gateway is SIGKILLed and started again. What users rely on: every batch that was in the disk queue
 * when the gateway died arrives once the broker is back, nothing is missing between the first and the last batch
 * (seq is the queue position, so a gap would show), and each meter's readings arrive in time order.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { DiskQueue } from '../../../core/disk-queue.ts';
import { decodeBatch, type ReadingBatch } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { decodeSpoolRecord } from '../../../gateway/spool-record.ts';
import { freePort } from '../../harness/ports.ts';
import { startTestModbusServer } from './servers.ts';
import { until } from '../../harness/wait.ts';
import { startCli, type CliProcess } from '../../harness/cli.ts';

const POLL_MS = 100;
/** How long after its first tick a starting gateway may still be opening its Modbus connection (its ticks then are bad). */
const START_WINDOW_MS = 1_000;
const workDir = mkdtempSync(path.join(tmpdir(), 'cs-gw-saf-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));


function startGatewayProcess(configFile: string): CliProcess {
  return startCli(['gateway', '--config', configFile, '--log-level', 'warn', '--stats-interval', '0']);
}

async function queuedSeqs(dir: string): Promise<number[]> {
  const queue = await DiskQueue.open({ dir, maxBytes: 1024 * 1024 * 1024 });
  try {
    const records = await queue.read(100_000);
    return records.map((r) => decodeBatch(decodeSpoolRecord(r.data).payload).seq);
  } finally {
    await queue.close();
  }
}

describe('store-and-forward across a broker outage and a gateway SIGKILL', () => {
  it('delivers every queued batch, with no gap in seq and each meter in time order', async () => {
    const modbusPort = await freePort();
    const device = await startTestModbusServer({ port: modbusPort, holding: new Map([[1, new Map([[0, 42], [1, 7]])]]), input: new Map() });
    let broker: RunningBroker = await startBroker({ port: 0 });
    const brokerPort = broker.port;
    const dataDir = path.join(workDir, 'gw');
    const configFile = path.join(workDir, 'gateway.yaml');
    writeFileSync(
      configFile,
      `id: gw-saf
mqtt: { url: mqtt://127.0.0.1:${brokerPort}, clientId: gw-saf }
dataDir: ${dataDir}
health: { intervalMs: 0 }
inputs:
  - type: modbus
    host: 127.0.0.1
    port: ${modbusPort}
    pollIntervalMs: ${POLL_MS}
    registers:
      - { plant: paper-01, meter: outfall-1-cod, quantity: cod, unit: mg/L, area: holding, address: 0, type: uint16 }
      - { plant: steel-01, meter: stack-1-so2, quantity: so2, unit: mg/m3, area: holding, address: 1, type: uint16 }
`,
    );
    const received: ReadingBatch[] = [];
    const observe = async (url: string): Promise<mqtt.MqttClient> => {
      const client = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: `observer-${Date.now()}` });
      client.on('message', (_t, payload) => received.push(decodeBatch(payload)));
      await client.subscribeAsync(topics.readingsFilter(), { qos: 1 });
      return client;
    };
    let observer = await observe(broker.url);
    let gateway = startGatewayProcess(configFile);
    try {
      await until('batches flowing', () => received.length >= 10, 20_000);

      // The broker goes away mid-stream.
      await observer.endAsync();
      await broker.stop();
      const outageStarted = Date.now();
      await new Promise((r) => setTimeout(r, 3_000));

      // The gateway dies with batches queued, and starts again while the broker is still away.
      gateway.proc.kill('SIGKILL');
      await gateway.exited;
      const firstRunLog = gateway.log;
      const queuedAtKill = await queuedSeqs(path.join(dataDir, 'queue'));
      expect(queuedAtKill.length).toBeGreaterThanOrEqual(20); // ~3 s at 2 batches per 100 ms scan
      gateway = startGatewayProcess(configFile);
      await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - outageStarted))));

      broker = await startBroker({ port: brokerPort });
      observer = await observe(broker.url);
      const lastQueued = queuedAtKill.at(-1)!;
      await until('the queued batches and newer ones after the outage', () => received.some((b) => b.seq > lastQueued + 40), 30_000);
      gateway.proc.kill('SIGTERM');
      expect(await gateway.exited).toBe(0);
      await new Promise((r) => setTimeout(r, 200));

      const bySeq = new Map<number, ReadingBatch>();
      for (const b of received) if (!bySeq.has(b.seq)) bySeq.set(b.seq, b);
      // Every batch queued when the gateway was killed was delivered.
      expect(queuedAtKill.filter((seq) => !bySeq.has(seq))).toEqual([]);
      // Nothing missing from the first batch to the last: the queue lost nothing, through the outage and the kill.
      const seqs = [...bySeq.keys()].sort((a, b) => a - b);
      expect(seqs[0]).toBe(0);
      expect(seqs.at(-1)! - seqs[0]! + 1).toBe(seqs.length);
      // Per meter, readings arrive in time order (first copy of each batch, in arrival order).
      const firstCopies = received.filter((b, i) => received.findIndex((x) => x.seq === b.seq) === i);
      for (const meter of ['outfall-1-cod', 'stack-1-so2']) {
        const stamps = firstCopies.flatMap((b) => b.readings.filter((r) => r.meter === meter).map((r) => r.ts));
        expect(stamps.length).toBeGreaterThan(50);
        for (let i = 1; i < stamps.length; i++) expect(stamps[i]!, `${meter} reading ${i}`).toBeGreaterThan(stamps[i - 1]!);
      }
      // The device stays up and its registers never change: every good reading carries the register's value, through
      // the queue, the kill and the replay.
      const registerValue: Record<string, number> = { 'outfall-1-cod': 42, 'stack-1-so2': 7 };
      const all = firstCopies.flatMap((b) => b.readings);
      const wrong = all.filter((r) => r.quality === 'good' && r.value !== registerValue[r.meter]);
      expect(wrong, 'good readings with a value the register does not hold').toEqual([]);
      // Bad readings (value-less, never a wrong value) only where a user expects them: the ticks a gateway process polls
      // in its first second, before its Modbus connection is open (each start: the first run's and the restarted
      // one's, whose batches are those after the last one queued at the kill); anywhere else only a poll that timed out
      // on a loaded machine, which the gateway logs (MODBUS_REQUEST), and at most a few percent of the readings.
      const bad = firstCopies.flatMap((b) => b.readings.filter((r) => r.quality !== 'good').map((r) => ({ ...r, seq: b.seq })));
      expect(bad.every((r) => r.quality === 'bad' && r.value === null), JSON.stringify(bad)).toBe(true);
      const firstTs = (run: ReadingBatch[]) => Math.min(...run.flatMap((b) => b.readings.map((r) => r.ts)));
      const startOfRun = [firstTs(firstCopies.filter((b) => b.seq <= lastQueued)), firstTs(firstCopies.filter((b) => b.seq > lastQueued))];
      const inStartWindow = (r: { ts: number; seq: number }) => r.ts < startOfRun[r.seq <= lastQueued ? 0 : 1]! + START_WINDOW_MS;
      const unexplained = bad.filter((r) => !inStartWindow(r));
      if (unexplained.length > 0) expect([...firstRunLog, ...gateway.log].some((l) => l.includes('MODBUS_REQUEST')), JSON.stringify(unexplained)).toBe(true);
      expect(bad.length, `bad readings of ${all.length}`).toBeLessThanOrEqual(Math.ceil(0.03 * all.length));
    } catch (err) {
      throw new Error(`${(err as Error).message}\ngateway output:\n${gateway.log.join('\n')}`, { cause: err });
    } finally {
      if (gateway.proc.exitCode === null) gateway.proc.kill('SIGKILL');
      await observer.endAsync().catch(() => undefined);
      await broker.stop();
      await device.stop();
    }
  });
});
