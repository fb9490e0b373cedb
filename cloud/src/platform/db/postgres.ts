import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { assertSameTenant, assertTenantId, toPgPlaceholders, type Db, type SqlParam } from './db.js';

/** The role RigTrace's queries run as unless RIGTRACE_DB_APP_ROLE names another. */
export const DEFAULT_APP_ROLE = 'rigtrace_app';
/** Lowercase, unquoted-safe identifiers only, so a role name never needs quoting anywhere. */
export const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const OID = { bool: 16, int8: 20, json: 114, timestamp: 1114, timestamptz: 1184, jsonb: 3802 } as const;

function parseInt8(v: string): number | bigint {
  const n = Number(v);
  // Nothing RigTrace stores comes near 2^53; if it ever does, a bigint, never a rounded number.
  return Number.isSafeInteger(n) ? n : BigInt(v);
}

/** Type parsers for this pool only (pg's global defaults stay untouched for other code). */
export function typeParsers(): pg.CustomTypesConfig {
  const ts = pg.types.getTypeParser(OID.timestamptz) as (v: string) => Date | number | string;
  const toIso = (v: string) => {
    const d = ts(v);
    return d instanceof Date && !Number.isNaN(d.getTime()) ? d.toISOString() : v;
  };
  const own: Record<number, (v: string) => unknown> = {
    [OID.int8]: parseInt8,
    [OID.bool]: (v) => (v === 't' ? 1 : 0),
    [OID.timestamptz]: toIso,
    // Sessions run with TimeZone=UTC; a timestamp without zone is read as UTC.
    [OID.timestamp]: (v) => toIso(`${v}+00`),
    // JSON is text to callers, as in SQLite.
    [OID.json]: (v) => v,
    [OID.jsonb]: (v) => v,
  };
  return {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      (format ?? 'text') === 'text' && own[oid]
        ? own[oid]
        : (pg.types.getTypeParser(oid, format) as (
            v: string,
          ) => unknown)) as pg.CustomTypesConfig['getTypeParser'],
  };
}

/**
 * Client settings for a DATABASE_URL plus server options (`-c name=value`) of our own. An
 * `options` parameter in the URL is kept and ours are appended (pg would otherwise let the
 * URL's replace them).
 */
export function pgConnectionConfig(url: string, serverOptions: string[]): pg.ClientConfig {
  let connectionString = url;
  let options = serverOptions.join(' ');
  const u = new URL(url);
  const fromUrl = u.searchParams.get('options');
  if (fromUrl !== null) {
    u.searchParams.delete('options');
    connectionString = u.toString();
    options = `${fromUrl} ${options}`.trim();
  }
  return { connectionString, options };
}

/** What a log line may say about a database: host, port and name, never the password. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    return `postgres://${u.hostname || 'localhost'}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return 'postgres://(unparseable)';
  }
}

interface PgTx {
  client: pg.PoolClient;
  tenant: string | undefined;
  done: boolean;
  /** The last statement sent on the client: statements of one transaction go one after another. */
  tail: Promise<unknown>;
}

/**
 * Sends `q` on the transaction's client once the statement before it has finished. Code may
 * start several statements of one transaction at once (and await them together); the client
 * takes one at a time, and pg will no longer queue them itself.
 */
function onClient<T>(tx: PgTx, q: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const next = tx.tail.then(
    () => q(tx.client),
    () => q(tx.client),
  );
  tx.tail = next.catch(() => undefined);
  return next;
}

const SET_TENANT = "SELECT set_config('app.tenant_id', $1, true)";

/**
 * One statement for a tenant, outside any transaction, in one round trip: the tenant's
 * `set_config(…, true)` and the statement go in one extended-protocol pipeline ending in a single
 * Sync, which PostgreSQL runs as one implicit transaction. The setting is therefore in force for
 * the statement (row-level security applies) and gone when it commits. If setting the tenant
 * fails, the server skips the statement. The set_config's own row and completion are not part of
 * the result.
 */
class TenantQuery extends (pg.Query as unknown as new (config: pg.QueryConfig) => PgQueryInternals) {
  /** Messages of the set_config still to come: its row, then its CommandComplete. */
  private setting = true;

