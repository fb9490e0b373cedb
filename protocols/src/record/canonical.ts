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

/** Returned by the fast path when a value needs the careful path (to pass or to fail precisely). */
const SLOW = Symbol('slow');
/** Keys JavaScript orders numerically, whatever their insertion order: JCS wants them sorted as strings. */
const ARRAY_INDEX = /^(?:0|[1-9]\d{0,9})$/;
const MAX_FAST_DEPTH = 64;
/** String.prototype.isWellFormed (Node 20+), with a fallback for older engines. */
const isWellFormed: (s: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function'
    ? (s) => (s as string & { isWellFormed(): boolean }).isWellFormed()
    : (s) => !LONE_SURROGATE.test(s);

/**
 * True when the value can be serialized as it is: every object's keys are already in UTF-16
 * code-unit order and every leaf is one the fast path vouches for. Allocates nothing.
 */
function inCanonicalOrder(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
      return isWellFormed(value);
    case 'number':
      return Number.isFinite(value);
    case 'boolean':
      return true;
    case 'object': {
      if (value === null) return true;
      if (depth > MAX_FAST_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (item === undefined || !inCanonicalOrder(item, depth + 1)) return false;
        }
        return true;
      }
      if (Object.getPrototypeOf(value) !== Object.prototype) return false;
      let prev: string | null = null;
      for (const key in value) {
        if (!Object.hasOwn(value, key)) return false;
        if (prev !== null && !(prev < key)) return false;
        const c = key.charCodeAt(0);
        if ((c >= 48 && c <= 57 && ARRAY_INDEX.test(key)) || key === '__proto__' || !isWellFormed(key))
          return false;
        const item: unknown = (value as Record<string, unknown>)[key];
        if (item === undefined || !inCanonicalOrder(item, depth + 1)) return false;
        prev = key;
      }
      return true;
    }
    case 'undefined':
    case 'bigint':
    case 'function':
    case 'symbol':
      return false;
  }
}

/**
 * A copy with every object's keys inserted in UTF-16 code-unit order, for values the fast path
 * can vouch for: plain objects and arrays of finite numbers, booleans, null and well-formed
 * strings. Returns SLOW for anything else.
 */
function sortedCopy(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
      return isWellFormed(value) ? value : SLOW;
    case 'number':
      return Number.isFinite(value) ? value : SLOW;
    case 'boolean':
      return value;
    case 'object': {
      if (value === null) return null;
      if (depth > MAX_FAST_DEPTH) return SLOW;
      if (Array.isArray(value)) {
        const out = new Array<unknown>(value.length);
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          const copy = item === undefined ? SLOW : sortedCopy(item, depth + 1);
          if (copy === SLOW) return SLOW;
          out[i] = copy;
        }
        return out;
      }
      if (Object.getPrototypeOf(value) !== Object.prototype) return SLOW;
      const keys = Object.keys(value).sort();
      const out: Record<string, unknown> = {};
      for (const key of keys) {
        const c = key.charCodeAt(0);
        // Index-like keys, "__proto__" (an accessor on plain objects) and ill-formed keys take the careful path.
        if ((c >= 48 && c <= 57 && ARRAY_INDEX.test(key)) || key === '__proto__' || !isWellFormed(key))
          return SLOW;
        const item: unknown = (value as Record<string, unknown>)[key];
        if (item === undefined) continue;
        const copy = sortedCopy(item, depth + 1);
        if (copy === SLOW) return SLOW;
        out[key] = copy;
      }
      return out;
    }
    case 'undefined':
    case 'bigint':
    case 'function':
    case 'symbol':
      return SLOW;
  }
}

/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): members sorted by UTF-16 code units, no whitespace,
 * ECMAScript number serialization (1e+30, 4.5, 0.002, 1e-7, -0 → 0), minimal string escapes.
 * Throws RecordFormatError RECORD_NOT_CANONICALIZABLE for values JSON cannot carry exactly.
 *
 * JCS defines its number and string forms as ECMAScript's JSON.stringify, so for ordinary records
 * (plain objects, no array-index-like keys) a key-sorted copy through the native JSON.stringify
 * is the canonical form, several times faster than a generic serializer. Anything else (index-like
 * keys, deep nesting, values JSON cannot carry) goes through the `canonicalize` package, which
 * stays the reference: a property test holds the two equal.
 */
export function canonicalJson(value: unknown): string {
  // Values built with their keys already in order (the edge builds records that way) need no copy.
  if (inCanonicalOrder(value, 0)) return JSON.stringify(value);
  const copy = sortedCopy(value, 0);
  return copy === SLOW ? canonicalJsonReference(value) : JSON.stringify(copy);
}

/** The careful path: full checks with precise messages, then the `canonicalize` package. */
export function canonicalJsonReference(value: unknown): string {
  check(value, [], new Set());
  const text = canonicalize(value);
  if (text === undefined) fail('RECORD_NOT_CANONICALIZABLE', 'value has no JSON form');
  return text;
}

/** UTF-8 bytes of canonicalJson(value): the bytes a record's leaf hash is computed over. */
export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}
