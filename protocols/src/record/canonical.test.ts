import { describe, expect, it } from 'vitest';
import { canonicalBytes, canonicalJson } from './canonical.js';
import { RecordFormatError } from './errors.js';

/** The IEEE 754 double with these 64 bits (big-endian hex). */
function double(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

describe('canonicalJson (RFC 8785)', () => {
  it('serializes the RFC 8785 appendix B number table', () => {
    const table: [string, string][] = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ];
    for (const [hex, want] of table) expect(canonicalJson(double(hex)), hex).toBe(want);
  });

  it('serializes the numbers of section 3.2.2 and the brief', () => {
    expect(
      // The RFC's input literal has more digits than a double holds; that is the point of the example.
      // eslint-disable-next-line no-loss-of-precision
      canonicalJson([333333333.33333329, 1e30, 4.5, 2e-3, 0.000000000000000000000000001, 1e-7, -0]),
    ).toBe('[333333333.3333333,1e+30,4.5,0.002,1e-27,1e-7,0]');
  });

  it('produces the section 3.2.2 example output exactly', () => {
    // Input of RFC 8785 section 3.2.2 as parsed JSON.
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
        ' "literals": [null, true, false]}',
    ) as unknown;
    const want =
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
      '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}';
    expect(canonicalJson(input)).toBe(want);
    // The RFC gives the UTF-8 bytes of this output; the euro sign is e2 82 ac.
    const bytes = canonicalBytes(input);
    expect(Buffer.from(bytes).toString('hex')).toContain('22e282ac24');
    expect(bytes.length).toBe(Buffer.byteLength(want, 'utf8'));
  });

  it('sorts properties by UTF-16 code units (section 3.2.3)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    expect(canonicalJson(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",' +
        '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('escapes strings minimally', () => {
    expect(canonicalJson('\u0000\u0008\t\n\u000b\f\r\u001f "\\/\u007f\u2028é😀')).toBe(
      '"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f \\"\\\\/\u007f\u2028é😀"',
    );
  });

  it('sorts nested objects, keeps array order, omits undefined properties', () => {
    expect(canonicalJson({ b: [3, { y: 1, x: 2 }], a: { d: null, c: undefined } })).toBe(
      '{"a":{"d":null},"b":[3,{"x":2,"y":1}]}',
    );
    expect(canonicalJson(Object.assign(Object.create(null) as object, { z: 1, a: true }))).toBe(
      '{"a":true,"z":1}',
    );
  });

  it('refuses values JSON cannot carry exactly, with RECORD_NOT_CANONICALIZABLE', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const refused: [string, unknown][] = [
      ['NaN', NaN],
      ['Infinity', Infinity],
      ['-Infinity', { x: [1, -Infinity] }],
      ['undefined at top level', undefined],
      ['undefined in an array', [1, undefined]],
      ['sparse array', [1, , 3]], // eslint-disable-line no-sparse-arrays
      ['function', () => 1],
      ['function property', { f: () => 1 }],
      ['BigInt', 10n],
      ['BigInt property', { n: 10n }],
      ['symbol', Symbol('s')],
      ['cycle', cyclic],
      ['lone surrogate', 'a\ud800b'],
      ['lone surrogate key', { '\udc00': 1 }],
      ['Date', new Date(0)],
      ['Map', new Map([[1, 2]])],
      ['typed array', new Uint8Array(2)],
      ['toJSON', { toJSON: () => 'x' }],
    ];
    for (const [name, value] of refused) {
      expect(() => canonicalJson(value), name).toThrow(RecordFormatError);
      try {
        canonicalJson(value);
      } catch (err) {
        expect((err as RecordFormatError).code, name).toBe('RECORD_NOT_CANONICALIZABLE');
      }
    }
    expect(() => canonicalJson({ deep: { list: [0, NaN] } })).toThrow(/NaN at \$\.deep\.list\[1\]/);
  });

  it('allows the same object twice when it is not a cycle', () => {
    const shared = { a: 1 };
    expect(canonicalJson({ x: shared, y: [shared, shared] })).toBe('{"x":{"a":1},"y":[{"a":1},{"a":1}]}');
  });
});

describe('canonicalJson fast path', () => {
  it('equals the reference serializer for any JSON value', async () => {
    const fc = await import('fast-check');
    const { canonicalJsonReference } = await import('./canonical.js');
    const key = fc.oneof(
      fc.string(),
      fc.constantFrom('1', '10', '9', '0', '01', '__proto__', 'é', '\u20ac', '\ud83d\ude00', 'a b'),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.string({ unit: 'grapheme' }),
        fc.array(tie('node'), { maxLength: 5 }),
        fc.dictionary(key, tie('node'), { maxKeys: 6 }),
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => {
        expect(canonicalJson(v)).toBe(canonicalJsonReference(v));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps a "__proto__" key and sorts index-like keys as strings', () => {
    const v = JSON.parse('{"__proto__":1,"10":2,"9":3,"b":[{"z":1,"a":2}]}') as unknown;
    expect(canonicalJson(v)).toBe('{"10":2,"9":3,"__proto__":1,"b":[{"a":2,"z":1}]}');
  });
});
