/**
 * Config of a Modbus TCP input: one device (host:port), polled every pollIntervalMs; each register entry becomes one
 * reading per poll. Unit ids address devices behind a Modbus TCP gateway (Modbus Messaging on TCP/IP Implementation
 * Guide V1.0b §4.4.1.3), so one input can read many RTU meters through one TCP connection.
 */
import { z } from 'zod';
import { durationMs } from '../../../core/config.ts';
import { checkTargetUnit, readingTargetFields } from '../../reading-target.ts';

export const REGISTER_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'float32'] as const;
export type RegisterType = (typeof REGISTER_TYPES)[number];

/** How many 16-bit registers each type occupies. */
export const REGISTER_WIDTH: Record<RegisterType, 1 | 2> = { int16: 1, uint16: 1, int32: 2, uint32: 2, float32: 2 };

/** Read Holding/Input Registers may ask for at most 125 registers (Modbus Application Protocol V1.1b3 §6.3, §6.4). */
export const MAX_REGISTERS_PER_READ = 125;

const unitIdSchema = z.number().int().min(0).max(255);

export const modbusRegisterSchema = z
  .strictObject({
    ...readingTargetFields,
    area: z.enum(['holding', 'input']),
    /** Zero-based protocol address (holding register 40001 is address 0). */
    address: z.number().int().min(0).max(65535),
    type: z.enum(REGISTER_TYPES),
    /** Order of the two 16-bit words of a 32-bit value: big = high word first (the Modbus convention for bytes). */
    wordOrder: z.enum(['big', 'little']).default('big'),
    scale: z.number().refine(Number.isFinite, { message: 'expected a finite number' }).default(1),
    offset: z.number().refine(Number.isFinite, { message: 'expected a finite number' }).default(0),
    /** Overrides the input's unitId for this register. */
    unitId: unitIdSchema.optional(),
  })
  .superRefine((register, ctx) => {
    checkTargetUnit(register, ctx);
    if (register.address + REGISTER_WIDTH[register.type] - 1 > 65535) {
      ctx.addIssue({ code: 'custom', path: ['address'], message: `expected an address at most ${65536 - REGISTER_WIDTH[register.type]} for a ${register.type}`, input: register.address });
    }
  });

export const modbusInputSchema = z.strictObject({
  type: z.literal('modbus'),
  /** A name for logs; defaults to modbus:<host>:<port>. */
  name: z.string().min(1).optional(),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(502),
  unitId: unitIdSchema.default(1),
  pollIntervalMs: durationMs.default(1000),
  /** How long one request may take before its registers are reported bad. */
  timeoutMs: durationMs.default(1000),
  maxRegistersPerRequest: z.number().int().min(2).max(MAX_REGISTERS_PER_READ).default(100),
  registers: z.array(modbusRegisterSchema).min(1),
});

export type ModbusInputConfig = z.output<typeof modbusInputSchema>;
export type ModbusRegisterConfig = z.output<typeof modbusRegisterSchema>;
