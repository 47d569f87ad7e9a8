/**
 * The feed commands and ingest run once each as processes, chained as an operator would: `simulate --scenario --out`
 * writes a scenario's feed offline, `replay` publishes it to a broker, `record` captures what the broker carried, and
 * `ingest --config` writes it to InfluxDB. What comes out is what went in: the same messages recorded, every reading
 * of the feed in InfluxDB.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startBroker, type RunningBroker } from '../../../bus/broker.ts';
import { startCli, type CliProcess } from '../../harness/cli.ts';
import { startInfluxd, type RunningInflux } from '../../harness/influxd.ts';
import { until } from '../../harness/wait.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');

interface FeedLine {
  topic: string;
  payload: { readings: { quantity: string }[] };
}

const finished = (cli: CliProcess): Promise<number | null> => cli.exited;

describe('simulate, replay, record and ingest as processes', () => {
  let broker: RunningBroker;
  let influx: RunningInflux;
  let dir: string;

  beforeAll(async () => {
    [broker, influx] = await Promise.all([startBroker(), startInfluxd()]);
    dir = mkdtempSync(path.join(tmpdir(), 'cleanstream-feed-commands-'));
  }, 60_000);
  afterAll(async () => {
    await broker?.stop();
    await influx?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a simulated feed replayed through the broker is recorded message for message and ingested reading for reading', async () => {
    const feedFile = path.join(dir, 'feed.ndjson');
    const simulate = startCli(['simulate', '--scenario', path.join(ROOT, 'simulators/scenarios/meter-offline.yaml'), '--out', feedFile]);
    expect(await finished(simulate), simulate.log.join('\n')).toBe(0);
    const feed = readFileSync(feedFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as FeedLine);
    expect(feed.length).toBeGreaterThan(100);

    const config = path.join(dir, 'ingest.yaml');
    writeFileSync(
      config,
      stringify({
        mqtt: { url: broker.url, protocolVersion: 4 },
        clientId: 'ingest-feed-commands',
        influx: { url: influx.url, database: 'feed_commands' },
        batch: { maxLines: 5000, maxDelayMs: 50 },
        plants: path.join(ROOT, 'deploy/demo/plants.yaml'),
        // the scenario's readings are from 2024: history
        timestamps: { backfill: true },
      }),
    );
    const ingest = startCli(['ingest', '--config', config]);
    const recordFile = path.join(dir, 'recorded.ndjson');
    const record = startCli(['record', '--url', broker.url, '--out', recordFile, '--count', String(feed.length), '--filter', 'cleanstream/v1/readings/#']);
    try {
      await until('ingest running', () => ingest.log.some((l) => l.includes('"ingest running"')), 30_000);
      // ingest and record both connected (record subscribes right after connecting)
      await until('record subscribed', () => broker.aedes.connectedClients >= 2, 30_000);
      await new Promise((r) => setTimeout(r, 500));

      const replay = startCli(['replay', feedFile, '--speed', 'max', '--url', broker.url, '--progress', 'none']);
      expect(await finished(replay), replay.log.join('\n')).toBe(0);
      expect(await finished(record), record.log.join('\n')).toBe(0);
      const recorded = readFileSync(recordFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as FeedLine);
      expect(recorded.map((r) => r.topic)).toEqual(feed.map((f) => f.topic));
      expect(recorded.map((r) => r.payload)).toEqual(feed.map((f) => f.payload));

      const codReadings = feed.reduce((n, f) => n + f.payload.readings.filter((r) => r.quantity === 'cod').length, 0);
      expect(codReadings).toBeGreaterThan(0);
      await until(
        'every COD reading of the feed in InfluxDB',
        async () => (await influx.query<{ count: number }>('SELECT count("cod_quality") AS count FROM "water"', 'feed_commands').catch(() => []))[0]?.count === codReadings,
        30_000,
        200,
      );
    } finally {
      record.proc.kill('SIGTERM');
      ingest.proc.kill('SIGTERM');
      expect(await finished(ingest), ingest.log.join('\n')).toBe(0);
    }
  }, 120_000);
});
