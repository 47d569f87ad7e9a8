import { describe, expect, it } from 'vitest';
import { DataType, DataValue, StatusCodes, Variant, VariantArrayType } from 'node-opcua';
import { qualityFromStatusCode, readingFromDataValue, variantNumber } from './readings.ts';
import { monitorGroups, subscriptionShares } from './driver.ts';
import { opcuaInputSchema } from './config.ts';

const target = { plant: 'paper-01', meter: 'outfall-1-cod', quantity: 'cod', unit: 'mg/L' } as const;
const NOW = 1_700_000_000_000;

describe('OPC UA StatusCode -> quality (Part 4 §7.34 severity bits)', () => {
  it('maps Good, Uncertain and Bad codes by their two top bits', () => {
    expect(qualityFromStatusCode(StatusCodes.Good.value)).toBe('good');
    expect(qualityFromStatusCode(StatusCodes.GoodClamped.value)).toBe('good');
    expect(qualityFromStatusCode(StatusCodes.UncertainLastUsableValue.value)).toBe('uncertain');
    expect(qualityFromStatusCode(StatusCodes.UncertainSensorNotAccurate.value)).toBe('uncertain');
    expect(qualityFromStatusCode(StatusCodes.BadSensorFailure.value)).toBe('bad');
    expect(qualityFromStatusCode(StatusCodes.BadNodeIdUnknown.value)).toBe('bad');
    expect(qualityFromStatusCode(0xc0000000)).toBe('bad'); // reserved severity 11
  });
});

describe('Variant -> number', () => {
  it('accepts numeric scalars and booleans', () => {
    expect(variantNumber(DataType.Double, VariantArrayType.Scalar, 12.5)).toBe(12.5);
    expect(variantNumber(DataType.Int16, VariantArrayType.Scalar, -3)).toBe(-3);
    expect(variantNumber(DataType.Boolean, VariantArrayType.Scalar, true)).toBe(1);
  });

  it('joins node-opcua’s [high, low] 64-bit integers', () => {
    expect(variantNumber(DataType.UInt64, VariantArrayType.Scalar, [1, 2])).toBe(0x1_0000_0002);
    expect(variantNumber(DataType.Int64, VariantArrayType.Scalar, [0xffffffff, 0xfffffffe])).toBe(-2);
  });

  it('rejects strings, arrays and absent values', () => {
    expect(variantNumber(DataType.String, VariantArrayType.Scalar, '12')).toBeUndefined();
    expect(variantNumber(DataType.Double, VariantArrayType.Array, [1, 2])).toBeUndefined();
    expect(variantNumber(DataType.Null, VariantArrayType.Scalar, null)).toBeUndefined();
  });
});

function dataValue(options: ConstructorParameters<typeof DataValue>[0]): DataValue {
  return new DataValue(options);
}

describe('DataValue -> Reading', () => {
  it('takes value, quality and the source timestamp', () => {
    const source = new Date(NOW - 5_000);
    const reading = readingFromDataValue(target, dataValue({ value: new Variant({ dataType: DataType.Double, value: 87.5 }), statusCode: StatusCodes.Good, sourceTimestamp: source, serverTimestamp: new Date(NOW - 1_000) }), NOW);
    expect(reading).toEqual({ ...target, value: 87.5, ts: source.getTime(), quality: 'good' });
  });

  it('falls back to the server timestamp, then to the gateway clock', () => {
    const server = new Date(NOW - 1_000);
    const v = new Variant({ dataType: DataType.Float, value: 2 });
    expect(readingFromDataValue(target, dataValue({ value: v, serverTimestamp: server }), NOW).ts).toBe(server.getTime());
    expect(readingFromDataValue(target, dataValue({ value: v }), NOW).ts).toBe(NOW);
  });

  it('keeps an uncertain value with quality uncertain', () => {
    const reading = readingFromDataValue(target, dataValue({ value: new Variant({ dataType: DataType.Double, value: 3 }), statusCode: StatusCodes.UncertainLastUsableValue }), NOW);
    expect([reading.value, reading.quality]).toEqual([3, 'uncertain']);
  });

  it('drops the value of a Bad status: null with quality bad', () => {
    const reading = readingFromDataValue(target, dataValue({ value: new Variant({ dataType: DataType.Double, value: 3 }), statusCode: StatusCodes.BadSensorFailure }), NOW);
    expect([reading.value, reading.quality]).toEqual([null, 'bad']);
  });

  it('turns NaN, Infinity and non-numeric values into null with quality bad and reason no_value, never good', () => {
    for (const variant of [
      new Variant({ dataType: DataType.Double, value: Number.NaN }),
      new Variant({ dataType: DataType.Double, value: Number.POSITIVE_INFINITY }),
      new Variant({ dataType: DataType.String, value: 'n/a' }),
    ]) {
      const reading = readingFromDataValue(target, dataValue({ value: variant, statusCode: StatusCodes.Good }), NOW);
      expect([reading.value, reading.quality, reading.reason]).toEqual([null, 'bad', 'no_value']);
    }
  });
});

describe('monitored item groups', () => {
  it('creates nodes with the same sampling interval and queue size together; no interval means the publishing interval (-1)', () => {
    const node = { plant: 'paper-01', meter: 'm', quantity: 'cod', unit: 'mg/L' };
    const config = opcuaInputSchema.parse({
      type: 'opcua',
      endpoint: 'opc.tcp://127.0.0.1:4840',
      nodes: [
        { ...node, nodeId: 'ns=1;s=a' },
        { ...node, nodeId: 'ns=1;s=b', samplingIntervalMs: 250 },
        { ...node, nodeId: 'ns=1;s=c' },
        { ...node, nodeId: 'ns=1;s=d', samplingIntervalMs: 250, queueSize: 1 },
      ],
    });
    expect(monitorGroups(config).map((g) => [g.samplingInterval, g.queueSize, g.nodes.map((n) => n.nodeId)])).toEqual([
      [-1, 10, ['ns=1;s=a', 'ns=1;s=c']],
      [250, 10, ['ns=1;s=b']],
      [250, 1, ['ns=1;s=d']],
    ]);
  });
});

describe('monitored items spread over subscriptions', () => {
  const node = { plant: 'paper-01', meter: 'm', quantity: 'cod', unit: 'mg/L' } as const;
  const config = (count: number, fast: number) =>
    opcuaInputSchema.parse({
      type: 'opcua',
      endpoint: 'opc.tcp://127.0.0.1:4840',
      nodes: Array.from({ length: count }, (_, i) => ({ ...node, nodeId: `ns=1;s=n${i}`, ...(i < fast ? { samplingIntervalMs: 250 } : {}) })),
    });

  it('fills each subscription up to the limit, splitting a group across two while keeping its parameters', () => {
    const shares = subscriptionShares(monitorGroups(config(2_500, 600)), 1_000);
    expect(shares.map((share) => share.map((g) => [g.samplingInterval, g.nodes.length]))).toEqual([
      [[250, 600], [-1, 400]],
      [[-1, 1_000]],
      [[-1, 500]],
    ]);
    const all = shares.flatMap((share) => share.flatMap((g) => g.nodes.map((n) => n.nodeId)));
    expect(all).toEqual(Array.from({ length: 2_500 }, (_, i) => `ns=1;s=n${i}`));
  });

  it('uses one subscription when everything fits, and 2,000 items per subscription by default', () => {
    expect(subscriptionShares(monitorGroups(config(10, 0)), 1_000)).toHaveLength(1);
    const big = config(10_000, 0);
    expect(subscriptionShares(monitorGroups(big), big.maxItemsPerSubscription)).toHaveLength(5);
  });
});
