import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config.ts';
import { ConfigError } from '../../core/errors.ts';
import { natsTransportSchema } from './config.ts';

describe('NATS transport config', () => {
  it('fills the defaults: 3 replicas, 16 partitions, the stream names, 7 days of readings', () => {
    expect(parseConfig('bus.yaml', { servers: ['nats://127.0.0.1:4222'] }, natsTransportSchema)).toEqual({
      servers: ['nats://127.0.0.1:4222'],
      streams: { readings: 'READINGS', alerts: 'ALERTS', deadLetters: 'DEADLETTERS' },
      replicas: 3,
      readingsMaxAgeSeconds: 604_800,
      readingsMaxBytes: -1,
      partitions: 16,
      maxAckPending: 1000,
      ackWaitSeconds: 30,
    });
  });

  it('fails naming the file, each field path and what was expected', () => {
    let error: unknown;
    try {
      parseConfig('bus.yaml', { servers: ['127.0.0.1:4222'], replicas: 2, streams: { readings: 'a.b' }, partitions: 0, extra: 1 }, natsTransportSchema);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues.map((i) => i.path);
    expect(issues).toEqual(expect.arrayContaining(['servers[0]', 'replicas', 'streams.readings', 'partitions', '']));
    expect((error as Error).message).toContain('bus.yaml');
    expect((error as Error).message).toContain('servers[0]: nats://host:port');
  });
});
