import pg from 'pg';
import { DEFAULT_APP_ROLE, pgConnectionConfig, ROLE_NAME } from './postgres.js';
import { toPgPlaceholders } from './db.js';
import { APP_FUNCTIONS, APP_PRIVILEGES, MIGRATIONS } from './migrations/index.js';
import type { MigrationParams } from './migrations/migration.js';
import type { SqliteDb } from './sqlite.js';

export { APP_FUNCTIONS, APP_PRIVILEGES, MIGRATIONS } from './migrations/index.js';
export type { Migration, MigrationSql, TableGrant } from './migrations/index.js';

/**
 * Applies the versioned schema migrations (one file per version in `migrations/`, listed in
 * `migrations/index.ts`) in order, each in its own transaction, the same list on both backends.
 */
export async function migrateSqlite(db: SqliteDb): Promise<number> {
  await db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
  );
  const done = new Set(
    (await db.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => r.version),
  );
  let applied = 0;
  for (const m of [...MIGRATIONS].sort((a, b) => a.version - b.version)) {
    if (done.has(m.version)) continue;
    await db.transaction(async () => {
      if (m.sqlite) await db.exec(m.sqlite);
      await m.data?.({
        all: (sql, params) => db.all(sql, params),
        run: async (sql, params) => void (await db.run(sql, params)),
      });
      await db.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        m.version,
        m.name,
        new Date().toISOString(),
      ]);
    });
    applied += 1;
  }
  return applied;
}

/** pg_advisory_lock key: "RigTrace migrations". Advisory locks are per database. */
const MIGRATION_LOCK = 0x52_54_6d_69_67;

/**
 * Applies pending migrations as the owner (the DATABASE_URL role), then makes sure the app role
 * exists and holds exactly APP_PRIVILEGES. Several cloud processes may start at once: a session
 * advisory lock lets one migrate while the others wait, then find nothing left to do.
 */
export async function migratePostgres(
  url: string,
  appRole = DEFAULT_APP_ROLE,
  opts: {
    /** The owner also serves the queries, switching to the app role: it must be a member. */
    ownerSwitchesRole?: boolean;
  } = {},
): Promise<number> {
  if (!ROLE_NAME.test(appRole)) throw new Error(`"${appRole}" is not a valid role name`);
  const client = new pg.Client(pgConnectionConfig(url, ['-c search_path=public', '-c TimeZone=UTC']));
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      const applied = await applyPostgres(client);
      // The current and next months' partitions of records and their derived rows (re-run daily).
      await client.query('SELECT rt_records_ahead(now())');
      await ensureAppRole(client, appRole, opts.ownerSwitchesRole ?? true);
      return applied;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    await client.end();
  }
}

/** Runs `fn` in a transaction on one client: COMMIT when it returns, ROLLBACK when it throws. */
export async function inTransaction(client: pg.Client, fn: () => Promise<void>): Promise<void> {
  await client.query('BEGIN');
  try {
    await fn();
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

async function applyPostgres(client: pg.Client): Promise<number> {
  await client.query(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)',
  );
  const done = new Set(
    (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map(
      (r) => r.version,
    ),
  );
  let applied = 0;
  for (const m of [...MIGRATIONS].sort((a, b) => a.version - b.version)) {
    if (done.has(m.version)) continue;
    await inTransaction(client, async () => {
      if (m.postgres) await client.query(m.postgres);
      await m.data?.({
        async all<T>(sql: string, params: MigrationParams = []) {
          return (await client.query(toPgPlaceholders(sql, params.length), [...params])).rows as T[];
        },
        run: async (sql, params = []) =>
          void (await client.query(toPgPlaceholders(sql, params.length), [...params])),
      });
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())', [
        m.version,
        m.name,
      ]);
    });
    applied += 1;
  }
  return applied;
}

async function ensureAppRole(client: pg.Client, appRole: string, ownerSwitchesRole: boolean): Promise<void> {
  const me = (
    await client.query<{ name: string; super: boolean }>(
      'SELECT current_user AS name, rolsuper AS super FROM pg_roles WHERE rolname = current_user',
    )
  ).rows[0];
  if (!me) throw new Error('cannot read the current role from pg_roles');
  if (me.name === appRole) {
    throw new Error(
      `DATABASE_URL logs in as "${appRole}", the app role itself: it must name the role that owns the schema`,
    );
  }
  const role = client.escapeIdentifier(appRole);
  const exists = (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [appRole])).rowCount;
  if (!exists) {
    try {
      // Roles are per cluster: another database's migration may be creating the same one now.
      await client.query(
        `DO $$ BEGIN CREATE ROLE ${role} NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`,
      );
    } catch (err) {
      throw new Error(
        `the app role "${appRole}" does not exist and "${me.name}" may not create it (${(err as Error).message}); ` +
          `create it once: CREATE ROLE ${role} NOLOGIN; GRANT ${role} TO ${client.escapeIdentifier(me.name)};`,
      );
    }
  }
  if (ownerSwitchesRole && !me.super) {
    const member = await client.query<{ m: boolean }>("SELECT pg_has_role(current_user, $1, 'MEMBER') AS m", [
      appRole,
    ]);
    if (!member.rows[0]?.m) await client.query(`GRANT ${role} TO CURRENT_USER`);
  }
  const tables = APP_PRIVILEGES.map((p) => p.table).join(', ');
  await inTransaction(client, async () => {
    await client.query(`REVOKE ALL ON TABLE ${tables}, schema_migrations FROM ${role}`);
    for (const p of APP_PRIVILEGES)
      await client.query(`GRANT ${p.privileges} ON TABLE ${p.table} TO ${role}`);
    await client.query(`GRANT EXECUTE ON FUNCTION ${APP_FUNCTIONS.join(', ')} TO ${role}`);
  });
}
