import sqlite3 from 'sqlite3';

export type SqlParam = string | number | bigint | Buffer | Uint8Array | null;

/**
 * A statement compiled once and run many times: no parse, and no finalize on the main thread
 * (which waits for the connection's mutex while another statement or a COMMIT holds it).
 * Runs of different prepared statements are not ordered with respect to each other or to the
 * connection's other calls: start them only inside a transaction that is already open, and wait
 * for all of them before COMMIT.
 */
export class PreparedStatement {
  constructor(private readonly stmt: sqlite3.Statement) {}

  run(params: SqlParam[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stmt.run(params, (err: Error | null) => (err ? reject(err) : resolve()));
    });
  }

  /** Every row (the statement runs to its end, so it holds no read snapshot afterwards). */
  all<T>(params: SqlParam[]): Promise<T[]> {
    return new Promise((resolve, reject) => {
      this.stmt.all(params, (err: Error | null, rows: unknown[]) =>
        err ? reject(err) : resolve(rows as T[]),
      );
    });
  }

  finalize(): Promise<void> {
    return new Promise((resolve) => this.stmt.finalize(() => resolve()));
  }
}

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

  /** Compiles `sql` once; see PreparedStatement. Finalize it before closing the connection. */
  prepare(sql: string): Promise<PreparedStatement> {
    return new Promise((resolve, reject) => {
      const stmt = this.db.prepare(sql, (err: Error | null) =>
        err ? reject(err) : resolve(new PreparedStatement(stmt)),
      );
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

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())));
  }
}
