import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sqlite3 from 'sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SqliteDb } from './sqlite.js';

/** A real SQLite file in a temporary folder. */
async function open(): Promise<SqliteDb> {
  const db = await SqliteDb.open(path.join(mkdtempSync(path.join(os.tmpdir(), 'rt-sqlite-')), 'db.sqlite'));
  await db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
  return db;
}

describe('SQLite group commit', () => {
  afterEach(() => vi.restoreAllMocks());

  it('commits the transactions that waited together in one COMMIT, rolling back only the one that failed', async () => {
    const db = await open();
    const execs: string[] = [];
    const { exec } = sqlite3.Database.prototype as { exec: (sql: string, cb?: unknown) => unknown };
    vi.spyOn(sqlite3.Database.prototype, 'exec').mockImplementation(function (
      this: sqlite3.Database,
      sql: string,
      cb?: (err: Error | null) => void,
    ) {
      execs.push(sql);
      exec.call(this, sql, cb);
      return this;
    });
    // The first holds the writer until released; the next five arrive meanwhile and wait.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const first = db.transaction(async () => {
      await db.run('INSERT INTO t VALUES (?, ?)', ['first', 0]);
      await held;
    });
    await new Promise((r) => setTimeout(r, 20));
    const waiting = [1, 2, 3, 4, 5].map((i) =>
      db.transaction(async () => {
        await db.run('INSERT INTO t VALUES (?, ?)', [`k${i}`, i]);
        // The third writes, then fails: its write is undone, the others' are kept.
        if (i === 3) throw new Error('member 3 fails');
        return i;
      }),
    );
    release();
    await first;
    const settled = await Promise.allSettled(waiting);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual([
      1,
      2,
      'member 3 fails',
      4,
      5,
    ]);
    const rows = await db.all<{ k: string }>('SELECT k FROM t ORDER BY k');
    expect(rows.map((r) => r.k)).toEqual(['first', 'k1', 'k2', 'k4', 'k5']);
    // Two commits: the first transaction alone, then the five that waited.
    expect(execs.filter((s) => s === 'COMMIT')).toHaveLength(2);
    await db.close();
  });

  it('a transaction alone is rolled back whole when it throws', async () => {
    const db = await open();
    await expect(
      db.transaction(async () => {
        await db.run('INSERT INTO t VALUES (?, ?)', ['a', 1]);
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(await db.all('SELECT * FROM t')).toEqual([]);
    // The writer is free again.
    await db.transaction(() => db.run('INSERT INTO t VALUES (?, ?)', ['b', 2]));
    expect(await db.all<{ k: string }>('SELECT k FROM t')).toEqual([{ k: 'b' }]);
    await db.close();
  });
});
