import type { z } from 'zod';

/**
 * A quick yes-only check compiled from a zod schema: `acceptor(schema)(value)` is true only when
 * `schema` surely accepts `value` unchanged, and false whenever it is not sure (a refusal, or a
 * schema part it does not know). The schema stays the one definition: the caller parses with it
 * whenever the quick check says false, and zod then names the problem.
 *
 * Why: records are checked once per record on the edge and again on the cloud; zod's general
 * machinery (issue lists, cloned output, per-check dispatch) costs several times what straight
 * code over the same definition costs, and nearly every record is valid. The definition is
 * turned into JavaScript source once (`new Function`), with the schema's refinements called as
 * zod calls them. Where code cannot be generated at run time (a browser page whose CSP forbids
 * it), the check answers false and zod decides everything, as before.
 *
 * Understood: strict objects (unknown keys refused), optional, literal, enum, boolean, null,
 * unknown, finite numbers (safeint, min/max), strings (length, regex), arrays (length), unions
 * and discriminated unions, records with string keys, pipes from `unknown` (no transform), and
 * refinements. Anything else compiles to false, so zod decides.
 */
export type Acceptor = (value: unknown) => boolean;

/** The parts of zod 4's schema and check internals that are read here. */
interface Def {
  type: string;
  checks?: { _zod: { def: CheckDef } }[];
  shape?: Record<string, Node>;
  catchall?: Node;
  innerType?: Node;
  values?: unknown[];
  entries?: Record<string, unknown>;
  options?: Node[];
  element?: Node;
  keyType?: Node;
  valueType?: Node;
  in?: Node;
  out?: Node;
  format?: string;
  discriminator?: string;
}
interface CheckDef {
  check: string;
  format?: string;
  pattern?: RegExp;
  minimum?: number;
  maximum?: number;
  value?: number;
  inclusive?: boolean;
  fn?: (v: unknown) => unknown;
  when?: unknown;
}
interface Node {
  _zod: { def: Def };
}

