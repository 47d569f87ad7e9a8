import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../core/errors.ts';
import { loadPlantRegistry } from '../core/plants.ts';
import { loadIngestConfig, parseIngestConfig } from './config.ts';

describe('ingest config', () => {
  it('loads the sample file with its defaults, resolving the plant registry next to it', () => {
    const config = loadIngestConfig(fileURLToPath(new URL('./sample.yaml', import.meta.url)), {});
    expect(config).toMatchObject({
      mqtt: { url: 'mqtt://127.0.0.1:1883', protocolVersion: 4 },
      subscription: 'cleanstream/v1/readings/+/+',
      clientId: 'cleanstream-ingest',
      influx: { url: 'http://127.0.0.1:8086', database: 'cleanstream', createDatabase: true },
      batch: { maxLines: 5000, maxDelayMs: 1000, maxUnackedMessages: 1000 },
      retry: { maxAttempts: 6, pauseMs: 5000 },
    });
    expect(loadPlantRegistry(config.plants!).plant('paper-01')).toBeDefined();
  });

  it('fills every default when batch and retry are left out', () => {
    const config = parseIngestConfig('test', { mqtt: { url: 'mqtt://b:1883' }, influx: { url: 'http://i:8086', database: 'd' } });
    expect(config.batch).toEqual({ maxLines: 5000, maxDelayMs: 1000, maxUnackedMessages: 1000 });
    expect(config.retry.maxAttempts).toBe(6);
  });

  it('checks timestamps within 5 minutes ahead and 30 days behind, and keeps 64 KiB of a dead letter, unless told otherwise', () => {
    const config = parseIngestConfig('test', { mqtt: { url: 'mqtt://b:1883' }, influx: { url: 'http://i:8086', database: 'd' } });
    expect(config.timestamps).toEqual({ maxFutureSkewMs: 300_000, maxAgeMs: 30 * 86_400_000, backfill: false });
    expect(config.deadLetter).toEqual({ maxPayloadBytes: 65_536 });
    const attempt = (): unknown => parseIngestConfig('ingest.yaml', { mqtt: { url: 'mqtt://b' }, influx: { url: 'http://i', database: 'd' }, timestamps: { maxAgeMs: -1, backfill: 'yes' }, deadLetter: { maxPayloadBytes: 10 } });
    expect(attempt).toThrow(/ingest\.yaml[\s\S]*timestamps\.maxAgeMs[\s\S]*timestamps\.backfill[\s\S]*deadLetter\.maxPayloadBytes/);
  });

  it('names the field and what was expected', () => {
    const attempt = (): unknown => parseIngestConfig('ingest.yaml', { mqtt: { url: 'http://b' }, influx: { url: 'http://i:8086', database: 'd' }, batch: { maxLines: 0 } });
    expect(attempt).toThrow(ConfigError);
    try {
      attempt();
    } catch (err) {
      expect((err as ConfigError).issues.map((i) => i.path).sort()).toEqual(['batch.maxLines', 'mqtt.url']);
    }
  });

  it('refuses a second, different client id under mqtt', () => {
    expect(() => parseIngestConfig('t', { mqtt: { url: 'mqtt://b', clientId: 'x' }, clientId: 'y', influx: { url: 'http://i', database: 'd' } })).toThrow(/mqtt\.clientId/);
  });
});
