/**
 * The NATS JetStream transport's settings (validated like every config section, core/config.ts): which servers, the
 * streams it creates or checks at start, how readings are partitioned.
 */
import { z } from 'zod';
import { DEFAULT_PARTITIONS } from './subjects.ts';

const streamName = z.string().regex(/^[A-Za-z0-9_-]+$/, 'a stream name: letters, digits, _ and -');

export const natsTransportSchema = z
  .object({
    /** Client URLs of the cluster's nodes (`nats://host:4222`): the client fails over between them. */
    servers: z.array(z.string().regex(/^(nats|tls):\/\/[^\s/]+$/, 'nats://host:port')).min(1),
    streams: z
      .object({
        readings: streamName.default('READINGS'),
        alerts: streamName.default('ALERTS'),
        deadLetters: streamName.default('DEADLETTERS'),
      })
      .strict()
      .default({ readings: 'READINGS', alerts: 'ALERTS', deadLetters: 'DEADLETTERS' }),
    /** Copies of each stream on distinct nodes (1, 3 or 5; a 3-node cluster survives one node down with 3). */
    replicas: z.union([z.literal(1), z.literal(3), z.literal(5)]).default(3),
    /** How long readings are kept (0: no limit by age). */
    readingsMaxAgeSeconds: z.number().int().nonnegative().default(7 * 24 * 3600),
    /** The most bytes readings may take on each replica (-1: no limit); the oldest go first. */
    readingsMaxBytes: z.number().int().min(-1).default(-1),
    /** Partitions of readings by plant: must equal the `mappings` of the servers' config (partitionMappingConfig). */
    partitions: z.number().int().min(1).max(1024).default(DEFAULT_PARTITIONS),
    /** Messages handed out and not acknowledged, at most, per consumer: the server sends no more (backpressure). */
    maxAckPending: z.number().int().positive().default(1000),
    /** A message handed out and not acknowledged in this time (a consumer that crashed) is delivered again. */
    ackWaitSeconds: z.number().int().positive().default(30),
  })
  .strict();

export type NatsTransportConfig = z.output<typeof natsTransportSchema>;
export type NatsTransportInput = z.input<typeof natsTransportSchema>;
