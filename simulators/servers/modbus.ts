/**
 * The simulated plants as a Modbus TCP server (modbus-serial ServerTCP): holding registers per layout.ts, one unit id
 * per plant. Registers are computed on each read from the model at the tick time (now rounded down to the update
 * interval), so nothing runs between reads and two reads within one tick agree with each other and with OPC UA.
 * A read of an unknown unit id or outside a unit's registers answers exception 02 Illegal Data Address, a read of
 * more than 125 registers exception 03 Illegal Data Value (Modbus Application Protocol V1.1b3 section 6.3, section 7).
 *
 * Scripted faults (faults.ts): a read touching a dropped-out point answers its exception (0x0B Gateway Target Device
 * Failed to Respond, or 0x04 Server Device Failure), as does a meter under comm_loss; a plant under comm_loss gets no
 * response at all, as from a device whose cable is cut, so the client times out. NaN is served as float32 NaN, or as
 * the integer types' invalid sentinel (0x8000, 0xFFFF, 0x80000000, 0xFFFFFFFF) that many meters use.
 */
import { once } from 'node:events';
import { ServerTCP } from 'modbus-serial';
import { quantityDef } from '../../core/catalog.ts';
import { CleanstreamError, toError } from '../../core/errors.ts';
import type { PlantRegistry } from '../../core/plants.ts';
import { checkInterval, DEFAULT_UPDATE_INTERVAL_MS, tickTime } from '../clock.ts';
import { createFaultPlan, GATEWAY_TARGET_FAILED, type Fault, type FaultPlan, type PointSampler } from '../faults.ts';
import { encodeRegisters, registerCount, simulatorLayout, type ModbusEncoding, type SimPoint } from '../layout.ts';
import { createRegistryModels } from '../model.ts';

export interface ModbusSimulatorOptions {
  registry: PlantRegistry;
  seed: number;
  port: number;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  updateIntervalMs?: number;
  clock?: () => number;
  /** Scripted faults (absolute windows, e.g. a scenario's `faults`), applied to what the server answers. */
  faults?: readonly Fault[];
}

export interface ModbusSimulator {
  host: string;
  port: number;
  stop(): Promise<void>;
}

export const ILLEGAL_DATA_ADDRESS = 0x02;
export const ILLEGAL_DATA_VALUE = 0x03;
/** Read Holding Registers carries at most 125 registers (section 6.3). */
const MAX_READ_REGISTERS = 125;

/** modbus-serial turns an error carrying `modbusErrorCode` into an exception response with that code. */
export class ModbusExceptionError extends CleanstreamError {
  readonly modbusErrorCode: number;

  constructor(modbusErrorCode: number, message: string, context: Record<string, unknown>) {
    super('SIM_MODBUS_EXCEPTION', message, { modbusErrorCode, ...context });
    this.modbusErrorCode = modbusErrorCode;
  }
}

interface Unit {
  plant: string;
  points: SimPoint[];
  samplers: PointSampler[];
  /** For each register address: the index in `points` of the point it belongs to. */
  owner: Int32Array;
}

/** What many meters answer for "no valid value" in an integer register. */
function invalidSentinel(encoding: ModbusEncoding): number[] {
  switch (encoding.type) {
    case 'int16':
      return [0x8000];
    case 'uint16':
      return [0xffff];
    case 'int32':
      return [0x8000, 0x0000];
    case 'uint32':
      return [0xffff, 0xffff];
    case 'float32':
      return encodeRegisters(encoding, Number.NaN);
  }
}

function buildUnits(layout: SimPoint[], plan: FaultPlan): Map<number, Unit> {
  const units = new Map<number, Unit>();
  const byUnit = new Map<number, SimPoint[]>();
  for (const p of layout) {
    const list = byUnit.get(p.modbus.unitId) ?? [];
    list.push(p);
    byUnit.set(p.modbus.unitId, list);
  }
  for (const [unitId, points] of byUnit) {
    const last = points.at(-1) as SimPoint;
    const owner = new Int32Array(last.modbus.address + registerCount(last.modbus.type));
    points.forEach((p, i) => owner.fill(i, p.modbus.address, p.modbus.address + registerCount(p.modbus.type)));
    const samplers = points.map((p) => plan.sampler(p.plant, p.meter, p.quantity));
    units.set(unitId, { plant: last.plant, points, samplers, owner });
  }
  return units;
}

