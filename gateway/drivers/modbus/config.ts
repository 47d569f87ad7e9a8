/**
 * Config of a Modbus input: one link, polled every pollIntervalMs; each register entry becomes one reading per poll.
 * The link is Modbus TCP (host:port), Modbus RTU on a serial line (Modbus over Serial Line V1.02 §2.5: a serial
 * port with its baud rate and character format), or RTU frames carried over TCP (serial device servers in
 * transparent mode). Unit ids address the devices on the link: meters on one RS-485 bus, or devices behind a
 * Modbus TCP gateway (Modbus Messaging on TCP/IP Implementation Guide V1.0b §4.4.1.3), so one input reads many
 * meters through one connection.
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

/** The register types a "no valid value" code applies to (a bit has no spare pattern for one). */
export const NO_VALUE_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'float32', 'float64'] as const;
export type NoValueType = (typeof NO_VALUE_TYPES)[number];

/**
 * The codes many meters put in a register for "no valid value" (sensor fault, warming up, out of its span): the most
 * negative number of a signed type, all ones of an unsigned one. A float's NaN is always no value, with or without
 * codes. Codes are raw register contents, before scale and offset: 0x8000 and -32768 name the same int16 code.
 */
export const DEFAULT_NO_VALUE: Record<NoValueType, number[]> = {
  int16: [0x8000],
  uint16: [0xffff],
  int32: [0x80000000],
  uint32: [0xffffffff],
  float32: [],
  float64: [],
};

/** The codes a type can hold: a signed type's code may be given as its negative value or its unsigned bit pattern. */
const CODE_BOUNDS: Record<NoValueType, [number, number] | undefined> = {
  int16: [-0x8000, 0xffff],
  uint16: [0, 0xffff],
  int32: [-0x80000000, 0xffffffff],
  uint32: [0, 0xffffffff],
  float32: undefined,
  float64: undefined,
};

/** Whether `code` fits a register of `type`, and what the config should say if not. */
export function noValueCodeProblem(type: NoValueType, code: number): string | undefined {
  const bounds = CODE_BOUNDS[type];
  if (!bounds) return Number.isFinite(code) ? undefined : `expected a finite number for a ${type} code (NaN is always no value)`;
  if (!Number.isInteger(code) || code < bounds[0] || code > bounds[1]) return `expected an integer ${bounds[0]}..0x${bounds[1].toString(16).toUpperCase()} for a ${type} code`;
  return undefined;
}

const noValueCodes = z.array(z.number()).max(16);

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
    /**
     * Raw register contents that mean "no valid value" for this register (overrides the input's `noValue` for its
     * type; `[]`: none). Such a reading is published with value null, quality bad, reason no_value.
     */
    noValue: noValueCodes.optional(),
  })
  .superRefine((register, ctx) => {
    checkTargetUnit(register, ctx);
    if (register.noValue !== undefined) {
      if (register.type === 'bool') ctx.addIssue({ code: 'custom', path: ['noValue'], message: 'expected no noValue codes for a bool register', input: register.noValue });
      else {
        register.noValue.forEach((code, i) => {
          const problem = noValueCodeProblem(register.type as NoValueType, code);
          if (problem) ctx.addIssue({ code: 'custom', path: ['noValue', i], message: problem, input: code });
        });
      }
    }
    if (BIT_AREAS.has(register.area) !== (register.type === 'bool')) {
      ctx.addIssue({ code: 'custom', path: ['type'], message: BIT_AREAS.has(register.area) ? `expected "bool" for area ${register.area}` : `expected a word type for area ${register.area} ("bool" is for coil and discrete)`, input: register.type });
    }
    if (register.address + REGISTER_WIDTH[register.type] - 1 > 65535) {
      ctx.addIssue({ code: 'custom', path: ['address'], message: `expected an address at most ${65536 - REGISTER_WIDTH[register.type]} for a ${register.type}`, input: register.address });
    }
  });

export const TRANSPORTS = ['tcp', 'rtu', 'rtu-over-tcp'] as const;
export type ModbusTransport = (typeof TRANSPORTS)[number];

/**
 * A serial line's character format (Modbus over Serial Line V1.02 §2.5.1: 8 data bits, even parity and 1 stop bit by
 * default; no parity requires 2 stop bits by the standard, though many meters are set to 8N1).
 */
export const serialLineSchema = z.strictObject({
  /** The serial device, e.g. /dev/ttyUSB0 or /dev/ttyS1. */
  path: z.string().min(1),
  baudRate: z.number().int().min(300).max(921_600).default(9600),
  parity: z.enum(['none', 'even', 'odd']).default('even'),
  dataBits: z.union([z.literal(7), z.literal(8)]).default(8),
  stopBits: z.union([z.literal(1), z.literal(2)]).default(1),
});
export type SerialLineConfig = z.output<typeof serialLineSchema>;

export const modbusInputSchema = z.strictObject({
  type: z.literal('modbus'),
  /** A name for logs; defaults to modbus:<host>:<port>, or modbus:<serial path>. */
  name: z.string().min(1).optional(),
  /** tcp (default): Modbus TCP; rtu: RTU on the serial line `serial`; rtu-over-tcp: RTU frames to host:port. */
  transport: z.enum(TRANSPORTS).default('tcp'),
  /** For tcp and rtu-over-tcp. */
  host: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).default(502),
  /** For rtu. */
  serial: serialLineSchema.optional(),
  unitId: unitIdSchema.default(1),
  pollIntervalMs: durationMs.default(1000),
  /** How long one request may take before it is retried or its registers are reported bad. */
  timeoutMs: durationMs.default(1000),
  /** Further attempts of a request that timed out (not of one the device answered with an exception). */
  retries: z.number().int().min(0).max(5).default(1),
  /** Delay before the first retry, doubled for each further one. */
  retryDelayMs: z.number().int().min(0).default(50),
  maxRegistersPerRequest: z.number().int().min(2).max(MAX_REGISTERS_PER_READ).default(100),
  /**
   * The "no valid value" codes of this link's devices, per register type (DEFAULT_NO_VALUE for a type left out; `[]`:
   * none). A register's own `noValue` overrides them.
   */
  noValue: z.partialRecord(z.enum(NO_VALUE_TYPES), noValueCodes).default({}),
  registers: z.array(modbusRegisterSchema).min(1),
}).superRefine((input, ctx) => {
  for (const type of NO_VALUE_TYPES) {
    input.noValue[type]?.forEach((code, i) => {
      const problem = noValueCodeProblem(type, code);
      if (problem) ctx.addIssue({ code: 'custom', path: ['noValue', type, i], message: problem, input: code });
    });
  }
  if (input.transport === 'rtu') {
    if (!input.serial) ctx.addIssue({ code: 'custom', path: ['serial'], message: 'expected a serial line ({ path, baudRate, parity, dataBits, stopBits }) with transport rtu', input: input.serial });
    if (input.host !== undefined) ctx.addIssue({ code: 'custom', path: ['host'], message: 'expected no host with transport rtu (the link is the serial line)', input: input.host });
  } else {
    if (input.host === undefined) ctx.addIssue({ code: 'custom', path: ['host'], message: `expected a host name or address with transport ${input.transport}`, input: input.host });
    if (input.serial) ctx.addIssue({ code: 'custom', path: ['serial'], message: `expected no serial line with transport ${input.transport} (use transport rtu)`, input: input.serial });
  }
});

export type ModbusInputConfig = z.output<typeof modbusInputSchema>;
export type ModbusRegisterConfig = z.output<typeof modbusRegisterSchema>;
