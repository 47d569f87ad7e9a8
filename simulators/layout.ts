/**
 * Where each simulated point is served: its OPC UA NodeId and its Modbus holding registers.
 *
 * OPC UA: one Double variable per (plant, meter, quantity) with a string NodeId `ns=1;s=<plant>.<meter>.<quantity>`
 * in the server's own namespace (index 1 in node-opcua: 0 is the standard namespace).
 *
 * Modbus: one unit id per plant, 1, 2, 3 ... in registry order; each plant's registers start at address 0 and follow
 * meter order, then the meter's quantity order. Each quantity has a fixed encoding (QUANTITY_ENCODING): the register
 * holds raw = value / scale (rounded; counters floored), `value = raw * scale`. 32-bit types take two registers,
 * high word first (big-endian words, as Modbus Application Protocol V1.1b3 section 4.2 orders bytes).
 */
import { isBuiltinQuantityId, quantityDef, type BuiltinQuantityId, type QuantityId } from '../core/catalog.ts';
import { CleanstreamError } from '../core/errors.ts';
import type { PlantRegistry } from '../core/plants.ts';

export type RegisterType = 'int16' | 'uint16' | 'int32' | 'uint32' | 'float32';

export interface ModbusEncoding {
  type: RegisterType;
  scale: number;
}

export interface SimPoint {
  plant: string;
  meter: string;
  quantity: QuantityId;
  unit: string;
  opcua: { nodeId: string };
  modbus: { unitId: number; area: 'holding'; address: number; type: RegisterType; scale: number };
}

/** The namespace index node-opcua gives a server's own namespace; checked when the OPC UA simulator starts. */
export const OPCUA_NAMESPACE_INDEX = 1;

/** Modbus unit ids 1-247 address devices (Modbus over serial line V1.02 section 2.2); 0 is broadcast. */
export const MAX_UNIT_ID = 247;

/**
 * One encoding per quantity, mixing types and scales on purpose so a gateway's decoding is exercised:
 * 16-bit integers with decimal scale for water quality, a signed 32-bit for power (export is negative),
 * unsigned 32-bit counters, float32 for large or wide-ranging values.
 */
/**
 * The simulators model the built-in quantities only (their profiles, registers and nodes): a plant registry naming a
 * declared quantity (core/catalog-file.ts) cannot be simulated, and says so rather than inventing a profile.
 */
export function simulatedQuantity(q: QuantityId): BuiltinQuantityId {
  if (!isBuiltinQuantityId(q)) throw new Error(`the simulators model built-in quantities only, not the declared quantity ${q}`);
  return q;
}

export const QUANTITY_ENCODING: Record<BuiltinQuantityId, ModbusEncoding> = {
  wastewater_flow: { type: 'float32', scale: 1 },
  wastewater_volume: { type: 'uint32', scale: 0.1 },
  water_intake: { type: 'float32', scale: 1 },
  cod: { type: 'uint16', scale: 0.1 },
  nh3n: { type: 'uint16', scale: 0.01 },
  ph: { type: 'int16', scale: 0.01 },
  tn: { type: 'uint16', scale: 0.01 },
  tp: { type: 'uint16', scale: 0.001 },
  hg: { type: 'uint16', scale: 0.0001 },
  pb: { type: 'uint16', scale: 0.0001 },
  active_power: { type: 'int32', scale: 0.1 },
  active_energy: { type: 'uint32', scale: 1 },
  steam_flow: { type: 'float32', scale: 1 },
  natural_gas_flow: { type: 'float32', scale: 1 },
  flue_gas_flow: { type: 'float32', scale: 1 },
  o2: { type: 'uint16', scale: 0.01 },
  so2: { type: 'float32', scale: 1 },
  nox: { type: 'float32', scale: 1 },
  particulate: { type: 'float32', scale: 1 },
  co2: { type: 'uint16', scale: 0.01 },
  production_rate: { type: 'float32', scale: 1 },
  production_total: { type: 'uint32', scale: 0.1 },
};

export function registerCount(type: RegisterType): 1 | 2 {
  return type === 'int16' || type === 'uint16' ? 1 : 2;
}

export function opcuaNodeId(plant: string, meter: string, quantity: QuantityId): string {
  return `ns=${OPCUA_NAMESPACE_INDEX};s=${plant}.${meter}.${quantity}`;
}

export function simulatorLayout(registry: PlantRegistry): SimPoint[] {
  if (registry.plants.length > MAX_UNIT_ID) {
    throw new CleanstreamError('SIM_TOO_MANY_PLANTS', `one Modbus simulator serves at most ${MAX_UNIT_ID} plants (one unit id each), the registry has ${registry.plants.length}`, {
      plants: registry.plants.length,
    });
  }
  const points: SimPoint[] = [];
  registry.plants.forEach((plant, plantIndex) => {
    let address = 0;
    for (const meter of plant.meters) {
      for (const quantity of meter.quantities) {
        const { type, scale } = QUANTITY_ENCODING[simulatedQuantity(quantity)];
        points.push({
          plant: plant.id,
          meter: meter.id,
          quantity,
          unit: quantityDef(quantity).unit,
          opcua: { nodeId: opcuaNodeId(plant.id, meter.id, quantity) },
          modbus: { unitId: plantIndex + 1, area: 'holding', address, type, scale },
        });
        address += registerCount(type);
      }
    }
  });
  return points;
}

const clamp = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);

/**
 * The register words for a value. Integers saturate at their type's bounds, except uint32, which is used for
 * totalising counters and wraps modulo 2^32 as a real meter's register rolls over. NaN encodes as 0 (integers) or NaN (float32).
 */
export function encodeRegisters(encoding: ModbusEncoding, value: number, counter = false): number[] {
  const scaled = value / encoding.scale;
  switch (encoding.type) {
    case 'int16':
      return [clamp(Math.round(scaled) || 0, -0x8000, 0x7fff) & 0xffff];
    case 'uint16':
      return [clamp(Math.round(scaled) || 0, 0, 0xffff)];
    case 'int32': {
      const raw = clamp(Math.round(scaled) || 0, -0x8000_0000, 0x7fff_ffff) >>> 0;
      return [raw >>> 16, raw & 0xffff];
    }
    case 'uint32': {
      const whole = counter ? Math.floor(scaled) : Math.round(scaled);
      const raw = counter ? ((whole % 0x1_0000_0000) + 0x1_0000_0000) % 0x1_0000_0000 : clamp(whole || 0, 0, 0xffff_ffff);
      return [Math.floor(raw / 0x1_0000), raw % 0x1_0000];
    }
    case 'float32': {
      const buf = Buffer.allocUnsafe(4);
      buf.writeFloatBE(scaled);
      return [buf.readUInt16BE(0), buf.readUInt16BE(2)];
    }
  }
}

/** The inverse of encodeRegisters: words (high word first) to value = raw * scale. */
export function decodeRegisters(encoding: ModbusEncoding, words: readonly number[]): number {
  const [hi = 0, lo = 0] = words;
  let raw: number;
  switch (encoding.type) {
    case 'int16':
      raw = hi >= 0x8000 ? hi - 0x1_0000 : hi;
      break;
    case 'uint16':
      raw = hi;
      break;
    case 'int32':
      raw = ((hi << 16) | lo) >> 0;
      break;
    case 'uint32':
      raw = hi * 0x1_0000 + lo;
      break;
    case 'float32': {
      const buf = Buffer.allocUnsafe(4);
      buf.writeUInt16BE(hi, 0);
      buf.writeUInt16BE(lo, 2);
      raw = buf.readFloatBE(0);
      break;
    }
  }
  return raw * encoding.scale;
}