  constructor(
    private readonly tenantId: string,
    config: pg.QueryConfig,
  ) {
    super({ ...config, queryMode: 'extended' } as pg.QueryConfig);
  }

  override prepare(connection: PgConnectionInternals): void {
    connection.parse({ text: SET_TENANT, name: '', types: [] });
    connection.bind({ portal: '', statement: '', values: [this.tenantId] });
    connection.execute({ portal: '', rows: 0 });
    super.prepare(connection);
  }

  override handleDataRow(msg: unknown): void {
    if (!this.setting) super.handleDataRow(msg);
  }

  override handleCommandComplete(msg: unknown, connection: PgConnectionInternals): void {
    if (this.setting) this.setting = false;
    else super.handleCommandComplete(msg, connection);
  }
}

/** The parts of pg's (untyped) Query and Connection that TenantQuery uses. */
interface PgQueryInternals {
  prepare(connection: PgConnectionInternals): void;
  handleDataRow(msg: unknown): void;
  handleCommandComplete(msg: unknown, connection: PgConnectionInternals): void;
}
interface PgConnectionInternals {
  parse(m: { text: string; name: string; types: unknown[] }): void;
  bind(m: { portal: string; statement: string; values: unknown[] }): void;
  execute(m: { portal: string; rows: number }): void;
}

interface PgScope {
  tenant?: string | undefined;
  tx?: PgTx | undefined;
  /** Inside withTenantStatement outside a transaction: whether its one statement was made. */
  single?: { made: boolean } | undefined;
}

const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected
const MAX_ATTEMPTS = 5;

export interface PostgresOptions {
  /** The non-owner role every pooled session runs as (row-level security applies to it). */
  appRole?: string;
  poolMax?: number;
  /** Errors of idle pooled connections (the server restarted, the network dropped). */
  onIdleError?: (err: Error) => void;
}

/**
 * PostgreSQL behind the same `Db` face as SQLite. Every pooled session starts as the app role
 * (`-c role=…` at connection start-up), which owns nothing and bypasses nothing, so row-level
 * security applies to every query. A transaction holds one pooled client from BEGIN to COMMIT;
 * AsyncLocalStorage routes every statement made inside it, however deep, to that client.
 * Statements outside a transaction use any pooled client, inside a short transaction of their
 * own when a tenant is bound (row-level security needs `app.tenant_id`, set per transaction).
 *
 * Migrations run elsewhere, as the owner (see migrations.ts): this class never runs as owner.
 */
export class PostgresDb implements Db {
  readonly dialect = 'postgres' as const;
  /** See onClient. */
  readonly statementsInOrder = true;
  private readonly scope = new AsyncLocalStorage<PgScope>();

  private constructor(
    private readonly pool: pg.Pool,
    readonly appRole: string,
  ) {}

