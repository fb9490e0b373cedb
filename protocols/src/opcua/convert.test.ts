import {
  DataType,
  DataValue,
  StatusCode,
  StatusCodes,
  Variant,
  VariantArrayType,
  coerceNodeId,
} from 'node-opcua';
import { describe, expect, it } from 'vitest';
import { hasOverflow, statusOf, toOpcuaValue, variantValue } from './convert.js';

describe('statusOf / hasOverflow', () => {
  it('names the code without its info bits and keeps the full value', () => {
    const overflowed = StatusCode.makeStatusCode(
      StatusCodes.UncertainLastUsableValue,
      'Overflow | InfoTypeDataValue',
    );
    expect(statusOf(overflowed.value)).toEqual({
      name: 'UncertainLastUsableValue',
      value: 0x4090_0480,
      good: false,
    });
    expect(statusOf(0)).toEqual({ name: 'Good', value: 0, good: true });
    expect(statusOf(StatusCodes.BadSensorFailure.value)).toEqual({
      name: 'BadSensorFailure',
      value: 0x808c_0000,
      good: false,
    });
    expect(statusOf(0x0123_0000).name).toBe('0x01230000');
  });

  it('reads the overflow bit only when the info type is DataValue', () => {
    expect(hasOverflow(0x0000_0480)).toBe(true);
    expect(hasOverflow(0x0000_0080)).toBe(false);
    expect(hasOverflow(0x0000_0400)).toBe(false);
  });
});

describe('variantValue', () => {
  const v = (dataType: DataType, value: unknown, arrayType = VariantArrayType.Scalar) =>
    variantValue(new Variant({ dataType, value, arrayType }));

  it("gives a NodeId (an event's ConditionId or EventType) as its text, not quoted", () => {
    expect(v(DataType.NodeId, coerceNodeId('ns=1;s=TQ-Bench.CalibrationFinished'))).toBe(
      'ns=1;s=TQ-Bench.CalibrationFinished',
    );
    expect(v(DataType.NodeId, coerceNodeId('i=2915'))).toMatch(/^(ns=0;)?i=2915$/);
  });

  it('converts scalars to JSON-able values', () => {
    expect(v(DataType.Double, 40.12)).toBe(40.12);
    // A Float (float32) is the decimal the device was given, not its double-precision noise.
    expect(v(DataType.Float, Math.fround(5.012))).toBe(5.012);
    expect(v(DataType.Float, Math.fround(60.12))).toBe(60.12);
    expect(v(DataType.Double, Math.fround(60.12))).toBe(Math.fround(60.12));
    expect(v(DataType.UInt32, 7)).toBe(7);
    expect(v(DataType.Boolean, true)).toBe(true);
    expect(v(DataType.String, 'idle')).toBe('idle');
    expect(v(DataType.DateTime, new Date('2025-01-06T06:00:00Z'))).toBe('2025-01-06T06:00:00.000Z');
    expect(v(DataType.Int64, [0xffff_ffff, 0xffff_fffe])).toBe(-2);
    expect(v(DataType.UInt64, [1, 0])).toBe(4294967296);
    expect(v(DataType.UInt64, [0xffff_ffff, 0xffff_ffff])).toBe('18446744073709551615');
    expect(v(DataType.ByteString, Buffer.from([1, 2, 3]))).toBe('AQID');
    expect(v(DataType.LocalizedText, { text: 'calibration complete', locale: 'en' })).toBe(
      'calibration complete',
    );
    expect(variantValue(new Variant({ dataType: DataType.Null }))).toBeNull();
  });

  it('converts arrays', () => {
    expect(v(DataType.Double, [1.5, 5, 20], VariantArrayType.Array)).toEqual([1.5, 5, 20]);
    expect(v(DataType.String, ['pilot', 'idle'], VariantArrayType.Array)).toEqual(['pilot', 'idle']);
    expect(v(DataType.Boolean, [true, false], VariantArrayType.Array)).toEqual([true, false]);
    expect(v(DataType.Double, [], VariantArrayType.Array)).toEqual([]);
  });
});

describe('toOpcuaValue', () => {
  it('keeps status, timestamps and the overflow bit', () => {
    const dv = new DataValue({
      value: { dataType: DataType.Double, value: 39.98 },
      statusCode: StatusCode.makeStatusCode(StatusCodes.Good, 'Overflow | InfoTypeDataValue'),
      sourceTimestamp: new Date('2025-01-06T06:00:00.100Z'),
      serverTimestamp: new Date('2025-01-06T06:00:00.150Z'),
    });
    expect(toOpcuaValue('oil', 'ns=1;s=Bench.Live.OilTemperature', dv)).toEqual({
      name: 'oil',
      nodeId: 'ns=1;s=Bench.Live.OilTemperature',
      value: 39.98,
      statusCode: { name: 'Good', value: 0x480, good: true },
      sourceTimestamp: '2025-01-06T06:00:00.100Z',
      serverTimestamp: '2025-01-06T06:00:00.150Z',
      overflow: true,
    });
    const bad = toOpcuaValue('x', 'ns=1;s=X', new DataValue({ statusCode: StatusCodes.BadNodeIdUnknown }));
    expect(bad).toMatchObject({
      value: null,
      sourceTimestamp: null,
      overflow: false,
      statusCode: { good: false },
    });
  });
});
