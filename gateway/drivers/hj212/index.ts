import type { DriverPlugin } from '../../driver.ts';
import { hj212InputSchema } from './config.ts';
import { Hj212Receiver } from './receiver.ts';

export * from './config.ts';
export { Hj212Receiver, peekHeader, type Hj212ReceiverStats } from './receiver.ts';

/** The HJ 212 receiver as a gateway input (`type: hj212`). */
export const hj212Plugin = {
  type: 'hj212',
  schema: hj212InputSchema,
  create: (config, context) => new Hj212Receiver(config, context),
} satisfies DriverPlugin<typeof hj212InputSchema>;
