import { AsyncLocalStorage } from 'node:async_hooks';
import sqlite3 from 'sqlite3';
import { assertSameTenant, assertTenantId, type Db, type SqlParam } from './db.js';

export type { SqlParam } from './db.js';

interface SqliteTx {
  /** False once COMMIT or ROLLBACK has been sent: later statements from `fn`'s leftovers queue. */
  active: boolean;
  tenant: string | undefined;
}

interface SqliteScope {
  tenant?: string | undefined;
  tx?: SqliteTx | undefined;
}

/** A transaction waiting in a group (see SqliteDb.transaction). */
interface GroupMember {
  fn: () => Promise<unknown>;
  tenant: string | undefined;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/** Transactions committed together at most. */
const MAX_GROUP = 32;

/** Reads that may go to the read-only connection: plain SELECTs (a WITH could hide a write). */
const READ_ONLY = /^\s*SELECT\b/i;

function openConnection(file: string, mode: number): Promise<sqlite3.Database> {
  return new Promise<sqlite3.Database>((resolve, reject) => {
    const d = new sqlite3.Database(file, mode, (err) => (err ? reject(err) : resolve(d)));
  });
}

/**
 * SQLite with a promise face: one connection that writes and one that only reads. A single
 * connection has a single transaction, so everything that may write goes through one in-process
 * queue: a transaction holds it from BEGIN to COMMIT, and a statement from outside waits its
 * turn instead of slipping into someone else's transaction (where it would see uncommitted rows
 * and be rolled back with them). Statements issued inside a transaction (known through
 * AsyncLocalStorage) run at once. SELECTs from outside any transaction go to the read-only
 * connection, which in WAL mode sees the last committed state without waiting for the writer.
 * BEGIN IMMEDIATE takes the write lock, so another process on the same file waits
 * (busy_timeout) rather than interleaves.
 */
export class SqliteDb implements Db {
  readonly dialect = 'sqlite' as const;
  readonly statementsInOrder = false;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly scope = new AsyncLocalStorage<SqliteScope>();
  private constructor(
    private readonly db: sqlite3.Database,
    private readonly reader: sqlite3.Database,
  ) {}

  static async open(file: string): Promise<SqliteDb> {
    const db = await openConnection(file, sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE);
    const pragmas = (conn: sqlite3.Database, sql: string) =>
      new Promise<void>((resolve, reject) => conn.exec(sql, (err) => (err ? reject(err) : resolve())));
    try {
      await pragmas(
        db,
        'PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;',
      );
      const reader = await openConnection(file, sqlite3.OPEN_READONLY);
      await pragmas(reader, 'PRAGMA busy_timeout=5000; PRAGMA query_only=ON;');
      return new SqliteDb(db, reader);
    } catch (err) {
      db.close(() => undefined);
      throw err;
    }
  }

  private activeTx(): SqliteTx | undefined {
    const tx = this.scope.getStore()?.tx;
    return tx?.active ? tx : undefined;
  }

  /** Runs `work` now if we are inside a transaction, else after everything queued before it. */
  private turn<T>(work: () => Promise<T>): Promise<T> {
    if (this.activeTx()) return work();
    const next = this.tail.then(work);
    this.tail = next.catch(() => undefined);
    return next;
  }

