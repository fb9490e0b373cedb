import canonicalizeModule from 'canonicalize';
import { fail } from './errors.js';

// `canonicalize` is CommonJS (module.exports = fn) but its typings declare an ES default export, so
// under NodeNext TypeScript sees the namespace object. Take whichever of the two is the function.
type Serialize = (input: unknown) => string | undefined;
const canonicalizeExport: unknown = canonicalizeModule;
const canonicalize = (
  typeof canonicalizeExport === 'function'
    ? canonicalizeExport
    : (canonicalizeExport as { default: unknown }).default
) as Serialize;

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function where(path: readonly (string | number)[]): string {
  let out = '$';
  for (const p of path)
    out +=
      typeof p === 'number' ? `[${p}]` : /^[A-Za-z_$][\w$]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`;
  return out;
}

/**
 * Walks the value and refuses anything that RFC 8785 (over I-JSON) cannot represent, or that the
 * `canonicalize` package would silently turn into something else (a function inside an object becomes
 * the text `undefined`, a Date goes through toJSON, a Map becomes {}, a cycle overflows the stack).
 * Object properties whose value is undefined are omitted, as JSON.stringify does.
 */
function check(value: unknown, path: (string | number)[], ancestors: Set<object>): void {
  switch (typeof value) {
    case 'string':
      if (LONE_SURROGATE.test(value))
        fail('RECORD_NOT_CANONICALIZABLE', `lone surrogate in string at ${where(path)}`);
      return;
    case 'number':
      if (!Number.isFinite(value)) fail('RECORD_NOT_CANONICALIZABLE', `${String(value)} at ${where(path)}`);
      return;
    case 'boolean':
      return;
    case 'object': {
      if (value === null) return;
      if (ancestors.has(value)) fail('RECORD_NOT_CANONICALIZABLE', `cycle at ${where(path)}`);
      ancestors.add(value);
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (item === undefined)
            fail('RECORD_NOT_CANONICALIZABLE', `undefined array element at ${where([...path, i])}`);
          check(item, [...path, i], ancestors);
        }
      } else {
        const proto: unknown = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          fail('RECORD_NOT_CANONICALIZABLE', `not a plain object or array at ${where(path)}`);
        }
        for (const key of Object.keys(value)) {
          if (LONE_SURROGATE.test(key))
            fail('RECORD_NOT_CANONICALIZABLE', `lone surrogate in a key at ${where(path)}`);
          const item: unknown = (value as Record<string, unknown>)[key];
          if (item === undefined) continue;
          check(item, [...path, key], ancestors);
        }
      }
      ancestors.delete(value);
      return;
    }
    case 'undefined':
    case 'bigint':
    case 'function':
    case 'symbol':
      return fail('RECORD_NOT_CANONICALIZABLE', `${typeof value} at ${where(path)}`);
  }
}

/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): members sorted by UTF-16 code units, no whitespace,
 * ECMAScript number serialization (1e+30, 4.5, 0.002, 1e-7, -0 → 0), minimal string escapes.
 * Throws RecordFormatError RECORD_NOT_CANONICALIZABLE for values JSON cannot carry exactly.
 */
export function canonicalJson(value: unknown): string {
  check(value, [], new Set());
  const text = canonicalize(value);
  if (text === undefined) fail('RECORD_NOT_CANONICALIZABLE', 'value has no JSON form');
  return text;
}

/** UTF-8 bytes of canonicalJson(value): the bytes a record's leaf hash is computed over. */
export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}
