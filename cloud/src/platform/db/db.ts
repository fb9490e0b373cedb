/**
 * The storage seam. Repositories are the only code that writes SQL, and they write it once, in
 * the dialect both backends share: `?` placeholders, `INSERT … ON CONFLICT DO NOTHING`, row
 * values, `LIMIT ?`. Where the two must differ (row locks, the narrow cross-tenant lookups) a
 * repository branches on `dialect`.
 *
 * Values that come back: integers as JS numbers (PostgreSQL BIGINT too), blobs as Buffer,
 * booleans as 0 | 1 (as SQLite stores them), timestamps as ISO 8601 strings in UTC.
 */
export type Dialect = 'sqlite' | 'postgres';

export type SqlParam = string | number | bigint | boolean | Buffer | Uint8Array | null | SqlArray;
/**
 * An array bound as one PostgreSQL array parameter (`?::text[]`, e.g. for `unnest`): PostgreSQL
 * only; SQLite has no array type.
 */
export type SqlArray = readonly (string | number | boolean | Buffer | Uint8Array | null)[];

export interface Db {
  readonly dialect: Dialect;
  /**
   * Whether the statements of one transaction run in the order they were issued, even when the
   * caller starts the next before the last has finished (PostgreSQL: one connection, one
   * statement after another). SQLite's driver may run statements issued together in any order.
   */
  readonly statementsInOrder: boolean;

  /** One statement; `changes` is the number of rows it inserted, updated or deleted. */
  run(sql: string, params?: readonly SqlParam[]): Promise<{ changes: number }>;
  /** The first row, or undefined. */
  get<T>(sql: string, params?: readonly SqlParam[]): Promise<T | undefined>;
  all<T>(sql: string, params?: readonly SqlParam[]): Promise<T[]>;
  /** Statements without parameters, separated by `;`. */
  exec(sql: string): Promise<void>;

  /**
   * Runs `fn` in one transaction, committed if it resolves and rolled back if it throws. Every
   * statement `fn` causes, however deep in the repositories, runs in it (on PostgreSQL, on one
   * pooled connection). A transaction inside a transaction joins the outer one. On PostgreSQL a
   * serialization failure or deadlock re-runs `fn`, so `fn` must not have effects outside the
   * database that cannot be repeated.
   */
  transaction<T>(fn: () => Promise<T>): Promise<T>;

  /**
   * Runs `fn` as `tenantId`. On PostgreSQL that is row-level security: `fn` runs in a
   * transaction (the current one, or a new one) with `app.tenant_id` set, so a statement that
   * forgot its `WHERE tenant_id = ?` still sees and writes only this tenant's rows. On SQLite
   * the WHERE clauses are the only wall. Either way, asking for another tenant while already
   * working for one throws a TenantScopeError.
   */
  withTenant<T>(tenantId: string, fn: () => Promise<T>): Promise<T>;

  /**
   * `withTenant` for an `fn` that makes exactly one statement (a read on a hot path): the same
   * tenant scope and, on PostgreSQL, the same row-level security, but outside a transaction the
   * statement goes out in one round trip (the tenant's `set_config` and the statement in one
   * pipeline, one implicit transaction) instead of three (BEGIN with the tenant, the statement,
   * COMMIT). Inside a transaction it is `withTenant`. A second statement in `fn` throws.
   */
  withTenantStatement<T>(tenantId: string, fn: () => Promise<T>): Promise<T>;

  /**
   * Marks everything `fn` starts (synchronously or later) as done for `tenantId`, without
   * opening anything: the request scope set by authentication. Inside it, `withTenant` for
   * another tenant throws, and on PostgreSQL a statement outside any transaction runs with row
   * level security set to this tenant.
   */
  bindTenant<T>(tenantId: string, fn: () => T): T;

  close(): Promise<void>;
}

/** A repository asked for one tenant while the request or transaction works for another: a bug. */
export class TenantScopeError extends Error {
  constructor(current: string, wanted: string) {
    super(`tenant scope violation: working for tenant "${current}", asked for "${wanted}"`);
    this.name = 'TenantScopeError';
  }
}

export function assertTenantId(tenantId: string): void {
  if (typeof tenantId !== 'string' || tenantId === '') {
    throw new TypeError('a tenant id must be a non-empty string');
  }
}

/** Throws unless `current` is unset or the same tenant. */
export function assertSameTenant(current: string | undefined, wanted: string): void {
  if (current !== undefined && current !== wanted) throw new TenantScopeError(current, wanted);
}

/**
 * Rewrites `?` placeholders as PostgreSQL's `$1, $2, …`, leaving alone any `?` inside string
 * literals ('…', E'…', $tag$…$tag$), quoted identifiers and comments. PostgreSQL's own `?`
 * operators (jsonb) cannot be written in repository SQL; use jsonb_exists() and friends.
 * Throws if the count differs from `paramCount`, before the server sees the statement.
 */
export function toPgPlaceholders(sql: string, paramCount: number): string {
  let out = '';
  let n = 0;
  let i = 0;
  const len = sql.length;
  while (i < len) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === '?') {
      n += 1;
      out += `$${n}`;
      i += 1;
    } else if (c === "'" || c === '"') {
      // A literal or identifier; a doubled quote is an escaped quote. E'…' may also escape with \.
      const escapes = c === "'" && i > 0 && /[eE]/.test(sql[i - 1]!) && !/\w/.test(sql[i - 2] ?? '');
      let j = i + 1;
      while (j < len) {
        if (escapes && sql[j] === '\\') j += 2;
        else if (sql[j] === c && sql[j + 1] === c) j += 2;
        else if (sql[j] === c) break;
        else j += 1;
      }
      out += sql.slice(i, j + 1);
      i = j + 1;
    } else if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      const j = end === -1 ? len : end;
      out += sql.slice(i, j);
      i = j;
    } else if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      const j = end === -1 ? len : end + 2;
      out += sql.slice(i, j);
      i = j;
    } else if (c === '$' && !/\w/.test(sql[i - 1] ?? '')) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        const j = end === -1 ? len : end + tag[0].length;
        out += sql.slice(i, j);
        i = j;
      } else {
        out += c;
        i += 1;
      }
    } else {
      out += c;
      i += 1;
    }
  }
  if (n !== paramCount) {
    throw new RangeError(`the statement has ${n} placeholders but ${paramCount} parameters were given`);
  }
  return out;
}
