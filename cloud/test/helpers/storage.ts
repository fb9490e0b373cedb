import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { beforeAll, beforeEach } from 'vitest';
import { migratePostgres, migrateSqlite } from '../../src/platform/db/migrations.js';
import { toPgPlaceholders, type SqlParam } from '../../src/platform/db/db.js';
import { SqliteDb } from '../../src/platform/db/sqlite.js';

/** The suites that must pass on every storage backend run once per entry. */
export const BACKENDS = ['sqlite', 'postgres'] as const;
export type Backend = (typeof BACKENDS)[number];

/**
 * The machine's PostgreSQL (CI starts it): trust auth on loopback, superuser `postgres`, an
 * existing database `test` to connect to while creating the others. Not reachable means the
 * PostgreSQL tests fail; they never skip.
 */
export const PG_ADMIN_URL =
  process.env.RIGTRACE_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestStorage {
  backend: Backend;
  dataDir: string;
  /** Set for PostgreSQL: a database of this run's own. */
  databaseUrl?: string;
  /** A role of this run's own, so parallel test files never share one (roles are per cluster). */
  dbAppRole?: string;
  /** Config overrides for loadCloudConfig. */
  overrides: Record<string, string>;
  /** Environment for a child process (the CLI). */
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${PG_ADMIN_URL} (${(err as Error).message}); the PostgreSQL tests need it`,
    );
  }
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A fresh database rt_test_<random> (and app role), dropped again by `drop`. */
export async function createTestDatabase(): Promise<{
  url: string;
  name: string;
  appRole: string;
  drop(): Promise<void>;
}> {
  const name = `rt_test_${randomBytes(6).toString('hex')}`;
  const appRole = `${name}_app`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    appRole,
    drop: () =>
      admin(async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.query(`DROP ROLE IF EXISTS ${appRole}`);
      }),
  };
}

export async function testStorage(backend: Backend): Promise<TestStorage> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `rt-cloud-${backend}-`));
  if (backend === 'sqlite') {
    return { backend, dataDir, overrides: { dataDir }, env: {}, cleanup: () => Promise.resolve() };
  }
  const db = await createTestDatabase();
  return {
    backend,
    dataDir,
    databaseUrl: db.url,
    dbAppRole: db.appRole,
    overrides: { dataDir, databaseUrl: db.url, dbAppRole: db.appRole },
    env: { DATABASE_URL: db.url, RIGTRACE_DB_APP_ROLE: db.appRole },
    cleanup: () => db.drop(),
  };
}

/** Runs a query as the owner (superuser here), bypassing row-level security: the test's view of the truth. */
export async function asOwner<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

/**
 * Runs one statement (`?` placeholders) as the owner on the storage's database with no cloud
 * open on it, on either backend: how a migration test writes the data of an older version and
 * reads the truth. Returns the rows (none for a statement that returns none).
 */
export async function runAsOwner(
  storage: TestStorage,
  sql: string,
  params: readonly SqlParam[] = [],
): Promise<unknown[]> {
  if (storage.backend === 'postgres')
    return asOwner(storage.databaseUrl!, toPgPlaceholders(sql, params.length), [...params]);
  const db = await SqliteDb.open(path.join(storage.dataDir, 'cloud.sqlite'));
  try {
    return await db.all(sql, params);
  } finally {
    await db.close();
  }
}

/**
 * Runs the migrations not yet applied to the storage's database (with no cloud open on it), as
 * a start would: how a migration test re-applies the version it rolled back. Returns how many ran.
 */
export async function migrateAgain(storage: TestStorage): Promise<number> {
  if (storage.backend === 'postgres') return migratePostgres(storage.databaseUrl!, storage.dbAppRole);
  const db = await SqliteDb.open(path.join(storage.dataDir, 'cloud.sqlite'));
  try {
    return await migrateSqlite(db);
  } finally {
    await db.close();
  }
}

/**
 * beforeAll whose failure fails every test of the suite, each with the cause (a failing
 * beforeAll alone would report the suite's tests as skipped): PostgreSQL being down must show
 * as failures, never as skips. `timeoutMs`: for a setup longer than the runner's hook timeout.
 */
export function setupOrFailEach(setup: () => Promise<void>, timeoutMs?: number): void {
  let failure: { error: unknown } | undefined;
  beforeAll(async () => {
    try {
      await setup();
    } catch (error) {
      failure = { error };
    }
  }, timeoutMs);
  beforeEach(() => {
    if (failure) throw failure.error;
  });
}
