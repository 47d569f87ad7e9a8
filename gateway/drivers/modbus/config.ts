/**
 * Config of a Modbus TCP input: one device (host:port), polled every pollIntervalMs; each register entry becomes one
 * reading per poll. Unit ids address devices behind a Modbus TCP gateway (Modbus Messaging on TCP/IP Implementation
 * Guide V1.0b §4.4.1.3), so one input can read many RTU meters through one TCP connection.
 */
import { z } from 'zod';
import { durationMs } from '../../../core/config.ts';
import { checkTargetUnit, readingTargetFields } from '../../reading-target.ts';

export const REGISTER_TYPES = ['bool', 'int16', 'uint16', 'int32', 'uint32', 'float32', 'float64'] as const;
export type RegisterType = (typeof REGISTER_TYPES)[number];

/** How many registers (or, for bool in the bit areas, bits) each type occupies. */
export const REGISTER_WIDTH: Record<RegisterType, 1 | 2 | 4> = { bool: 1, int16: 1, uint16: 1, int32: 2, uint32: 2, float32: 2, float64: 4 };

/**
 * The four data areas and their read function codes (Modbus Application Protocol V1.1b3 §6.1-6.4): coils (0x01)
 * and discrete inputs (0x02) hold bits, holding (0x03) and input registers (0x04) 16-bit words.
 */
export const AREAS = ['coil', 'discrete', 'holding', 'input'] as const;
export type RegisterArea = (typeof AREAS)[number];
export const BIT_AREAS: ReadonlySet<RegisterArea> = new Set(['coil', 'discrete']);
/** Read Coils / Discrete Inputs may ask for at most 2000 bits (§6.1, §6.2). */
export const MAX_BITS_PER_READ = 2000;

/** Read Holding/Input Registers may ask for at most 125 registers (Modbus Application Protocol V1.1b3 §6.3, §6.4). */
export const MAX_REGISTERS_PER_READ = 125;

const unitIdSchema = z.number().int().min(0).max(255);

export const modbusRegisterSchema = z
  .strictObject({
    ...readingTargetFields,
    area: z.enum(AREAS),
    /** Zero-based protocol address (holding register 40001 is address 0). */
    address: z.number().int().min(0).max(65535),
    type: z.enum(REGISTER_TYPES),
    /** Order of the 16-bit words of a 32/64-bit value: big = most significant word first. */
    wordOrder: z.enum(['big', 'little']).default('big'),
    /** Order of the two bytes inside each register: big is the Modbus convention (§4.2); little for devices that swap them. */
    byteOrder: z.enum(['big', 'little']).default('big'),
    /** Poll this register at its own interval (its own group) instead of the input's pollIntervalMs. */
    pollIntervalMs: durationMs.optional(),
    scale: z.number().refine(Number.isFinite, { message: 'expected a finite number' }).default(1),
    offset: z.number().refine(Number.isFinite, { message: 'expected a finite number' }).default(0),
    /** Overrides the input's unitId for this register. */
    unitId: unitIdSchema.optional(),
  })
  .superRefine((register, ctx) => {
    checkTargetUnit(register, ctx);
    if (BIT_AREAS.has(register.area) !== (register.type === 'bool')) {
      ctx.addIssue({ code: 'custom', path: ['type'], message: BIT_AREAS.has(register.area) ? `expected "bool" for area ${register.area}` : `expected a word type for area ${register.area} ("bool" is for coil and discrete)`, input: register.type });
    }
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
  /** How long one request may take before it is retried or its registers are reported bad. */
  timeoutMs: durationMs.default(1000),
  /** Further attempts of a request that timed out (not of one the device answered with an exception). */
  retries: z.number().int().min(0).max(5).default(1),
  /** Delay before the first retry, doubled for each further one. */
  retryDelayMs: z.number().int().min(0).default(50),
  maxRegistersPerRequest: z.number().int().min(2).max(MAX_REGISTERS_PER_READ).default(100),
  registers: z.array(modbusRegisterSchema).min(1),
});

export type ModbusInputConfig = z.output<typeof modbusInputSchema>;
export type ModbusRegisterConfig = z.output<typeof modbusRegisterSchema>;
