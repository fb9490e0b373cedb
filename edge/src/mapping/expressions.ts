import { compileExpression } from 'filtrex';

/**
 * Small expressions in a mapping: a field written `=…` is an expression over the source's named
 * values (polled points, subscribed items, the result block's values, `i` in a repeated group).
 * The language is filtrex (a maintained, safe expression compiler made for end users: no access to
 * JavaScript, no loops, no assignment): `+ - * / ^ mod`, comparisons, `and or not`,
 * `if … then … else …`, `x in (1, 2)`, "text", and the functions below. A name with characters
 * other than letters, digits, `_` and `.` is written in single quotes: `'flow-rate' * 60`.
 */

/** A named value that could not be used (bad quality, unreadable node), with the reason. */
export class Unavailable {
  constructor(
    readonly name: string,
    readonly reason: string,
    /** Simply not there (a message without that key): an optional field using it is left out. */
    readonly absent = false,
    /**
     * Not read this time: the device gave no value (no reply, an exception, a refused frame, not
     * received yet). Reading it again may give it, unlike a value read that does not fit.
     */
    readonly unread = false,
  ) {}

  /** A value the device did not give this time (see `unread`). */
  static unread(name: string, reason: string): Unavailable {
    return new Unavailable(name, reason, false, true);
  }
}

/** Raised while evaluating, so the field's problem names the value that was missing. */
export class MissingValue extends Error {
  constructor(
    readonly valueName: string,
    readonly reason: string,
    readonly absent = false,
    readonly unread = false,
  ) {
    super(`${valueName} ${reason}`);
  }
}

export type Scope = Record<string, unknown>;

const MS_PER_DAY = 86_400_000;

/** Milliseconds since the epoch from an OPC UA DateTime (ISO text), epoch seconds or ms, or a Date. */
export function toEpochMs(x: unknown): number {
  if (x instanceof Date) return x.getTime();
  if (typeof x === 'number') {
    // Below 1e11 it is seconds (that is the year 5138 in ms, 1973 in s).
    return Math.abs(x) < 1e11 ? x * 1000 : x;
  }
  if (typeof x === 'string') {
    const t = x.trim();
    if (/^-?\d+(\.\d+)?$/.test(t)) return toEpochMs(Number(t));
    // A bare date is midnight UTC; a date-time without an offset is read as UTC.
    const iso = /^\d{4}-\d{2}-\d{2}$/.test(t)
      ? `${t}T00:00:00Z`
      : /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(t)
        ? `${t.replace(' ', 'T')}Z`
        : t;
    const ms = Date.parse(iso);
    if (Number.isFinite(ms)) return ms;
  }
  throw new TypeError(`cannot read ${describe(x)} as a date or time`);
}

/** A value for a message: "text", 12.5, true, an array in short, (missing). */
export function describe(x: unknown): string {
  if (x === undefined) return '(missing)';
  if (typeof x === 'string') return JSON.stringify(x.length > 60 ? `${x.slice(0, 59)}…` : x);
  if (Array.isArray(x)) return `[${x.slice(0, 4).map(describe).join(', ')}${x.length > 4 ? ', …' : ''}]`;
  if (x instanceof Date) return x.toISOString();
  if (x === null || typeof x === 'number' || typeof x === 'boolean') return String(x);
  if (typeof x !== 'object') return `(${typeof x})`;
  try {
    const s = JSON.stringify(x);
    return s.length > 80 ? `${s.slice(0, 79)}…` : s;
  } catch {
    return '(object)';
  }
}

const isoDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The functions every expression may call. */
function functions(tables: Record<string, Record<string, unknown>>) {
  return {
    /** Calendar date (YYYY-MM-DD, UTC) of a DateTime, ISO text, epoch seconds or ms. */
    date: (x: unknown) => isoDate(toEpochMs(x)),
    /** RFC 3339 UTC timestamp of the same. */
    timestamp: (x: unknown) => new Date(toEpochMs(x)).toISOString(),
    /** Epoch milliseconds of the same. */
    epochMs: (x: unknown) => toEpochMs(x),
    /** A date/time plus n days (an interval: due = last + interval), as a timestamp. */
    addDays: (x: unknown, n: unknown) => new Date(toEpochMs(x) + Number(n) * MS_PER_DAY).toISOString(),
    /** A date/time plus a duration in milliseconds (an OPC UA Duration), as a timestamp. */
    addMs: (x: unknown, n: unknown) => new Date(toEpochMs(x) + Number(n)).toISOString(),
    /** The value for `key` in the mapping's lookup table `table`. */
    lookup: (table: unknown, key: unknown) => {
      const t = tables[String(table)];
      if (!t) throw new TypeError(`no lookup table named ${describe(table)}`);
      const k = typeof key === 'boolean' || typeof key === 'number' ? String(key) : String(key).trim();
      if (!Object.hasOwn(t, k))
        throw new TypeError(`table ${String(table)} has no entry for ${describe(key)}`);
      return t[k];
    },
    /** Element i (from 0) of an array. */
    at: (a: unknown, i: unknown) => {
      if (!Array.isArray(a)) throw new TypeError(`${describe(a)} is not an array`);
      const n = Number(i);
      if (!Number.isInteger(n) || n < 0 || n >= a.length)
        throw new TypeError(`index ${describe(i)} is outside the ${a.length} values`);
      return a[n] as unknown;
    },
    /** Number of elements of an array (or characters of a text). */
    len: (a: unknown) => (Array.isArray(a) || typeof a === 'string' ? a.length : 0),
    /** A number from a text ("12.5", " 3 "). */
    num: (x: unknown) => {
      const n = typeof x === 'number' ? x : Number(String(x).trim());
      if (!Number.isFinite(n) || (typeof x === 'string' && x.trim() === ''))
        throw new TypeError(`${describe(x)} is not a number`);
      return n;
    },
    text: (x: unknown) => (typeof x === 'string' ? x : describe(x)),
    trim: (x: unknown) => String(x).trim(),
    round: (x: unknown, digits: unknown = 0) => {
      const f = 10 ** Number(digits);
      return Math.round(Number(x) * f) / f;
    },
  };
}

