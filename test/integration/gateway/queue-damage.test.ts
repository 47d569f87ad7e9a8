/**
 * A gateway whose store-and-forward queue was damaged on disk while it was down (a bad sector in an old segment, not
 * a crash): it starts, sends every batch the damage spared, in order, and says what it lost: a warning naming the
 * segment file, the byte range and the batch ids, `lostBatches` in its stats and health, and a counter in /metrics.
 * Before, the queue refused to open (DISK_QUEUE_CORRUPT thrown while recovering) and the gateway did not start at all.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { startBroker } from '../../../bus/broker.ts';
import { topics } from '../../../bus/topics.ts';
import { DiskQueue } from '../../../core/disk-queue.ts';
import { decodeBatch, encodeBatch, PAYLOAD_VERSION, type ReadingBatch } from '../../../core/reading.ts';
import { parseGatewayConfig } from '../../../gateway/config.ts';
import { startGateway, type HealthReport } from '../../../gateway/main.ts';
import { encodeSpoolRecord } from '../../../gateway/spool-record.ts';
import { freePort } from '../../harness/ports.ts';
import { until } from '../../harness/wait.ts';
import { startTestModbusServer } from './servers.ts';

const workDir = mkdtempSync(path.join(tmpdir(), 'cs-gw-queue-damage-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const GATEWAY = 'gw-dmg';
const batch = (seq: number): ReadingBatch => ({
  v: PAYLOAD_VERSION,
  gateway: GATEWAY,
  plant: 'paper-01',
  seq,
  sentAt: 1_700_000_000_000 + seq * 1000,
  readings: [{ meter: 'outfall-1-cod', quantity: 'cod', unit: 'mg/L', value: seq, ts: 1_700_000_000_000 + seq * 1000, quality: 'good' }],
});

describe('gateway with a damaged store-and-forward queue', () => {
  it('starts, sends every batch before and after the damage, and reports the lost one in its log, stats, health and /metrics', async () => {
    const queueDir = path.join(workDir, 'queue');
    // a previous run queued batches 0-8 (ids 1-9), three to a segment file, and stopped
    const previous = await DiskQueue.open({ dir: queueDir, maxBytes: 1 << 20, segmentBytes: 1 });
    for (let seq = 0; seq < 9; seq += 3) {
      await previous.append([seq, seq + 1, seq + 2].map((s) => encodeSpoolRecord({ topic: topics.readings('paper-01', GATEWAY), readings: 1, payload: encodeBatch(batch(s)) })));
    }
    await previous.close();
    const middle = path.join(queueDir, readdirSync(queueDir).filter((f) => f.endsWith('.log')).sort()[1]!);
    const bytes = readFileSync(middle);
    const second = 8 + bytes.readUInt32LE(0); // the second record of the middle segment: id 5, batch 4
    bytes[second + 8 + 20] = bytes[second + 8 + 20]! ^ 0xff;
    writeFileSync(middle, bytes);

    const broker = await startBroker({ port: 0 });
    const received: ReadingBatch[] = [];
    const observer = await mqtt.connectAsync(broker.url, { protocolVersion: 4, clientId: 'observer-queue-damage' });
    observer.on('message', (_t, payload) => received.push(decodeBatch(payload)));
    await observer.subscribeAsync(topics.readingsFilter(), { qos: 1 });
    const modbusPort = await freePort();
    const modbus = await startTestModbusServer({ port: modbusPort, holding: new Map([[1, new Map([[0, 42]])]]), input: new Map() });
    const logLines: { code?: string; file?: string; bytes?: { from: number; to: number }; ids?: { from: number; to: number }; lostBatches?: number; msg: string }[] = [];
    const logStream = new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(JSON.parse(chunk.toString()) as (typeof logLines)[number]);
        done();
      },
    });
    const reports: HealthReport[] = [];
    const gateway = await startGateway(
      parseGatewayConfig('test gw-dmg', {
        id: GATEWAY,
        mqtt: { url: broker.url },
        dataDir: path.join(workDir, 'gw'),
        health: { intervalMs: 200 },
        metrics: { port: 0 },
        queue: { dir: queueDir },
        inputs: [{ type: 'modbus', host: '127.0.0.1', port: modbusPort, pollIntervalMs: 1000, registers: [{ plant: 'steel-01', meter: 'm0', quantity: 'cod', unit: 'mg/L', area: 'holding', type: 'uint16', address: 0 }] }],
      }),
      { logger: pino({ level: 'warn' }, logStream), onHealth: (report) => reports.push(report) },
    );
    try {
      await until('the queued batches sent', () => received.filter((b) => b.plant === 'paper-01').length >= 8, 10_000);
      expect(received.filter((b) => b.plant === 'paper-01').map((b) => b.seq)).toEqual([0, 1, 2, 3, 5, 6, 7, 8]);
      const warning = logLines.find((l) => l.code === 'DISK_QUEUE_CORRUPT');
      expect(warning).toMatchObject({ file: middle, bytes: { from: second, to: second + 8 + bytes.readUInt32LE(second) }, ids: { from: 5, to: 5 }, lostBatches: 1 });
      expect(warning!.msg).toContain(middle);
      expect(gateway.stats().publisher.lostBatches).toBe(1);
      await until('a health report', () => reports.length > 0, 5_000);
      expect(reports[0]!.lostBatches).toBe(1);
      const metrics = await (await fetch(`${gateway.metricsUrl}/metrics`)).text();
      expect(metrics).toContain(`cleanstream_gateway_batches_lost_total{gateway="${GATEWAY}"} 1`);
      await gateway.flush(10_000);
    } finally {
      await gateway.stop();
      await modbus.stop();
      await observer.endAsync();
      await broker.stop();
    }
  }, 60_000);
});
