import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { hasRepeatedKey, parseJsonConfig } from './json-config.js';

describe('parseJsonConfig', () => {
  it('reads a JSON object exactly as the YAML parser does', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
        const text = JSON.stringify(obj, null, 2);
        expect(parseJsonConfig(text)).toEqual(parse(text, { uniqueKeys: true }));
      }),
      { numRuns: 300 },
    );
  });

  it('leaves to YAML what is not a JSON object', () => {
    for (const text of [
      '',
      'version: 1',
      '[1, 2]',
      '"text"',
      '42',
      '{"a": 1,}',
      '{a: 1}',
      '\uFEFF{"a":1}',
      '# c\n{"a":1}',
    ])
      expect(parseJsonConfig(text)).toBeUndefined();
    expect(parseJsonConfig(' \n\t{"a":1}')).toEqual({ a: 1 });
  });

  it('leaves to YAML an object that repeats a key, at any depth and however the key is escaped', () => {
    expect(parseJsonConfig('{"a":1,"a":2}')).toBeUndefined();
    expect(parseJsonConfig('{"s":[{"x":1},{"p":{"k":"}","k":"{"}}]}')).toBeUndefined();
    expect(parseJsonConfig('{"a\\u0062":1,"ab":2}')).toBeUndefined();
    expect(parseJsonConfig('{"a":"\\"a\\":","b":{"a":1},"c":[{"a":1},{"a":2}]}')).toEqual({
      a: '"a":',
      b: { a: 1 },
      c: [{ a: 1 }, { a: 2 }],
    });
  });

  it('finds a repeated key wherever the YAML parser does', () => {
    const key = fc.constantFrom('a', 'b', 'a"', 'é', '\\', '{', ',');
    const tree = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.jsonValue({ maxDepth: 0 }),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.array(fc.tuple(key, tie('node')), { maxLength: 4 }),
      ),
    })).node;
    // Objects as key/value pairs, so that a key can repeat.
    const text = (n: unknown): string =>
      Array.isArray(n) && n.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string')
        ? `{${(n as [string, unknown][]).map(([k, v]) => `${JSON.stringify(k)}:${text(v)}`).join(',')}}`
        : Array.isArray(n)
          ? `[${n.map(text).join(',')}]`
          : JSON.stringify(n);
    fc.assert(
      fc.property(fc.array(fc.tuple(key, tree), { maxLength: 4 }), (pairs) => {
        const t = text(pairs);
        let yamlRefuses = false;
        try {
          parse(t, { uniqueKeys: true });
        } catch {
          yamlRefuses = true;
        }
        expect(hasRepeatedKey(t)).toBe(yamlRefuses);
      }),
      { numRuns: 500 },
    );
  });
});
