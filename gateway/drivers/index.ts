/**
 * The one place input drivers are registered: config `type` -> plugin. Adding a protocol is its folder under
 * drivers/ plus one line in `driverRegistry`; the gateway config schema and driver creation follow from this map. Every
 * registered driver must pass the driver contract (gateway/driver-contract.ts) against a real device: give it a
 * subject in test/integration/gateway/driver-contract.test.ts, which fails (and does not compile) without one.
 */
import type { z } from 'zod';
import type { DriverContext, DriverPlugin, InputDriver } from '../driver.ts';
import { opcuaPlugin } from './opcua/index.ts';
import { modbusPlugin } from './modbus/index.ts';
import { hj212Plugin } from './hj212/index.ts';

export const driverRegistry = {
  opcua: opcuaPlugin,
  modbus: modbusPlugin,
  hj212: hj212Plugin,
} satisfies Record<string, DriverPlugin>;

type Registry = typeof driverRegistry;
export type DriverType = keyof Registry;
type InputSchema = Registry[DriverType]['schema'];

/** The config of one entry in a gateway's `inputs`: a union over all registered drivers, told apart by `type`. */
export type InputConfig = z.output<InputSchema>;

export const DRIVER_TYPES = Object.keys(driverRegistry) as DriverType[];

/** Every registered driver's entry schema, for a discriminated union on `type`. */
export const inputSchemas = Object.values(driverRegistry).map((plugin) => plugin.schema) as [InputSchema, ...InputSchema[]];

export function createDriver(config: InputConfig, context: DriverContext): InputDriver {
  const plugin: DriverPlugin = driverRegistry[config.type];
  return plugin.create(config, context);
}
