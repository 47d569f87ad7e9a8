import type { DriverPlugin } from '../../driver.ts';
import { modbusInputSchema } from './config.ts';
import { ModbusDriver } from './driver.ts';

export const modbusPlugin = {
  type: 'modbus',
  schema: modbusInputSchema,
  create: (config, context) => new ModbusDriver(config, context),
} satisfies DriverPlugin<typeof modbusInputSchema>;

export { ModbusDriver, type ModbusDriverOptions } from './driver.ts';
export { modbusInputSchema, modbusRegisterSchema, type ModbusInputConfig, type ModbusRegisterConfig, type RegisterType } from './config.ts';
export { decodeRegister, planRequests, scaleValue, type ReadRequest } from './registers.ts';