function isPlain(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A refinement as zod runs it: passes only on a plain true (a promise or a throw: not sure). */
function refined(fn: (v: unknown) => unknown, v: unknown): boolean {
  try {
    return fn(v) === true;
  } catch {
    return false;
  }
}

/** A JavaScript literal for a primitive, or undefined. */
function literal(v: unknown): string | undefined {
  if (typeof v === 'string' || typeof v === 'boolean' || v === null) return JSON.stringify(v);
  if (typeof v === 'number' && Number.isFinite(v)) return Object.is(v, -0) ? '-0' : String(v);
  return undefined;
}

/** Source text of the check, as expressions over identifiers and functions of its own. */
class Generator {
  readonly consts: unknown[] = [];
  readonly functions: string[] = [];

  private constant(v: unknown): string {
    this.consts.push(v);
    return `c[${this.consts.length - 1}]`;
  }

  private fn(body: string): string {
    const name = `f${this.functions.length}`;
    this.functions.push(`function ${name}(v) {\n${body}\n}`);
    return name;
  }

  /** An expression true when `x` (an identifier) surely passes `node`. */
  expr(node: Node, x: string): string {
    const def = node._zod.def;
    const base = this.base(def, x);
    const checks = this.checks(def, x);
    if (base === 'false' || checks === undefined) return 'false';
    return checks.length === 0 ? base : `(${base} && ${checks.join(' && ')})`;
  }

  private checks(def: Def, x: string): string[] | undefined {
    const out: string[] = [];
    for (const c of def.checks ?? []) {
      const d = c._zod.def;
      // zod's own length checks carry a `when` that only asks for a value with a length (the
      // node's type test ensures it); a refinement's `when` is the schema author's.
      if (d.when !== undefined && d.check === 'custom') return undefined;
      const n = literal(d.minimum ?? d.maximum ?? d.value);
      switch (d.check) {
        case 'min_length':
          if (n === undefined) return undefined;
          out.push(`${x}.length >= ${n}`);
          break;
        case 'max_length':
          if (n === undefined) return undefined;
          out.push(`${x}.length <= ${n}`);
          break;
        case 'greater_than':
          if (n === undefined) return undefined;
          out.push(`${x} ${d.inclusive ? '>=' : '>'} ${n}`);
          break;
        case 'less_than':
          if (n === undefined) return undefined;
          out.push(`${x} ${d.inclusive ? '<=' : '<'} ${n}`);
          break;
        case 'string_format':
          // A global or sticky pattern depends on lastIndex: left to zod.
          if (d.format !== 'regex' || !(d.pattern instanceof RegExp) || d.pattern.global || d.pattern.sticky)
            return undefined;
          out.push(`${this.constant(d.pattern)}.test(${x})`);
          break;
        case 'number_format':
          if (d.format !== 'safeint') return undefined;
          out.push(`Number.isSafeInteger(${x})`);
          break;
        case 'custom':
          if (typeof d.fn !== 'function') return undefined;
          out.push(`refined(${this.constant(d.fn)}, ${x})`);
          break;
        default:
          return undefined;
      }
    }
    return out;
  }

  /** The node's type, without its checks. */
  private base(def: Def, x: string): string {
    switch (def.type) {
      case 'string':
        return `typeof ${x} === 'string'`;
      case 'number':
        // zod 4 refuses NaN and ±Infinity; `z.int()` is the safeint format.
        if (def.format === 'safeint') return `Number.isSafeInteger(${x})`;
        return def.format === undefined ? `(typeof ${x} === 'number' && Number.isFinite(${x}))` : 'false';
      case 'boolean':
        return `typeof ${x} === 'boolean'`;
      case 'null':
        return `${x} === null`;
      case 'unknown':
        return 'true';
      case 'literal':
      case 'enum': {
        const values = def.type === 'literal' ? (def.values ?? []) : Object.values(def.entries ?? {});
        const lits = values.map(literal);
        if (lits.length === 0 || lits.some((l) => l === undefined)) return 'false';
        return `(${lits.map((l) => `${x} === ${l}`).join(' || ')})`;
      }
      case 'optional':
        return `(${x} === undefined || ${this.expr(def.innerType!, x)})`;
      case 'union': {
        const tagged = this.discriminated(def);
        if (tagged) return `${tagged}(${x})`;
        // A union accepts what one of its options accepts.
        return `(${(def.options ?? []).map((o) => this.expr(o, x)).join(' || ') || 'false'})`;
      }
      case 'array':
        return `${this.fn(
          `if (!Array.isArray(v)) return false;\n` +
            `for (let i = 0; i < v.length; i++) { const e = v[i]; if (!(${this.expr(def.element!, 'e')})) return false; }\n` +
            `return true;`,
        )}(${x})`;
      case 'pipe':
        // Only pipes whose input side passes the value on unchanged.
        if (def.in!._zod.def.type !== 'unknown') return 'false';
        return `(${this.expr(def.in!, x)} && ${this.expr(def.out!, x)})`;
      case 'record':
        if (def.keyType!._zod.def.type !== 'string') return 'false';
        return `${this.fn(
          `if (!isPlain(v)) return false;\n` +
            `for (const k in v) { if (k === '__proto__' || !Object.hasOwn(v, k)) return false; const e = v[k];\n` +
            `if (!(${this.expr(def.keyType!, 'k')}) || !(${this.expr(def.valueType!, 'e')})) return false; }\n` +
            `return true;`,
        )}(${x})`;
      case 'object': {
        // Strict objects only: a stripping or passthrough object returns something else than its input.
        if (def.catchall?._zod.def.type !== 'never') return 'false';
        const fields = Object.entries(def.shape ?? {});
        const keys = fields.map(([k]) => `case ${JSON.stringify(k)}:`).join(' ');
        const body = fields.map(([k, s], i) => {
          const required = s._zod.def.type === 'optional' ? '' : `x${i} !== undefined && `;
          return `const x${i} = v[${JSON.stringify(k)}]; if (!(${required}${this.expr(s, `x${i}`)})) return false;`;
        });
        return `${this.fn(
          `if (!isPlain(v)) return false;\n` +
            `for (const k in v) { switch (k) { ${keys} if (!Object.hasOwn(v, k)) return false; break; default: return false; } }\n` +
            `${body.join('\n')}\nreturn true;`,
        )}(${x})`;
      }
      default:
        return 'false';
    }
  }

  /** A discriminated union whose options are told apart by a string literal tag: one option checked. */
  private discriminated(def: Def): string | undefined {
    const key = def.discriminator;
    if (key === undefined) return undefined;
    const cases: string[] = [];
    const seen = new Set<string>();
    for (const option of def.options ?? []) {
      const tag = option._zod.def.shape?.[key]?._zod.def;
      const value = tag?.type === 'literal' && tag.values?.length === 1 ? tag.values[0] : undefined;
      if (typeof value !== 'string' || seen.has(value)) return undefined;
      seen.add(value);
      cases.push(`case ${JSON.stringify(value)}: return ${this.expr(option, 'v')};`);
    }
    return this.fn(
      `if (!isPlain(v)) return false;\nswitch (v[${JSON.stringify(key)}]) { ${cases.join(' ')} default: return false; }`,
    );
  }
}

/**
 * The check for `schema`, compiled on its first call and kept; meant to be made once and called
 * per value. Where code cannot be generated (a CSP without 'unsafe-eval'), it answers false for
 * everything.
 */
export function acceptor(schema: z.ZodType): Acceptor {
  let accept: Acceptor | undefined;
  return (value) => (accept ??= compileAcceptor(schema))(value);
}

function compileAcceptor(schema: z.ZodType): Acceptor {
  const g = new Generator();
  const root = g.expr(schema, 'v');
  const source = `${g.functions.join('\n')}\nreturn function accept(v) { return ${root}; };`;
  try {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const make = new Function('c', 'isPlain', 'refined', source) as (
      c: unknown[],
      p: typeof isPlain,
      r: typeof refined,
    ) => Acceptor;
    return make(g.consts, isPlain, refined);
  } catch {
    return () => false;
  }
}