  private rawExec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => this.db.exec(sql, (err) => (err ? reject(err) : resolve())));
  }

  exec(sql: string): Promise<void> {
    return this.turn(() => this.rawExec(sql));
  }

  run(sql: string, params: readonly SqlParam[] = []): Promise<{ changes: number }> {
    return this.turn(
      () =>
        new Promise((resolve, reject) => {
          this.db.run(sql, [...params], function (this: sqlite3.RunResult, err: Error | null) {
            if (err) reject(err);
            else resolve({ changes: this.changes });
          });
        }),
    );
  }

  /** Where a statement that returns rows runs: see the class comment. */
  private rows<T>(sql: string, work: (conn: sqlite3.Database) => Promise<T>): Promise<T> {
    if (!this.activeTx() && READ_ONLY.test(sql)) return work(this.reader);
    return this.turn(() => work(this.db));
  }

  get<T>(sql: string, params: readonly SqlParam[] = []): Promise<T | undefined> {
    return this.rows(
      sql,
      (conn) =>
        new Promise((resolve, reject) =>
          conn.get(sql, [...params], (err, row) => (err ? reject(err) : resolve(row as T | undefined))),
        ),
    );
  }

  all<T>(sql: string, params: readonly SqlParam[] = []): Promise<T[]> {
    return this.rows(
      sql,
      (conn) =>
        new Promise((resolve, reject) =>
          conn.all(sql, [...params], (err, rows) => (err ? reject(err) : resolve(rows as T[]))),
        ),
    );
  }

  /** Transactions waiting for the writer, run together when it is free (group commit). */
  private gathering: GroupMember[] | undefined;

  /**
   * Runs `fn` inside BEGIN IMMEDIATE … COMMIT, rolled back if it throws; nested calls join.
   *
   * Group commit: transactions that arrive while the writer is busy wait together and then run
   * one after another in one BEGIN … COMMIT, each inside a SAVEPOINT of its own: one that throws
   * is rolled back to its savepoint alone and rejected; the others resolve only once the shared
   * COMMIT is durable. With synchronous=FULL a commit costs a WAL fsync, so N waiting batches pay
   * one fsync instead of N. Each runs alone and in arrival order, so it sees exactly what it
   * would have seen run by itself after the ones before it.
   */
  transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.activeTx()) return fn();
    const tenant = this.scope.getStore()?.tenant;
    return new Promise<T>((resolve, reject) => {
      const member: GroupMember = { fn, tenant, resolve, reject };
      if (this.gathering && this.gathering.length < MAX_GROUP) {
        this.gathering.push(member);
        return;
      }
      const group = [member];
      this.gathering = group;
      void this.turn(async () => {
        if (this.gathering === group) this.gathering = undefined;
        await this.runGroup(group);
      });
    });
  }

  private async runGroup(group: GroupMember[]): Promise<void> {
    try {
      await this.rawExec('BEGIN IMMEDIATE');
    } catch (err) {
      for (const m of group) m.reject(err);
      return;
    }
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    let broken: unknown;
    for (const [i, m] of group.entries()) {
      const tx: SqliteTx = { active: true, tenant: m.tenant };
      const single = group.length === 1;
      try {
        if (!single) await this.rawExec(`SAVEPOINT g${i}`);
        const value = await this.scope.run({ tenant: m.tenant, tx }, m.fn);
        tx.active = false;
        if (!single) await this.rawExec(`RELEASE g${i}`);
        outcomes.push({ ok: true, value });
      } catch (error) {
        tx.active = false;
        outcomes.push({ ok: false, error });
        if (single) {
          broken = error;
          break;
        }
        try {
          // Undoes this member's writes only. If SQLite already rolled the whole transaction
          // back (a full disk, an I/O error), the savepoint is gone: the group fails as one.
          await this.rawExec(`ROLLBACK TO g${i}; RELEASE g${i}`);
        } catch (e) {
          broken = e;
          break;
        }
      }
    }
    if (broken === undefined) {
      try {
        await this.rawExec('COMMIT');
      } catch (err) {
        broken = err;
      }
    }
    if (broken !== undefined) {
      await this.rawExec('ROLLBACK').catch(() => undefined);
      // Nothing of the group is stored: each member fails with its own error, or with the one
      // that broke the group.
      for (const [i, m] of group.entries()) {
        const o = outcomes[i];
        m.reject(o && !o.ok ? o.error : broken);
      }
      return;
    }
    for (const [i, m] of group.entries()) {
      const o = outcomes[i]!;
      if (o.ok) m.resolve(o.value);
      else m.reject(o.error);
    }
  }

  withTenant<T>(tenantId: string, fn: () => Promise<T>): Promise<T> {
    assertTenantId(tenantId);
    const s = this.scope.getStore();
    assertSameTenant(s?.tenant, tenantId);
    const tx = this.activeTx();
    if (tx) {
      assertSameTenant(tx.tenant, tenantId);
      tx.tenant = tenantId;
    }
    return this.scope.run({ tenant: tenantId, tx }, fn);
  }

  withTenantStatement<T>(tenantId: string, fn: () => Promise<T>): Promise<T> {
    return this.withTenant(tenantId, fn);
  }

  bindTenant<T>(tenantId: string, fn: () => T): T {
    assertTenantId(tenantId);
    const s = this.scope.getStore();
    assertSameTenant(s?.tenant, tenantId);
    return this.scope.run({ ...s, tenant: tenantId }, fn);
  }

  close(): Promise<void> {
    const closeConn = (conn: sqlite3.Database) =>
      new Promise<void>((resolve, reject) => conn.close((err) => (err ? reject(err) : resolve())));
    return this.turn(async () => {
      await closeConn(this.reader);
      await closeConn(this.db);
    });
  }
}