/** A compiled value: a constant, or an expression over a scope. */
export type Evaluator = (scope: Scope) => unknown;

export interface CompiledValue {
  /** The expression's text (without the `=`), or undefined for a constant. */
  source: string | undefined;
  evaluate: Evaluator;
}

/**
 * Compiles a mapping value: a string starting with `=` is an expression, anything else (number,
 * boolean, text) a constant. Throws with filtrex's message when the expression does not parse.
 * Evaluating throws MissingValue when a name it uses is unavailable, TypeError (or filtrex's
 * error) when a value has the wrong type.
 */
export function compileValue(
  spec: unknown,
  tables: Record<string, Record<string, unknown>> = NO_TABLES,
): CompiledValue {
  if (typeof spec !== 'string' || !spec.startsWith('=')) return { source: undefined, evaluate: () => spec };
  const source = spec.slice(1).trim();
  const compile = (): Evaluator => {
    const fn = compileExpression(source, {
      extraFunctions: functionsOf(tables),
      customProp: (name: string, _get: unknown, obj: unknown) => valueOf(obj as Scope, name),
    }) as (scope: Scope) => unknown;
    return (scope) => {
      const r = fn(scope);
      // filtrex returns (does not throw) the errors raised while evaluating.
      if (r instanceof Error) throw r;
      return r;
    };
  };
  // Compiled here in any case, so an expression that does not parse is refused with the config.
  const evaluate = compile();
  // A shortcut needs filtrex only for a value that is not a number: its compiled function (some
  // kilobytes each, which 50 sources' mappings multiply) is then made again when first needed.
  let full: Evaluator | undefined;
  const fast = shortcut(source, (scope) => (full ??= compile())(scope));
  return { source, evaluate: fast ?? evaluate };
}

/** No lookup tables (one object, so its functions are made once). */
const NO_TABLES: Record<string, Record<string, unknown>> = {};

/** The functions of each set of lookup tables, made once (every expression of a mapping shares them). */
const functionsFor = new WeakMap<object, ReturnType<typeof functions>>();
function functionsOf(tables: Record<string, Record<string, unknown>>) {
  let f = functionsFor.get(tables);
  if (!f) functionsFor.set(tables, (f = functions(tables)));
  return f;
}

/** A named value as every expression sees it: MissingValue when the scope does not have it. */
function valueOf(scope: Scope, name: string): unknown {
  if (!Object.hasOwn(scope, name)) throw new MissingValue(name, 'is not a value of this source');
  const v = scope[name];
  if (v instanceof Unavailable) throw new MissingValue(name, v.reason, v.absent, v.unread);
  return v;
}

/** filtrex's words, which are never names. */
const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'of', 'if', 'then', 'else', 'mod']);
const SIMPLE = /^(?:([a-zA-Z$_][.a-zA-Z0-9$_]*)|'([^'\\]*)')(?:\s*([-+*/])\s*([0-9]+(?:\.[0-9]+)?))?$/;

/**
 * The commonest expressions — a bare name (`=serial`) and a name and a number (`=r17 * 0.1`, a unit
 * conversion) — without filtrex's per-evaluation allocations (a closure per evaluation and per
 * name): several times faster, which matters when every polled value passes through one. The
 * result is filtrex's: a name's value as it is; an operator on a number is the same arithmetic;
 * anything else (a text, a list, a missing value…) is left to filtrex, so its errors and
 * conversions stay exactly its own. Undefined for any other expression.
 */
function shortcut(source: string, full: Evaluator): Evaluator | undefined {
  const m = SIMPLE.exec(source);
  if (!m) return undefined;
  const name = m[1] ?? m[2]!;
  if (m[1] !== undefined && KEYWORDS.has(name)) return undefined;
  // One lookup where the name cannot be inherited (the scope is a plain object), as valueOf does.
  const inherited = name in Object.prototype;
  const get = (scope: Scope) => {
    const v = scope[name];
    if ((v === undefined || inherited) && !Object.hasOwn(scope, name))
      throw new MissingValue(name, 'is not a value of this source');
    if (v instanceof Unavailable) throw new MissingValue(name, v.reason, v.absent, v.unread);
    return v;
  };
  const op = m[3];
  if (op === undefined)
    return (scope) => {
      const v = get(scope);
      if (v instanceof Error) throw v;
      return v;
    };
  const k = Number(m[4]);
  const apply =
    op === '*'
      ? (v: number) => v * k
      : op === '/'
        ? (v: number) => v / k
        : op === '+'
          ? (v: number) => v + k
          : (v: number) => v - k;
  return (scope) => {
    const v = get(scope);
    return typeof v === 'number' ? apply(v) : full(scope);
  };
}
