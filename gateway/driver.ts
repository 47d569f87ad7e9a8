/**
 * The one interface every input driver implements (Telegraf's shape): a driver is created from its validated config,
 * started, stopped, and emits the readings of each scan. Drivers never publish to MQTT themselves; the gateway's
 * publisher does, so that batching, ordering and store-and-forward are the same for every protocol.
 *
 * Events:
 *   'scan'   (readings: Reading[])   the readings of one poll cycle or one burst of subscription notifications
 *   'error'  (err: CleanstreamError) a problem worth a log line (device unreachable, bad register); the driver
 *                                    keeps retrying by itself and never throws out of its timers
 *   'state'  (state: DriverState)    connection state changes, for status and metrics
 */
import type { EventEmitter } from 'node:events';
import type { z } from 'zod';
import type { Reading } from '../core/reading.ts';
import type { CleanstreamError } from '../core/errors.ts';

export type DriverState = 'connecting' | 'connected' | 'disconnected' | 'stopped';

export interface DriverEvents {
  scan: [readings: Reading[]];
  error: [err: CleanstreamError];
  state: [state: DriverState];
}

export interface InputDriver extends EventEmitter<DriverEvents> {
  /** A name for logs and metrics, e.g. `opcua:opc.tcp://127.0.0.1:4840`. */
  readonly name: string;
  /** Resolves once the driver is running; an unreachable device is retried in the background, not a start failure. */
  start(): Promise<void>;
  /** Stops timers and closes connections; no 'scan' is emitted after it resolves. */
  stop(): Promise<void>;
}

/** Context a gateway hands to every driver it creates. */
export interface DriverContext {
  gatewayId: string;
  /** Folder the driver may keep state in (PKI, caches). */
  dataDir: string;
}

/** What a driver folder exports to be registered in gateway/drivers/index.ts. */
export interface DriverPlugin<S extends z.ZodType = z.ZodType> {
  type: string;
  /** The schema of this driver's entry in a gateway config's `inputs` list (including `type`). */
  schema: S;
  create(config: z.output<S>, context: DriverContext): InputDriver;
}
