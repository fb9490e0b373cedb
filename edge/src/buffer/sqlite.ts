import sqlite3 from 'sqlite3';

export type SqlParam = string | number | bigint | Buffer | Uint8Array | null;

/** A small promise face on one sqlite3 connection. Statements on it run in order. */
export class SqliteConnection {
  private constructor(private readonly db: sqlite3.Database) {}

  static open(file: string, mode = sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE): Promise<SqliteConnection> {
    return new Promise((resolve, reject) => {
      const db = new sqlite3.Database(file, mode, (err) =>
        err ? reject(err) : resolve(new SqliteConnection(db)),
      );
    });
  }

  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => this.db.exec(sql, (err) => (err ? reject(err) : resolve())));
  }

  run(sql: string, params: SqlParam[] = []): Promise<{ changes: number; lastID: number }> {
    return new Promise((resolve, reject) => {
      this.db.run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
        if (err) reject(err);
        else resolve({ changes: this.changes, lastID: this.lastID });
      });
    });
  }

  /**
   * Queues several statements in order at once, so SQLite's thread runs them back to back while
   * the caller's thread does other work. Resolves when all are done; rejects with the first error
   * (the later ones still ran: use it inside a transaction and roll back on error).
   */
  async runAll(statements: { sql: string; params?: SqlParam[] }[]): Promise<void> {
    const results: Promise<unknown>[] = [];
    this.db.serialize(() => {
      for (const st of statements) results.push(this.run(st.sql, st.params));
    });
    const settled = await Promise.allSettled(results);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
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

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())));
  }
}