  static async connect(url: string, opts: PostgresOptions = {}): Promise<PostgresDb> {
    const appRole = opts.appRole ?? DEFAULT_APP_ROLE;
    if (!ROLE_NAME.test(appRole)) throw new Error(`"${appRole}" is not a valid role name`);
    const pool = new pg.Pool({
      // No JIT: the cloud's reads are short, index-driven queries, but one over many monthly
      // partitions is costed above jit_above_cost and compiling its ~1,900 functions took 657 ms of
      // a 720 ms suspect-records page at 10 M records (BENCHMARKS.md, "Queries at 10 M records").
      ...pgConnectionConfig(url, [
        `-c role=${appRole}`,
        '-c search_path=public',
        '-c TimeZone=UTC',
        '-c jit=off',
      ]),
      max: opts.poolMax ?? 10,
      types: typeParsers(),
      application_name: 'rigtrace-cloud',
      // A transaction left open by a stuck request must not hold an edge's row lock for ever.
      idle_in_transaction_session_timeout: 60_000,
      connectionTimeoutMillis: 10_000,
    });
    pool.on('error', (err) => opts.onIdleError?.(err));
    const db = new PostgresDb(pool, appRole);
    try {
      await db.checkRole();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return db;
  }

  /** Refuses to run as a role for which row-level security would not apply. */
  private async checkRole(): Promise<void> {
    const r = await this.pool.query<{ role: string; super: number; bypass: number; owner: number }>(
      `SELECT current_user AS role, r.rolsuper AS super, r.rolbypassrls AS bypass,
              EXISTS (SELECT 1 FROM pg_tables t
                       WHERE t.schemaname = 'public' AND pg_has_role(current_user, t.tableowner, 'USAGE')) AS owner
         FROM pg_roles r WHERE r.rolname = current_user`,
    );
    const row = r.rows[0];
    if (!row || row.role !== this.appRole) {
      throw new Error(`PostgreSQL sessions run as "${row?.role ?? '?'}", not as "${this.appRole}"`);
    }
    // This pool's type parsers turn booleans into 0 | 1.
    if (row.super || row.bypass || row.owner) {
      throw new Error(
        `the app role "${this.appRole}" is a superuser, has BYPASSRLS or owns RigTrace's tables: row-level security would not apply`,
      );
    }
  }

  private activeTx(): PgTx | undefined {
    const tx = this.scope.getStore()?.tx;
    return tx && !tx.done ? tx : undefined;
  }

  private async query<R extends pg.QueryResultRow>(
    sql: string,
    params: readonly SqlParam[],
  ): Promise<pg.QueryResult<R>> {
    const text = toPgPlaceholders(sql, params.length);
    const values = [...params];
    const tx = this.activeTx();
    if (tx) return onClient(tx, (c) => c.query<R>(text, values));
    const scope = this.scope.getStore();
    if (scope?.single) {
      if (scope.single.made) throw new Error('withTenantStatement: a second statement (use withTenant)');
      scope.single.made = true;
    }
    const tenant = scope?.tenant;
    if (tenant !== undefined) return this.tenantQuery<R>(tenant, text, values);
    return this.pool.query<R>(text, values);
  }

  /** A tenant-bound statement outside a transaction: one round trip (see TenantQuery). */
  private async tenantQuery<R extends pg.QueryResultRow>(
    tenant: string,
    text: string,
    values: SqlParam[],
  ): Promise<pg.QueryResult<R>> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.pool.query(new TenantQuery(tenant, { text, values }) as unknown as pg.QueryConfig);
      } catch (error) {
        if (!RETRYABLE.has((error as { code?: string }).code ?? '') || attempt >= MAX_ATTEMPTS) throw error;
        await sleep(Math.random() * 20 * attempt);
      }
    }
  }

  async run(sql: string, params: readonly SqlParam[] = []): Promise<{ changes: number }> {
    const r = await this.query(sql, params);
    return { changes: r.rowCount ?? 0 };
  }

  async get<T>(sql: string, params: readonly SqlParam[] = []): Promise<T | undefined> {
    const r = await this.query(sql, params);
    return r.rows[0] as T | undefined;
  }

  async all<T>(sql: string, params: readonly SqlParam[] = []): Promise<T[]> {
    const r = await this.query(sql, params);
    return r.rows as T[];
  }

  async exec(sql: string): Promise<void> {
    const tx = this.activeTx();
    if (tx) await onClient(tx, (c) => c.query(sql));
    else if (this.scope.getStore()?.tenant !== undefined) await this.transaction(() => this.exec(sql));
    else await this.pool.query(sql);
  }

  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.activeTx()) return fn();
    const tenant = this.scope.getStore()?.tenant;
    for (let attempt = 1; ; attempt += 1) {
      const r = await this.attempt(fn, tenant);
      if (r.ok) return r.value;
      if (!RETRYABLE.has((r.error as { code?: string }).code ?? '') || attempt >= MAX_ATTEMPTS) throw r.error;
      await sleep(Math.random() * 20 * attempt);
    }
  }

  private async attempt<T>(
    fn: () => Promise<T>,
    tenant: string | undefined,
  ): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
    const client = await this.pool.connect();
    const tx: PgTx = { client, tenant: undefined, done: false, tail: Promise.resolve() };
    let broken: Error | undefined;
    try {
      if (tenant === undefined) await client.query('BEGIN');
      else {
        // BEGIN and the tenant in one round trip: a simple query of two statements, the tenant
        // id as an escaped literal (the simple protocol takes no parameters).
        tx.tenant = tenant;
        await client.query(
          `BEGIN; SELECT set_config('app.tenant_id', ${client.escapeLiteral(tenant)}, true)`,
        );
      }
      const value = await this.scope.run({ tenant, tx }, fn);
      tx.done = true;
      await tx.tail;
      await client.query('COMMIT');
      return { ok: true, value };
    } catch (error) {
      tx.done = true;
      await tx.tail;
      await client.query('ROLLBACK').catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error(String(e));
      });
      return { ok: false, error };
    } finally {
      // A client whose ROLLBACK failed is in an unknown state: the pool discards it.
      client.release(broken);
    }
  }

  private async setTenant(tx: PgTx, tenantId: string): Promise<void> {
    tx.tenant = tenantId; // before the await, so a concurrent call for another tenant sees it
    await onClient(tx, (c) => c.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]));
  }

  async withTenant<T>(tenantId: string, fn: () => Promise<T>): Promise<T> {
    assertTenantId(tenantId);
    assertSameTenant(this.scope.getStore()?.tenant, tenantId);
    const tx = this.activeTx();
    if (!tx) return this.scope.run({ tenant: tenantId }, () => this.transaction(fn));
    if (tx.tenant === undefined) await this.setTenant(tx, tenantId);
    else assertSameTenant(tx.tenant, tenantId);
    return this.scope.run({ tenant: tenantId, tx }, fn);
  }

  async withTenantStatement<T>(tenantId: string, fn: () => Promise<T>): Promise<T> {
    if (this.activeTx()) return this.withTenant(tenantId, fn);
    assertTenantId(tenantId);
    assertSameTenant(this.scope.getStore()?.tenant, tenantId);
    return this.scope.run({ tenant: tenantId, single: { made: false } }, fn);
  }

  bindTenant<T>(tenantId: string, fn: () => T): T {
    assertTenantId(tenantId);
    const s = this.scope.getStore();
    assertSameTenant(s?.tenant, tenantId);
    assertSameTenant(this.activeTx()?.tenant, tenantId);
    return this.scope.run({ ...s, tenant: tenantId }, fn);
  }

  /** The pool's connections right now (for /metrics). */
  poolStats(): { total: number; idle: number; waiting: number; max: number } {
    return {
      total: this.pool.totalCount,
      idle: this.pool.idleCount,
      waiting: this.pool.waitingCount,
      max: this.pool.options.max ?? 10,
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/**
 * The `Db` face over one owner connection already inside a transaction the caller opened and
 * will end (BEGIN … COMMIT): the owner's commands (records retention) write their audit entries
 * and security events in the same transaction as their DDL, so both happen or neither. The
 * client must use typeParsers(). `transaction` joins the open one; `withTenant` sets
 * `app.tenant_id` for what follows (the owner is not held by row-level security, so several
 * tenants may be written one after another).
 */
export function ownerTransactionDb(client: pg.Client): Db {
  const q = async (sql: string, params: readonly SqlParam[]) =>
    client.query(toPgPlaceholders(sql, params.length), [...params]);
  return {
    dialect: 'postgres',
    statementsInOrder: true,
    run: async (sql, params = []) => ({ changes: (await q(sql, params)).rowCount ?? 0 }),
    get: async <T>(sql: string, params: readonly SqlParam[] = []) =>
      (await q(sql, params)).rows[0] as T | undefined,
    all: async <T>(sql: string, params: readonly SqlParam[] = []) => (await q(sql, params)).rows as T[],
    exec: async (sql) => void (await client.query(sql)),
    transaction: (fn) => fn(),
    withTenant: async (tenantId, fn) => {
      assertTenantId(tenantId);
      await client.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
      return fn();
    },
    withTenantStatement(tenantId, fn) {
      return this.withTenant(tenantId, fn);
    },
    bindTenant: (_tenantId, fn) => fn(),
    close: () => Promise.resolve(),
  };
}
