/**
 * What the publisher does to keep a large gateway cheap, against a real broker and a real disk queue: a big scan is
 * split into bounded batches (in order, nothing lost), and delivered batches are removed from the queue in groups
 * (at most once per ackIntervalMs) rather than with two fsyncs per PUBACK, while flush() still empties the queue.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { startBroker } from '../../../bus/broker.ts';
import { DiskQueue } from '../../../core/disk-queue.ts';
import { decodeBatch, type Reading, type ReadingBatch } from '../../../core/reading.ts';
import { topics } from '../../../bus/topics.ts';
import { Publisher } from '../../../gateway/publisher.ts';
import { until } from '../../harness/wait.ts';

const workDir = mkdtempSync(path.join(tmpdir(), 'cs-gw-batching-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const reading = (plant: string, i: number, ts: number): Reading => ({ plant, meter: `m${i}`, quantity: 'cod', unit: 'mg/L', value: i, ts, quality: 'good' });


describe('publisher batching', () => {
  it('splits large scans into bounded batches and records deliveries in the queue in groups', async () => {
    const broker = await startBroker();
    const received: ReadingBatch[] = [];
    const observer = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    observer.on('message', (_t, payload) => received.push(decodeBatch(payload)));
    await observer.subscribeAsync(topics.readingsFilter(), { qos: 1 });
    const queue = await DiskQueue.open({ dir: path.join(workDir, 'queue'), maxBytes: 64 * 1024 * 1024 });
    const acks: number[] = [];
    const ack = queue.ack.bind(queue);
    queue.ack = (upTo: number) => {
      acks.push(Date.now());
      return ack(upTo);
    };
    const publisher = new Publisher({ gatewayId: 'gw-batch', mqtt: { url: broker.url, protocolVersion: 4 }, queue, rejectedFile: path.join(workDir, 'rejected.jsonl'), maxReadingsPerBatch: 100, ackIntervalMs: 400 });
    try {
      await until('connected', () => publisher.connected, 5_000);
      const scans = 12;
      const startedAt = Date.now();
      for (let s = 0; s < scans; s++) {
        publisher.publishScan([...Array.from({ length: 250 }, (_, i) => reading('paper-01', i, 1_700_000_000_000 + s * 1000)), reading('steel-01', 0, 1_700_000_000_000 + s * 1000)]);
        await new Promise((r) => setTimeout(r, 100));
      }
      await publisher.flush(10_000);
      const elapsed = Date.now() - startedAt;
      expect(queue.length).toBe(0);
      // 250 paper readings -> 100 + 100 + 50, plus one steel batch, per scan.
      await until('every batch at the observer', () => received.length >= scans * 4, 5_000);
      const paper = received.filter((b) => b.plant === 'paper-01');
      expect(paper.every((b) => b.readings.length <= 100)).toBe(true);
      expect(paper.flatMap((b) => b.readings.map((r) => `${r.ts}/${r.meter}`))).toEqual(
        Array.from({ length: scans }, (_, s) => Array.from({ length: 250 }, (_, i) => `${1_700_000_000_000 + s * 1000}/m${i}`)).flat(),
      );
      expect(received.map((b) => b.seq)).toEqual(Array.from({ length: received.length }, (_, i) => i));
      // 48 batches acknowledged one by one over ~1.2 s: grouped, the queue was written a handful of times, not 48.
      expect(acks.length).toBeGreaterThanOrEqual(1);
      expect(acks.length).toBeLessThanOrEqual(Math.ceil(elapsed / 400) + 2);
    } finally {
      await publisher.stop();
      await queue.close();
      await observer.endAsync();
      await broker.stop();
    }
  });
});