export async function startModbusSimulator(opts: ModbusSimulatorOptions): Promise<ModbusSimulator> {
  const host = opts.host ?? '127.0.0.1';
  const interval = checkInterval(opts.updateIntervalMs ?? DEFAULT_UPDATE_INTERVAL_MS);
  const clock = opts.clock ?? Date.now;
  const plan = createFaultPlan(createRegistryModels(opts.registry, opts.seed), opts.faults);
  const units = buildUnits(simulatorLayout(opts.registry), plan);

  /** The words of a read, or undefined when the unit's device is silent and no answer must be sent. */
  const readRegisters = (address: number, length: number, unitId: number): number[] | undefined => {
    const unit = units.get(unitId);
    if (!unit) throw new ModbusExceptionError(ILLEGAL_DATA_ADDRESS, `no simulated plant has unit id ${unitId}`, { unitId });
    if (length < 1 || length > MAX_READ_REGISTERS) {
      throw new ModbusExceptionError(ILLEGAL_DATA_VALUE, `a read must ask for 1-${MAX_READ_REGISTERS} registers, not ${length}`, { unitId, length });
    }
    if (address + length > unit.owner.length) {
      throw new ModbusExceptionError(ILLEGAL_DATA_ADDRESS, `unit ${unitId} has registers 0-${unit.owner.length - 1}, not ${address}-${address + length - 1}`, { unitId, address, length });
    }
    const tick = tickTime(clock(), interval);
    if (plan.deviceSilent(unit.plant, tick)) return undefined;
    const words: number[] = [];
    let encodedIndex = -1;
    let encoded: number[] = [];
    for (let a = address; a < address + length; a++) {
      const index = unit.owner[a] as number;
      const point = unit.points[index] as SimPoint;
      if (index !== encodedIndex) {
        const sample = (unit.samplers[index] as PointSampler)(tick);
        if (sample.missing) {
          const code = sample.exception ?? GATEWAY_TARGET_FAILED;
          throw new ModbusExceptionError(code, `unit ${unitId} ${point.meter}.${point.quantity} does not answer (${sample.missing})`, { unitId, address: a, fault: sample.missing });
        }
        encoded = Number.isNaN(sample.value) ? invalidSentinel(point.modbus) : encodeRegisters(point.modbus, sample.value, quantityDef(point.quantity).kind === 'counter');
        encodedIndex = index;
      }
      words.push(encoded[a - point.modbus.address] as number);
    }
    return words;
  };

  type Reply<T> = (err: Error | null, value: T) => void;
  // the callback forms, so that a silent device can leave a request unanswered
  const answer = (address: number, length: number, unitId: number, reply: (words: number[]) => void, fail: (err: Error) => void): void => {
    let words: number[] | undefined;
    try {
      words = readRegisters(address, length, unitId);
    } catch (err) {
      fail(toError(err));
      return;
    }
    if (words) reply(words);
  };
  const server = new ServerTCP(
    {
      getHoldingRegister: (address: number, unitId: number, cb: Reply<number>): void =>
        answer(address, 1, unitId, (w) => cb(null, w[0] as number), (err) => cb(err, 0)),
      getMultipleHoldingRegisters: (address: number, length: number, unitId: number, cb: Reply<number[]>): void =>
        answer(address, length, unitId, (w) => cb(null, w), (err) => cb(err, [])),
    },
    { host, port: opts.port, unitID: 255 },
  );
  try {
    await Promise.race([
      once(server, 'initialized'),
      once(server, 'serverError').then(([err]: unknown[]) => {
        throw err;
      }),
    ]);
  } catch (err) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw new CleanstreamError('SIM_MODBUS_START', `Modbus simulator could not listen on ${host}:${opts.port}: ${(err as Error).message}`, { host, port: opts.port }, { cause: err });
  }

  return {
    host,
    port: opts.port,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
