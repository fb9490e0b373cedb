import sqlite3 from 'sqlite3';

export type SqlParam = string | number | bigint | Buffer | Uint8Array | null;

/**
 * One SQLite connection with a promise face. Write transactions are serialized through an
 * in-process queue so two requests never interleave statements inside one transaction.
 */
export class SqliteDb {
  private tail: Promise<unknown> = Promise.resolve();
  private constructor(private readonly db: sqlite3.Database) {}

  static async open(file: string): Promise<SqliteDb> {
    const db = await new Promise<sqlite3.Database>((resolve, reject) => {
      const d = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(d)));
    });
    const s = new SqliteDb(db);
    await s.exec(
      'PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;',
    );
    return s;
  }

  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => this.db.exec(sql, (err) => (err ? reject(err) : resolve())));
  }

  run(sql: string, params: SqlParam[] = []): Promise<{ changes: number }> {
    return new Promise((resolve, reject) => {
      this.db.run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
        if (err) reject(err);
        else resolve({ changes: this.changes });
      });
    });
  }

  get<T>(sql: string, params: SqlParam[] = []): Promise<T | undefined> {
    return new Promise((resolve, reject) =>
      this.db.get(sql, params, (err, row) => (err ? reject(err) : resolve(row as T | undefined))),
    );
  }

  all<T>(sql: string, params: SqlParam[] = []): Promise<T[]> {
    return new Promise((resolve, reject) =>
      this.db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[]))),
    );
  }

  /** Runs `fn` inside BEGIN IMMEDIATE … COMMIT, rolled back if it throws. */
  transaction<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(async () => {
      await this.exec('BEGIN IMMEDIATE');
      try {
        const r = await fn();
        await this.exec('COMMIT');
        return r;
      } catch (err) {
        await this.exec('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
    this.tail = next.catch(() => undefined);
    return next;
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())));
  }
}
