import type { DriverPlugin } from '../../driver.ts';
import { opcuaInputSchema } from './config.ts';
import { OpcuaDriver } from './driver.ts';

export const opcuaPlugin = {
  type: 'opcua',
  schema: opcuaInputSchema,
  create: (config, context) => new OpcuaDriver(config, context),
} satisfies DriverPlugin<typeof opcuaInputSchema>;

export { OpcuaDriver, monitorGroups, subscriptionShares, OPCUA_APPLICATION_NAME, type MonitorGroup, type OpcuaDriverOptions } from './driver.ts';
export { opcuaInputSchema, opcuaNodeSchema, type OpcuaInputConfig, type OpcuaNodeConfig } from './config.ts';
export { qualityFromStatusCode, readingFromDataValue, variantNumber } from './readings.ts';
