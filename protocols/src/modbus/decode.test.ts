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

/** decodePoint as it was before it reused one scratch buffer (a fresh Buffer per point): the reference. */
function decodeWithFreshBuffers(s: ModbusPointSpec, registers: number[], offset: number) {
  const size = pointSize(s);
  if (!Number.isInteger(offset) || offset < 0 || offset + size > registers.length || size < 1) {
    throw new RangeError(
      `point ${s.name} needs ${size} item(s) at offset ${offset}, block has ${registers.length}`,
    );
  }
  if (s.type === 'bool') {
    const bit = registers[offset];
    if (bit !== 0 && bit !== 1) throw new RangeError(`point ${s.name}: ${String(bit)} is not a bit`);
    return bit === 1;
  }
  const bytes = Buffer.alloc(size * 2);
  for (let i = 0; i < size; i++) {
    const word = registers[offset + i];
    if (word === undefined || !Number.isInteger(word) || word < 0 || word > 0xffff) {
      throw new RangeError(`point ${s.name}: ${String(word)} is not a 16-bit register`);
    }
    if (s.byteOrder === 'little') bytes.writeUInt16LE(word, i * 2);
    else bytes.writeUInt16BE(word, i * 2);
  }
  if (s.type === 'string') {
    const nul = bytes.indexOf(0);
    return bytes
      .subarray(0, nul === -1 ? bytes.length : nul)
      .toString('latin1')
      .replace(/[\s\0]+$/u, '');
  }
  let be = bytes;
  if (s.wordOrder === 'little' && size > 1) {
    be = Buffer.alloc(bytes.length);
    for (let i = 0; i < size; i++) bytes.copy(be, (size - 1 - i) * 2, i * 2, i * 2 + 2);
  }
  const raw = {
    int16: () => be.readInt16BE(0),
    uint16: () => be.readUInt16BE(0),
    int32: () => be.readInt32BE(0),
    uint32: () => be.readUInt32BE(0),
    float32: () => shortestFloat32(be.readFloatBE(0)),
    float64: () => be.readDoubleBE(0),
  }[s.type]();
  const scale = s.scale ?? 1;
  const off = s.offset ?? 0;
  if (scale === 1 && off === 0) return raw;
  const x = raw * scale + off;
  return Number.isFinite(x) ? Number(x.toPrecision(15)) : x;
}

const outcome = (f: () => unknown) => {
  try {
    return { value: f() };
  } catch (err) {
    return { error: `${(err as Error).name}: ${(err as Error).message}` };
  }
};

describe('decodePoint without a Buffer per point', () => {
  it('gives what a fresh buffer per point gave, for every type, order, scale and block, one call after another', () => {
    const pointSpec = fc.record({
      type: fc.constantFrom('int16', 'uint16', 'int32', 'uint32', 'float32', 'float64', 'string', 'bool'),
      wordOrder: fc.constantFrom(undefined, 'big', 'little'),
      byteOrder: fc.constantFrom(undefined, 'big', 'little'),
      length: fc.integer({ min: 0, max: 5 }),
      scale: fc.constantFrom(undefined, 1, 0.1, -2.5, 1e-3),
      offset: fc.constantFrom(undefined, 0, 7, -0.3),
    });
    // Mostly registers, sometimes a value that is not one (the error must be the same too).
    const word = fc.oneof(
      { weight: 20, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
      { weight: 1, arbitrary: fc.constantFrom(-1, 0x10000, 1.5, Number.NaN) },
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(pointSpec, fc.integer({ min: -1, max: 9 })), { minLength: 1, maxLength: 8 }),
        fc.array(word, { minLength: 0, maxLength: 10 }),
        (points, registers) => {
          // Several points decoded in turn from one block, as a poll does, so a stale byte of an
          // earlier, longer point would show.
          for (const [p, offset] of points) {
            const s = spec({
              type: p.type,
              ...(p.wordOrder ? { wordOrder: p.wordOrder } : {}),
              ...(p.byteOrder ? { byteOrder: p.byteOrder } : {}),
              ...(p.type === 'string' ? { length: p.length } : {}),
              ...(p.scale !== undefined ? { scale: p.scale } : {}),
              ...(p.offset !== undefined ? { offset: p.offset } : {}),
            });
            expect(outcome(() => decodePoint(s, registers, offset))).toEqual(
              outcome(() => decodeWithFreshBuffers(s, registers, offset)),
            );
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
