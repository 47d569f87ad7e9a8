/**
 * From an OPC UA DataValue to a core Reading: quality from the StatusCode, value from the Variant, timestamp from the
 * source when it gave one. Pure, so the mapping is specified by unit tests without a server.
 */
import { DataType, VariantArrayType, type DataValue } from 'node-opcua-client';
import { NO_VALUE, type Quality, type Reading } from '../../../core/reading.ts';
import type { ReadingTarget } from '../../reading-target.ts';

/**
 * OPC UA Part 4 §7.34 (StatusCode): the two most significant bits are the severity, 00 Good, 01 Uncertain, 10 Bad
 * (11 is reserved and treated as Bad).
 */
export function qualityFromStatusCode(code: number): Quality {
  switch (code >>> 30) {
    case 0:
      return 'good';
    case 1:
      return 'uncertain';
    default:
      return 'bad';
  }
}

/** A numeric scalar Variant as a JS number; undefined for anything else (strings, arrays, structures, null). */
export function variantNumber(dataType: DataType, arrayType: VariantArrayType, value: unknown): number | undefined {
  if (arrayType !== VariantArrayType.Scalar) return undefined;
  switch (dataType) {
    case DataType.Double:
    case DataType.Float:
    case DataType.SByte:
    case DataType.Byte:
    case DataType.Int16:
    case DataType.UInt16:
    case DataType.Int32:
    case DataType.UInt32:
      return typeof value === 'number' ? value : undefined;
    case DataType.Boolean:
      return typeof value === 'boolean' ? Number(value) : undefined;
    case DataType.Int64:
    case DataType.UInt64: {
      // node-opcua carries 64-bit integers as [high, low] 32-bit words; past 2^53 precision is lost, as in any double.
      if (!Array.isArray(value) || value.length !== 2) return undefined;
      const [high, low] = value as [number, number];
      return (dataType === DataType.Int64 ? high | 0 : high >>> 0) * 0x1_0000_0000 + (low >>> 0);
    }
    default:
      return undefined;
  }
}

function epochMs(date: Date | null | undefined): number | undefined {
  const ms = date?.getTime();
  // node-opcua decodes an absent or minimum DateTime (1601-01-01) as null or a date before the epoch.
  return ms !== undefined && Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/**
 * ts is the sourceTimestamp when present, else the serverTimestamp, else `now`. A Bad status, or a value that is
 * not a finite number, gives value null with quality 'bad' (a Bad value is not meaningful, Part 4 §7.7.1).
 */
export function readingFromDataValue(target: ReadingTarget, dataValue: Pick<DataValue, 'value' | 'statusCode' | 'sourceTimestamp' | 'serverTimestamp'>, now: number): Reading {
  const ts = epochMs(dataValue.sourceTimestamp) ?? epochMs(dataValue.serverTimestamp) ?? now;
  const quality = qualityFromStatusCode(dataValue.statusCode.value);
  const variant = dataValue.value;
  if (quality === 'bad') return { plant: target.plant, meter: target.meter, quantity: target.quantity, unit: target.unit, value: null, ts: Math.round(ts), quality };
  let value: number | null = variant ? (variantNumber(variant.dataType, variant.arrayType, variant.value) ?? null) : null;
  if (value !== null && !Number.isFinite(value)) value = null;
  // A Good or Uncertain status around no number (NaN, a string "n/a"): the server's way of saying it has no value.
  if (value === null) return { plant: target.plant, meter: target.meter, quantity: target.quantity, unit: target.unit, value, ts: Math.round(ts), quality: 'bad', reason: NO_VALUE };
  return { plant: target.plant, meter: target.meter, quantity: target.quantity, unit: target.unit, value, ts: Math.round(ts), quality };
}
