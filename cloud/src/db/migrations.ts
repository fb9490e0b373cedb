import type { SqliteDb } from './sqlite.js';

/**
 * Versioned schema migrations, applied in order, each in its own transaction. Never edit a
 * released migration: add a new one. Every tenant-owned table leads its key with tenant_id.
 */
export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'tenancy, edges, records, checkpoints',
    sql: `
CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE sites (
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE TABLE enrollment_tokens (
  token_hash TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  site_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  used_at TEXT,
  used_by_edge TEXT,
  FOREIGN KEY (tenant_id, site_id) REFERENCES sites(tenant_id, id)
);
CREATE TABLE api_tokens (
  token_hash TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  name TEXT NOT NULL,
  created_at TEXT NOT NULL,
  revoked_at TEXT
);
CREATE TABLE edges (
  tenant_id TEXT NOT NULL,
  id TEXT NOT NULL UNIQUE,
  site_id TEXT NOT NULL,
  name TEXT NOT NULL,
  public_key BLOB NOT NULL,
  enrolled_at TEXT NOT NULL,
  log_size INTEGER NOT NULL DEFAULT 0,
  log_root BLOB,
  log_range TEXT NOT NULL DEFAULT '{"size":0,"hashes":[]}',
  last_checkpoint TEXT,
  last_contact_at TEXT,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, site_id) REFERENCES sites(tenant_id, id)
);
CREATE TABLE records (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  id TEXT NOT NULL,
  kind TEXT NOT NULL,
  equipment TEXT NOT NULL,
  observed_at TEXT NOT NULL,
  json TEXT NOT NULL,
  leaf_hash BLOB NOT NULL,
  ingested_at TEXT NOT NULL,
  replayed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, edge_id, seq)
);
CREATE INDEX records_by_equipment ON records (tenant_id, equipment, observed_at);
CREATE INDEX records_by_kind ON records (tenant_id, kind, observed_at);
CREATE TABLE checkpoints (
  tenant_id TEXT NOT NULL,
  edge_id TEXT NOT NULL,
  size INTEGER NOT NULL,
  root BLOB NOT NULL,
  note TEXT NOT NULL,
  cosigned_note TEXT NOT NULL,
  accepted_at TEXT NOT NULL,
  PRIMARY KEY (tenant_id, edge_id, size)
);
CREATE TABLE security_events (
  tenant_id TEXT,
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  code TEXT NOT NULL,
  edge_id TEXT,
  address TEXT,
  detail TEXT NOT NULL
);
CREATE INDEX security_events_by_tenant ON security_events (tenant_id, at);
`,
  },
];

export async function migrate(db: SqliteDb): Promise<number> {
  await db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
  );
  const done = new Set(
    (await db.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => r.version),
  );
  let applied = 0;
  for (const m of MIGRATIONS) {
    if (done.has(m.version)) continue;
    await db.transaction(async () => {
      await db.exec(m.sql);
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
