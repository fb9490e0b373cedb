import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePoint, pointSize, shortestFloat32 } from './decode.js';
import { stringWords, words } from './testing/test-device.js';
import type { ModbusPointSpec } from './types.js';

const base = { name: 'p', unitId: 1, area: 'holding', address: 0 } as const;
const spec = (s: Partial<ModbusPointSpec>): ModbusPointSpec => ({ ...base, type: 'uint16', ...s });
const orders = [
  ['big', 'big'],
  ['big', 'little'],
  ['little', 'big'],
  ['little', 'little'],
] as const;

describe('decodePoint', () => {
  it('decodes known register images of every numeric type', () => {
    expect(decodePoint(spec({ type: 'int16' }), [0xfffe], 0)).toBe(-2);
    expect(decodePoint(spec({ type: 'uint16' }), [0xfffe], 0)).toBe(65534);
    expect(decodePoint(spec({ type: 'int32' }), [0xffff, 0xfffe], 0)).toBe(-2);
    expect(decodePoint(spec({ type: 'uint32' }), [0x0001, 0x0002], 0)).toBe(65538);
    expect(decodePoint(spec({ type: 'uint32', wordOrder: 'little' }), [0x0002, 0x0001], 0)).toBe(65538);
    // 0x44E10000 = 1800.0 as IEEE 754 single
    expect(decodePoint(spec({ type: 'float32' }), [0x44e1, 0x0000], 0)).toBe(1800);
    expect(decodePoint(spec({ type: 'float32', byteOrder: 'little' }), [0xe144, 0x0000], 0)).toBe(1800);
    expect(decodePoint(spec({ type: 'float32', wordOrder: 'little' }), [0x0000, 0x44e1], 0)).toBe(1800);
    // 0x400921FB54442D18 = pi as IEEE 754 double
    expect(decodePoint(spec({ type: 'float64' }), [0x4009, 0x21fb, 0x5444, 0x2d18], 0)).toBe(Math.PI);
    expect(
      decodePoint(
        spec({ type: 'float64', wordOrder: 'little', byteOrder: 'little' }),
        [0x182d, 0x4454, 0xfb21, 0x0940],
        0,
      ),
    ).toBe(Math.PI);
  });

  it('reads a point at its offset inside a block', () => {
    expect(decodePoint(spec({ type: 'int32' }), [7, 7, 0, 42, 7], 2)).toBe(42);
  });

  for (const [wordOrder, byteOrder] of orders) {
    it(`round-trips int32/uint32/float32/float64/int16 with word ${wordOrder}, byte ${byteOrder}`, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: -2147483648, max: 2147483647 }),
          fc.integer({ min: 0, max: 4294967295 }),
          fc.float({ noNaN: true, noDefaultInfinity: true }),
          fc.double({ noNaN: true, noDefaultInfinity: true }),
          fc.integer({ min: -32768, max: 32767 }),
          (i32, u32, f32, f64, i16) => {
            const o = { wordOrder, byteOrder } as const;
            expect(
              decodePoint(spec({ type: 'int32', ...o }), words('int32', i32, wordOrder, byteOrder), 0),
            ).toBe(i32);
            expect(
              decodePoint(spec({ type: 'uint32', ...o }), words('uint32', u32, wordOrder, byteOrder), 0),
            ).toBe(u32);
            const got = decodePoint(
              spec({ type: 'float32', ...o }),
              words('float32', f32, wordOrder, byteOrder),
              0,
            );
            // Same float32, printed as the shortest decimal; -0 stays -0.
            expect(Object.is(Math.fround(got as number), Math.fround(f32))).toBe(true);
            expect(
              decodePoint(spec({ type: 'float64', ...o }), words('float64', f64, wordOrder, byteOrder), 0),
            ).toBe(f64);
            expect(
              decodePoint(spec({ type: 'int16', byteOrder }), words('int16', i16, 'big', byteOrder), 0),
            ).toBe(i16);
          },
        ),
      );
    });
  }

  it('shows float32 values as the decimal the device was given', () => {
    expect(decodePoint(spec({ type: 'float32' }), words('float32', 60.12), 0)).toBe(60.12);
    expect(decodePoint(spec({ type: 'float32' }), words('float32', 0.35), 0)).toBe(0.35);
    expect(shortestFloat32(Math.fround(1.1))).toBe(1.1);
    expect(Number.isNaN(decodePoint(spec({ type: 'float32' }), [0x7fc0, 0], 0))).toBe(true);
  });

  it('applies scale and offset to numbers without binary noise', () => {
    expect(decodePoint(spec({ type: 'int16', scale: 0.1 }), [3], 0)).toBe(0.3);
    expect(decodePoint(spec({ type: 'uint16', scale: 0.01, offset: -40 }), [6523], 0)).toBe(25.23);
    expect(decodePoint(spec({ type: 'int32', scale: 2, offset: 1 }), words('int32', -5), 0)).toBe(-9);
  });

  it('decodes strings high byte first, trims trailing NUL and spaces, stops at the first NUL', () => {
    const s = spec({ type: 'string', length: 6 });
    expect(decodePoint(s, stringWords('INJ12345678', 6), 0)).toBe('INJ12345678');
    expect(decodePoint(s, stringWords('AB  ', 6), 0)).toBe('AB');
    expect(decodePoint(s, [0x4142, 0x0043, 0x4445, 0, 0, 0], 0)).toBe('AB');
    expect(decodePoint(spec({ type: 'string', length: 2, byteOrder: 'little' }), [0x4241, 0x4443], 0)).toBe(
      'ABCD',
    );
    expect(decodePoint(spec({ type: 'string', length: 2 }), [0, 0], 0)).toBe('');
  });

  it('decodes bits', () => {
    const b = { ...base, area: 'coil', type: 'bool' } as const;
    expect(decodePoint(b, [0, 1, 0], 1)).toBe(true);
    expect(decodePoint(b, [0, 1, 0], 2)).toBe(false);
  });

  it('refuses blocks that do not hold the point or hold non-register values', () => {
    expect(() => decodePoint(spec({ type: 'float64' }), [1, 2, 3], 0)).toThrow(RangeError);
    expect(() => decodePoint(spec({ type: 'int32' }), [1, 2, 3], 2)).toThrow(RangeError);
    expect(() => decodePoint(spec({ type: 'uint16' }), [70000], 0)).toThrow(RangeError);
    expect(() => decodePoint(spec({ type: 'uint16' }), [1], -1)).toThrow(RangeError);
    expect(() => decodePoint({ ...base, area: 'coil', type: 'bool' }, [2], 0)).toThrow(RangeError);
  });

  it('knows the size of each type', () => {
    expect(pointSize({ type: 'float64' })).toBe(4);
    expect(pointSize({ type: 'string', length: 10 })).toBe(10);
    expect(pointSize({ type: 'bool' })).toBe(1);
    expect(pointSize({ type: 'uint32' })).toBe(2);
  });
});
